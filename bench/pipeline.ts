// Push to image pushed, by stage, for the pipelines' sample application on the dev cluster's real node
// (issue #19): queue, Pod start, checkout, steps (its unit test), build and push (BuildKit in the
// cluster), with BuildKit's cache cold (pruned first) and warm (a new commit after a build).
// Measured from the moment the run is started after the commit is pushed: the bench starts the run itself
// (runPipeline), so no trigger's delay is in it; the same stages through the installed server, its poll
// included, are reported by test/integration/pipeline-server.node.test.ts (docs/benchmarks.md).
// Usage (root; the node tier's cluster, started if needed):
//   CAPSTAN_NODE_TEST_CLUSTER=capstan-node-bench node bench/pipeline.ts [--runs N] [--out FILE]
//   --runs   runs per cache state (default 1: a smoke run; the machine may be shared)
//   --out    also write the figures as JSON
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LocalCluster } from '../src/devcluster/cluster.ts';
import { run } from '../src/devcluster/exec.ts';
import { NODE_NETWORK, netnsName } from '../src/devcluster/node-config.ts';
import type { RunRecord, Store } from '../src/ports/store.ts';
import { closePipelineNodeSetup, pipelineNodeSetup, runSampleOnNode } from '../src/testing/pipeline-node.ts';
import { sampleApp } from '../src/testing/pipeline-sample.ts';
import { realNodeCluster } from '../src/testing/real-node.ts';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';

/** Seconds spent in each stage of one run. */
interface Stages {
  readonly cache: 'cold' | 'warm';
  readonly queue: number;
  readonly podStart: number;
  readonly checkout: number;
  readonly steps: number;
  readonly build: number;
  readonly push: number;
  readonly total: number;
}

const seconds = (from: string | undefined, to: string | undefined) =>
  from === undefined || to === undefined ? NaN : (Date.parse(to) - Date.parse(from)) / 1000;

/** The stages of a finished run, from its record (step times have the kubelet's 1 s resolution) and log. */
async function stagesOf(
  record: RunRecord,
  store: Store,
  started: Date,
  cache: Stages['cache'],
): Promise<Stages> {
  const step = (name: string) => record.steps.find((s) => s.name === name);
  const lines = await store.runs.logs(record.id, { step: 'image', limit: 100_000 });
  // BuildKit's plain progress ends each push with its duration: `#12 pushing layers 0.3s done`.
  const push = lines
    .map((l) => /pushing .* ([0-9.]+)s done$/.exec(l.line)?.[1])
    .reduce((sum, s) => sum + (s === undefined ? 0 : Number(s)), 0);
  const image = seconds(step('image')?.startedAt, step('image')?.finishedAt);
  return {
    cache,
    queue: seconds(record.queuedAt, record.startedAt),
    podStart: seconds(record.startedAt, step('checkout')?.startedAt),
    checkout: seconds(step('checkout')?.startedAt, step('checkout')?.finishedAt),
    steps: seconds(step('test')?.startedAt, step('test')?.finishedAt),
    build: Math.round((image - push) * 10) / 10,
    push: Math.round(push * 10) / 10,
    total: seconds(started.toISOString(), record.finishedAt),
  };
}

/** Empties BuildKit's cache (buildctl prune --all over mTLS, inside the node's network namespace). */
async function pruneBuildkit(cluster: LocalCluster, buildkitBinDir: string, client: Record<string, string>) {
  await run(
    'ip',
    [
      'netns',
      'exec',
      netnsName(cluster.name),
      join(buildkitBinDir, 'buildctl'),
      '--addr',
      `tcp://${NODE_NETWORK.nodeAddress}:1234`,
      '--tlsservername',
      client['serverName'] ?? '',
      '--tlscacert',
      client['ca'] ?? '',
      '--tlscert',
      client['cert'] ?? '',
      '--tlskey',
      client['key'] ?? '',
      'prune',
      '--all',
    ],
    { timeoutMs: 300_000 },
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '1' }, out: { type: 'string' } },
    strict: true,
  });
  const runs = Number(values.runs);
  const cluster = await realNodeCluster();
  const node = cluster.state.realNode;
  if (!node) throw new Error(`cluster ${cluster.name} has no real node`);
  const setup = await pipelineNodeSetup(cluster, `bench-pipeline-${randomBytes(3).toString('hex')}`);
  const { registry, nodeBase, buildkit, git, store } = setup;
  const pki = cluster.paths.pki;
  const client = {
    serverName: buildkit.serverName,
    ca: join(pki, 'ca.crt'),
    cert: join(pki, 'client-buildkit-step.crt'),
    key: join(pki, 'client-buildkit-step.key'),
  };
  const results: Stages[] = [];
  try {
    let version = 0;
    const once = async (cache: Stages['cache']) => {
      version += 1;
      const files = sampleApp({
        greeting: 'hello',
        nodeBase,
        registry: registry.address,
        repository: 'bench/hello',
        version: String(version),
      });
      const revision = await git.commit('hello', files, `version ${String(version)}`);
      const started = new Date();
      const record = await runSampleOnNode(setup, {
        revision,
        files,
        registrySecret: 'registry',
        triggeredBy: 'bench',
      });
      if (record.phase !== 'Succeeded')
        throw new Error(`run ${record.id} ${record.phase}: ${record.statusMessage ?? ''}`);
      const stages = await stagesOf(record, store, started, cache);
      results.push(stages);
      process.stdout.write(`${JSON.stringify(stages)}\n`);
    };
    for (let i = 0; i < runs; i += 1) {
      await pruneBuildkit(cluster, node.buildkitBinDir, client);
      await once('cold');
      await once('warm');
    }
  } finally {
    await closePipelineNodeSetup(setup);
  }
  if (values.out !== undefined) await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
  return 0;
}

exitWithUsageOnHelp(import.meta.filename);
process.exitCode = await main();
