// The README's main job, as a new user runs it: `capstan demo up` leaves the sample applications Synced
// and Healthy, with the Environments dev and staging the server lists, and prints where to look;
// `capstan demo down` leaves nothing running; a second `demo up` prints the same admin password, which
// logs in (the server's store outlives the cluster's etcd, the Secret that held it does not);
// `demo down --purge` removes the demo's folder and its stopped cluster's.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pidAlive, runCapstan } from '../../src/testing/cli.ts';

const capstan = (env: NodeJS.ProcessEnv, ...args: string[]) => runCapstan(args, env);
const alive = pidAlive;

describe('capstan demo', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'capstan-demo-'));
  const env = { CAPSTAN_STATE_DIR: stateDir };
  after(async () => {
    await capstan(env, 'demo', 'down');
    await rm(stateDir, { recursive: true, force: true });
  });

  it('brings up the control plane, git server, agent and sample applications, then stops them all', async () => {
    const up = await capstan(env, 'demo', 'up', '-o', 'json');
    assert.equal(up.code, 0, up.stderr);
    const summary = JSON.parse(up.stdout) as {
      applications: { name: string; sync: string; health: string }[];
      agentUrl: string;
      gitUrl: string;
      serverUrl: string;
      serverUser: string;
      serverPassword: string;
    };
    assert.deepEqual(summary.applications.map((a) => `${a.name}:${a.sync}:${a.health}`).sort(), [
      'guestbook:Synced:Healthy',
      'hello-helm:Synced:Healthy',
      'hello-kustomize:Synced:Healthy',
    ]);
    assert.equal((await fetch(`${summary.agentUrl}/healthz`)).status, 200);
    assert.match(up.stderr, /starting the agent/);
    // The API server: ready, and the printed user and password log in and see the sample applications.
    assert.equal((await fetch(`${summary.serverUrl}/readyz`)).status, 200);
    const login = await fetch(`${summary.serverUrl}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: summary.serverUser, password: summary.serverPassword }),
    });
    assert.equal(login.status, 200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const listed = (await (
      await fetch(`${summary.serverUrl}/api/v1/applications`, { headers: { cookie } })
    ).json()) as { items: { name: string }[] };
    assert.deepEqual(listed.items.map((a) => a.name).sort(), ['guestbook', 'hello-helm', 'hello-kustomize']);
    // The road to production: dev (hello-kustomize), then staging (hello-helm, following dev, approval).
    const environments = (await (
      await fetch(`${summary.serverUrl}/api/v1/environments`, { headers: { cookie } })
    ).json()) as {
      items: { name: string; application: string; fromEnvironment?: string; approvalRequired: boolean }[];
    };
    assert.deepEqual(
      environments.items
        .map((e) => `${e.name}:${e.application}:${e.fromEnvironment ?? '-'}:${String(e.approvalRequired)}`)
        .sort(),
      ['dev:hello-kustomize:-:false', 'staging:hello-helm:dev:true'],
    );

    const state = JSON.parse(await readFile(join(stateDir, 'demo', 'state.json'), 'utf8')) as {
      agent: { pid: number };
      gitServer: { pid: number };
      server: { pid: number };
    };
    const clusterState = JSON.parse(
      await readFile(join(stateDir, 'clusters', 'demo', 'state.json'), 'utf8'),
    ) as { processes: { pid: number }[] };
    const pids = [
      state.server.pid,
      state.agent.pid,
      state.gitServer.pid,
      ...clusterState.processes.map((p) => p.pid),
    ];
    assert.ok(pids.every(alive));

    const down = await capstan(env, 'demo', 'down');
    assert.equal(down.code, 0, down.stderr);
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} still runs after demo down`);

    // Up again: a fresh cluster (no Secret capstan-initial-admin), the same store and admin, the same
    // password printed, kept only by the demo's folder, readable by its owner alone.
    const kept = join(stateDir, 'demo', 'admin-password');
    assert.equal((await stat(kept)).mode & 0o777, 0o600);
    const again = await capstan(env, 'demo', 'up', '-o', 'json');
    assert.equal(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout) as {
      serverUrl: string;
      serverUser: string;
      serverPassword?: string;
    };
    assert.equal(second.serverPassword, summary.serverPassword);
    const relogin = await fetch(`${second.serverUrl}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: second.serverUser, password: second.serverPassword }),
    });
    assert.equal(relogin.status, 200);
    const purged = await capstan(env, 'demo', 'down', '--purge');
    assert.equal(purged.code, 0, purged.stderr);
    assert.equal(existsSync(join(stateDir, 'demo')), false, 'demo down --purge removes the demo folder');
    assert.equal(
      existsSync(join(stateDir, 'clusters', 'demo')),
      false,
      'demo down --purge removes the stopped cluster’s folder too',
    );
  });
});
