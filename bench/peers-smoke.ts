// Smoke check of bench/peers.ts: runs one peer against a local cluster and shows that it applies a
// ConfigMap from a plain-YAML folder served by the local git server. Not a benchmark (no timings kept).
// Usage: node bench/peers-smoke.ts --peer flux|argocd [--apps 2] [--scale N] [--cluster capstan-peers] [--keep]
// --scale N starts the peer with the settings bench/scale.ts gives for N applications (by default for
// --apps), so that a few applications check the flags, layout and argocd-cm of a 1000-application run.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { attach, up } from '../src/devcluster/cluster.ts';
import { run } from '../src/devcluster/exec.ts';
import { GitServer } from '../src/devcluster/gitserver.ts';
import {
  applyObjects,
  argoCDObjects,
  destinationNamespaces,
  ensurePeers,
  fluxObjects,
  readyCount,
  startArgoCD,
  startFlux,
  type AppSetOptions,
  type PeerName,
  type RunningPeer,
} from './peers.ts';
import { describeScaleSettings, machineTmpfs, scaleSettings } from './scale.ts';

const { values } = parseArgs({
  options: {
    peer: { type: 'string', default: 'flux' },
    apps: { type: 'string', default: '2' },
    scale: { type: 'string' },
    cluster: { type: 'string', default: 'capstan-peers' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.peer !== 'flux' && values.peer !== 'argocd') throw new Error('--peer must be flux or argocd');
const peerName: PeerName = values.peer;
const count = Number(values.apps);
const scaleApps = Number(values.scale ?? values.apps);
if (!Number.isInteger(count) || count < 1)
  throw new Error(`--apps ${values.apps}: expected a whole number from 1`);
const scale = scaleSettings({ apps: scaleApps, tmpfs: machineTmpfs() });
const log = (line: string) => {
  console.error(`[peers-smoke ${new Date().toISOString().slice(11, 19)}] ${line}`);
};

const builds = await ensurePeers([peerName], { progress: log });
const peerDir = builds[peerName];
if (peerDir === undefined) {
  console.error(`${peerName} is not built (build-peers.sh exit ${builds.exitCode}):\n${builds.error ?? ''}`);
  process.exit(4);
}
const cluster =
  (await attach(values.cluster)) ??
  (await up({
    name: values.cluster,
    progress: (l) => {
      log(`[cluster] ${l}`);
    },
  }));
const target = { kubeconfig: cluster.adminKubeconfig, binDir: cluster.state.binDir };
const state = await mkdtemp(join(tmpdir(), `capstan-peers-${peerName}-`));
const git = await GitServer.start({ root: join(state, 'git') });
let running: RunningPeer | undefined;
// kustomize-controller's temporary folder on tmpfs, as bench/systems/peers.ts gives it.
const fluxTmp =
  peerName === 'flux' && scale.flux.tmpfs !== undefined
    ? await mkdtemp(join(scale.flux.tmpfs, 'capstan-peers-flux-'))
    : undefined;
try {
  const files: Record<string, string> = {};
  for (let i = 0; i < count; i++)
    files[`apps/app-${i}/configmap.yaml`] =
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  app: "app-${i}"\n`;
  const sha = await git.createRepository('bench', { files });
  log(`git ${git.url('bench')} at ${sha}`);

  const t0 = performance.now();
  log(`settings ${describeScaleSettings(scale)[peerName]}`);
  running =
    peerName === 'flux'
      ? await startFlux({
          peerDir,
          ...target,
          stateDir: state,
          sourceConcurrent: scale.flux.sourceConcurrent,
          kustomizeConcurrent: scale.flux.kustomizeConcurrent,
          requeueDependencySeconds: scale.flux.requeueDependencySeconds,
          ...(fluxTmp === undefined ? {} : { kustomizeTmpDir: fluxTmp }),
        })
      : await startArgoCD({
          peerDir,
          ...target,
          stateDir: state,
          statusProcessors: scale.argocd.statusProcessors,
          operationProcessors: scale.argocd.operationProcessors,
          repoParallelism: scale.argocd.repoParallelism,
        });
  log(
    `${peerName} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(running.endpoints)}`,
  );

  const apps: AppSetOptions = {
    count,
    repoUrl: git.url('bench'),
    username: git.username,
    password: git.password,
    intervalSeconds: 60,
    namespacePrefix: `smoke-${peerName}`,
    fluxLayout: scale.flux.layout,
  };
  await applyObjects(target, destinationNamespaces(apps));
  const t1 = performance.now();
  await applyObjects(target, peerName === 'flux' ? fluxObjects(apps) : argoCDObjects(apps));
  const deadline = Date.now() + 180_000;
  for (;;) {
    const { ready, total } = await readyCount(target, peerName, sha);
    if (ready === count) {
      log(`${ready}/${total} applications done in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
      break;
    }
    if (Date.now() > deadline)
      throw new Error(`only ${ready}/${total} ready after 180 s; logs in ${state}/logs`);
    await new Promise((r) => setTimeout(r, 500));
  }
  for (let i = 0; i < count; i++) {
    const { stdout } = await run(join(target.binDir, 'kubectl'), [
      '--kubeconfig',
      target.kubeconfig,
      'get',
      'configmap',
      'hello',
      '-n',
      `smoke-${peerName}-${i}`,
      '-o',
      'jsonpath={.data.app} {.metadata.managedFields[*].manager}',
    ]);
    log(`ConfigMap smoke-${peerName}-${i}/hello: ${stdout}`);
  }
} finally {
  if (values.keep) {
    log(`kept running; state and logs in ${state}`);
  } else {
    await running?.stop();
    await git.stop();
    await rm(state, { recursive: true, force: true });
    if (fluxTmp !== undefined) await rm(fluxTmp, { recursive: true, force: true });
  }
}
