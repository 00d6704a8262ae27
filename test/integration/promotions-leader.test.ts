// Two `capstan server` processes with install.yaml's arguments (`--promotions` among them) on the real
// API server (with the server's least-privilege identity, on one Store): one of them holds the Lease
// capstan-promotions and drives; a promotion asked on the other replica's API is committed once, by the
// leader (the API writes the Environment's status, the leader's watch hears it), and Verified once its
// Application, synced by a real agent process, is Healthy on the commit. The leader killed (SIGKILL: no
// release), the other takes the Lease over and commits the next promotion.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { openSqliteStore } from '../../src/adapters/store/sqlite-store.ts';
import { APPLICATION_API_VERSION } from '../../src/contracts/application.ts';
import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND } from '../../src/contracts/environment.ts';
import { PROMOTIONS_LEASE, SERVER_NAME } from '../../src/contracts/install-server.ts';
import { installManifests } from '../../src/contracts/install.ts';
import { freePort } from '../../src/devcluster/ports.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { PromotionRecord, Store } from '../../src/ports/store.ts';
import { startAgentProcess } from '../../src/testing/agent-process.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  installEnvironmentCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  untilApplicationsGone,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { CLI } from '../../src/testing/cli.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { adminHeaders, serverIdentity } from '../../src/testing/server.ts';

const git = await startGitServer(after);
const exec = promisify(execFile);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-promotions-leader-'));
const IMAGE_ONE = `127.0.0.1:5000/capstan/hello@sha256:${'4'.repeat(64)}`;
const LABEL_KEY = 'capstan.dev/test-promotions-leader';
const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 1
  selector:
    matchLabels: { app: hello }
  template:
    metadata:
      labels: { app: hello }
    spec:
      containers:
        - name: web
          image: hello
`;
const IMAGE_TWO = `127.0.0.1:5000/capstan/hello@sha256:${'5'.repeat(64)}`;
let admin: KubeCluster;
let kube: KubeClients;
let envType: ResourceType;
let appType: ResourceType;
let agentIdentity: string;
let store: Store;

interface Replica {
  readonly base: string;
  readonly pid: number;
  readonly output: () => string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  agentIdentity = await agentKubeconfig(cluster);
  await installProjectCrd(admin);
  envType = await installEnvironmentCrd(admin);
  store = openSqliteStore({ path: join(scratch, 'store.db') });
});

after(async () => {
  await store.close();
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

/**
 * The arguments install.yaml's server Deployment gives `capstan server`, on this machine: its database
 * and port here, without `--pipeline-image` (runs are not this test's).
 */
function installedServerArgs(database: string, port: number): string[] {
  const deployment = installManifests({ image: 'registry.invalid/capstan:1' }).find(
    (o) => o.kind === 'Deployment' && o.metadata.name === SERVER_NAME,
  );
  const spec = deployment?.['spec'] as { template: { spec: { containers: { args: string[] }[] } } };
  const args = [...(spec.template.spec.containers[0]?.args ?? [])];
  assert.ok(args.includes('--promotions'), `install.yaml's server drives promotions: ${args.join(' ')}`);
  const value = (flag: string, to: string | undefined) => {
    const at = args.indexOf(flag);
    assert.ok(at > 0, `install.yaml's server has ${flag}`);
    if (to === undefined) args.splice(at, 2);
    else args[at + 1] = to;
  };
  value('--database', database);
  value('--port', String(port));
  value('--pipeline-image', undefined);
  return args;
}

/** `capstan server` as install.yaml runs it, listening on loopback (http git allowed: the test's). */
async function startReplica(kubeconfig: string, namespace: string): Promise<Replica> {
  const port = await freePort();
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      CLI,
      ...installedServerArgs(join(scratch, 'store.db'), port),
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--promotions-allow-http',
      '--bind-address',
      '127.0.0.1',
    ],
    { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: scratch } },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`capstan server exited: ${output}`);
      return output.includes('capstan server listening');
    },
    { timeoutMs: 60_000, what: `capstan server on port ${String(port)} listening` },
  );
  return {
    base: `http://127.0.0.1:${String(port)}`,
    pid: child.pid ?? 0,
    output: () => output,
    kill: async (signal) => {
      child.kill(signal);
      await exited;
    },
  };
}

/** The replica whose identity holds the Lease now (undefined: none of them). */
async function holder(home: string, replicas: readonly Replica[]): Promise<Replica | undefined> {
  const type = await admin.resourceType('coordination.k8s.io/v1', 'Lease');
  assert.ok(type);
  const lease = await admin.get(type, home, PROMOTIONS_LEASE);
  const holding = (lease?.['spec'] as { holderIdentity?: string } | undefined)?.holderIdentity;
  return replicas.find((r) => holding === `${hostname()}-${String(r.pid)}`);
}

describe('two replicas driving promotions', () => {
  it('drive one at a time: the Lease holder commits once; killed, the other takes over', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const home = await freshNamespace(
      {
        name: 'promotions-leader-server',
        after: (fn) => {
          t.after(fn);
        },
      },
      kube,
    );
    const repo = `promotions-leader-${namespace}`;
    const kustomization = 'resources: []\nimages:\n  - name: hello\n    newTag: "0"\n';
    await git.createRepository(repo, {
      files: {
        'dev/kustomization.yaml': kustomization.replace('[]', '[deployment.yaml]'),
        'dev/deployment.yaml': DEPLOYMENT,
        'qa/kustomization.yaml': kustomization,
      },
    });
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    for (const name of ['dev', 'qa'])
      await admin.apply(
        envType,
        {
          apiVersion: ENVIRONMENT_API_VERSION,
          kind: ENVIRONMENT_KIND,
          metadata: { name, namespace },
          spec: {
            application: `hello-${name}`,
            config: {
              repoURL: git.url(repo),
              file: `${name}/kustomization.yaml`,
              kustomizeImage: 'hello',
              credentials: { secretRef: { name: 'git' } },
              insecureHttp: true,
            },
            gates: { healthyFor: '1s' },
          },
        },
        { fieldManager: 'capstan-test' },
      );
    // dev's Application, synced by a real agent process (kwok makes its Deployment available).
    const cleanups: (() => Promise<void>)[] = [];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });
    const label = `promotions-leader-${String(process.pid)}`;
    const agent = await startAgentProcess((fn) => cleanups.push(fn), {
      kubeconfig: agentIdentity,
      selector: `${LABEL_KEY}=${label}`,
    });
    await agent.started();
    // Before the agent stops (cleanups run in reverse): its finalizers would keep the Application.
    cleanups.push(() => untilApplicationsGone(admin, appType, `${LABEL_KEY}=${label}`));
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: 'Application',
        metadata: { name: 'hello-dev', namespace, labels: { [LABEL_KEY]: label } },
        spec: {
          source: { repoURL: git.url(repo), path: 'dev', insecureHttp: true, secretRef: { name: 'git' } },
          syncPolicy: { automated: { prune: true } },
          interval: '2s',
        },
      },
      { fieldManager: 'capstan-test' },
    );
    const kubeconfig = await serverIdentity(admin, home);
    const a = await startReplica(kubeconfig, home);
    const b = await startReplica(kubeconfig, home);
    const leader = await eventually(async () => (await holder(home, [a, b])) ?? false, {
      what: 'one replica holds the Lease',
    });
    const other = leader === a ? b : a;
    await eventually(() => leader.output().includes('promotions driven here'), { what: 'the leader drives' });

    // A promotion asked on the replica that does not lead: committed once, by the leader.
    const promote = async (replica: Replica, env: string, image: string): Promise<string> => {
      const headers = await adminHeaders(admin, replica.base, home);
      const response = await fetch(`${replica.base}/api/v1/environments/${namespace}/${env}/promote`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ image }),
      });
      const body = (await response.json()) as { id: string };
      assert.equal(response.status, 201, JSON.stringify(body));
      return body.id;
    };
    const committed = (id: string) =>
      eventually(
        async () => {
          const record = await store.promotions.get(id);
          return record?.state === 'Committed' ? record : false;
        },
        { what: `promotion ${id} committed`, timeoutMs: 120_000 },
      );
    const commitsNaming = async (id: string) =>
      (
        await exec('git', [
          '--git-dir',
          join(git.root, 'repos', `${repo}.git`),
          'log',
          '--format=%H',
          `--grep=Capstan-Promotion: ${id}`,
          'main',
        ])
      ).stdout
        .trim()
        .split('\n')
        .filter((line) => line !== '');
    const first: PromotionRecord = await committed(await promote(other, 'dev', IMAGE_ONE));
    assert.deepEqual(await commitsNaming(first.id), [first.commit], 'one commit for the promotion');
    assert.doesNotMatch(other.output(), /promotions driven here/, 'the other replica only waits');
    // The Application syncs the commit and turns Healthy: the installed server verifies it.
    const verified = await eventually(
      async () => {
        const record = await store.promotions.get(first.id);
        assert.notEqual(record?.state, 'Failed', JSON.stringify(record));
        return record?.state === 'Verified' ? record : false;
      },
      { what: `promotion ${first.id} verified`, timeoutMs: 180_000 },
    );
    assert.equal(verified.commit, first.commit);

    // The leader dies without releasing the Lease: the other takes it when it expires, and drives.
    await leader.kill('SIGKILL');
    await eventually(async () => (await holder(home, [a, b])) === other, {
      what: 'the other replica holds the Lease',
      timeoutMs: 120_000,
    });
    await eventually(() => other.output().includes('promotions driven here'), {
      what: 'the other replica drives',
    });
    const second = await committed(await promote(other, 'qa', IMAGE_TWO));
    assert.deepEqual(await commitsNaming(second.id), [second.commit]);
    assert.equal((await store.promotions.get(first.id))?.state, 'Verified', 'the first one stays Verified');
  });
});
