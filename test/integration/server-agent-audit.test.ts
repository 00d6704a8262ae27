// The agent's syncs that finish while no `capstan server` runs reach the audit trail when one starts:
// the real agent syncs an Application from a real git server while the server is stopped; the server,
// started, records that sync once; restarted (two servers at once on the same database) after another
// sync, it records the new one and the first still once.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import { runServer } from '../../src/main/server.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { AuditEntry } from '../../src/ports/store.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  untilApplicationsGone,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { adminSession, initialAdminPassword, serverIdentity } from '../../src/testing/server.ts';

const git = await startGitServer(after);
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let adminKubeconfig = '';
const stopAgent = new AbortController();
let agent: Promise<void> | undefined;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-agent-audit-'));
// This file's agent reconciles only this file's Applications: other test files run beside it.
const AGENT_LABEL = `capstan.dev/test-agent=${String(process.pid)}`;

before(async () => {
  const cluster = await testCluster();
  adminKubeconfig = cluster.adminKubeconfig;
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: adminKubeconfig }));
  kube = kubeClients(adminKubeconfig);
  appType = await installApplicationCrd(admin);
  await installProjectCrd(admin);
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      // Health and metrics on a free port: 8080 may be another process's (the default failed the agent).
      http: { host: '127.0.0.1', ports: [0] },
      concurrency: 2,
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'],
      log: () => undefined,
    },
    stopAgent.signal,
  );
});

after(async () => {
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stopAgent.abort();
  await agent;
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

interface RunningServer {
  readonly base: string;
  stop(): Promise<void>;
}

/**
 * `capstan server` with the install's identity, its SQLite trail in `database`, until stopped; stopped
 * after the test in any case, so that a failed assertion leaves no server running in the test file's
 * process (its ServiceAccount gone with the test's namespaces, it retried for ever and the file never
 * ended).
 */
async function startServer(
  t: { after: (fn: () => Promise<void>) => void },
  home: string,
  database: string,
): Promise<RunningServer> {
  const kubeconfig = await serverIdentity(admin, home);
  const stop = new AbortController();
  let running: Promise<void> | undefined;
  const base = await new Promise<string>((resolve, reject) => {
    running = runServer(
      {
        kubeconfig,
        namespace: home,
        database,
        host: '127.0.0.1',
        port: 0,
        log: () => undefined,
        onListening: resolve,
      },
      stop.signal,
    );
    running.catch(reject);
  });
  const halt = async () => {
    stop.abort();
    await running;
  };
  t.after(halt);
  return { base, stop: halt };
}

/** The agent's entries for the Application in the trail, through the API as the admin reads it. */
async function agentEntries(server: RunningServer, home: string, target: string): Promise<AuditEntry[]> {
  const { cookie } = await adminSession(server.base, await initialAdminPassword(admin, home));
  const query = new URLSearchParams({ actor: 'agent', target, limit: '100' });
  const answer = await fetch(`${server.base}/api/v1/audit?${query.toString()}`, { headers: { cookie } });
  assert.equal(answer.status, 200);
  return ((await answer.json()) as { items: AuditEntry[] }).items;
}

const historyIds = (entries: readonly AuditEntry[]) =>
  entries.map((e) => Number(e.changes?.['historyId'])).sort((a, b) => a - b);

describe('capstan server: the agent’s syncs while no server ran', () => {
  it('records them when it starts, each once, across restarts and two servers on one database', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const home = await freshNamespace(t, kube);
    const database = join(scratch, `${home}.db`);
    const repo = `agent-audit-${namespace}`;
    await git.createRepository(repo, {
      files: { 'app/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  level: "1"\n' },
    });
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: 'Application',
        metadata: { name: 'web', namespace, labels: { 'capstan.dev/test-agent': String(process.pid) } },
        spec: {
          source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
          interval: '1h',
        },
      },
      { fieldManager: 'capstan-test' },
    );
    t.after(async () => {
      await admin.delete(appType, namespace, 'web').catch(() => undefined);
      await eventually(async () => (await admin.get(appType, namespace, 'web')) === undefined, {
        what: 'the Application deleted by its agent',
        timeoutMs: 60_000,
      });
    });
    const target = `Application/${namespace}/web`;
    const sync = async () => {
      const done = await runCapstan([
        'app',
        'sync',
        'web',
        '-n',
        namespace,
        '--kubeconfig',
        adminKubeconfig,
        '--timeout',
        '90s',
      ]);
      assert.equal(done.code, 0, done.stderr);
    };
    const history = async () =>
      ((await admin.get(appType, namespace, 'web')) as unknown as Application).status?.history ?? [];

    // The server starts once (its initial admin, its Secret), then stops; the agent syncs meanwhile.
    await (await startServer(t, home, database)).stop();
    await sync();
    const synced = await history();
    assert.equal(synced.length, 1, 'one sync in the history');

    const first = await startServer(t, home, database);
    await eventually(async () => (await agentEntries(first, home, target)).length > 0, {
      what: 'the sync finished while no server ran, in the trail',
      timeoutMs: 60_000,
    });
    const recorded = await agentEntries(first, home, target);
    assert.deepEqual(historyIds(recorded), [1]);
    assert.equal(recorded[0]?.action, 'application.sync');
    assert.equal(recorded[0].result, 'success');
    assert.equal(recorded[0].changes?.['revision'], synced[0]?.revision);
    assert.equal(recorded[0].changes?.['recordedLate'], true);
    await first.stop();

    // Another sync while stopped; then two servers start at once on the same database.
    await sync();
    assert.equal((await history()).length, 2);
    const [one, two] = await Promise.all([startServer(t, home, database), startServer(t, home, database)]);
    await eventually(async () => historyIds(await agentEntries(one, home, target)).includes(2), {
      what: 'the second sync in the trail',
      timeoutMs: 60_000,
    });
    await eventually(async () => historyIds(await agentEntries(two, home, target)).includes(2), {
      what: 'the second sync seen by the other server',
      timeoutMs: 60_000,
    });
    assert.deepEqual(historyIds(await agentEntries(two, home, target)), [1, 2], 'each sync once');
    await Promise.all([one.stop(), two.stop()]);
  });
});
