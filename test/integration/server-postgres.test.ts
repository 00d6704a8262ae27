// Two `capstan server` processes on one PostgreSQL (several replicas behind one Service): a session made
// on one is honoured by the other, with its CSRF token; a token created on one works on the other and,
// revoked on one, is refused by the other at once; an audit entry written by one is listed by the
// other; only one of them creates the initial admin. The database's password (from PGPASSWORD) never
// appears in their output.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { freePort } from '../../src/devcluster/ports.ts';
import { INITIAL_ADMIN_SECRET } from '../../src/main/server.ts';
import {
  freshNamespace,
  installApplicationCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { startPostgres, type TestPostgres } from '../../src/testing/postgres.ts';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'capstan.js');
const scratch = await mkdtemp(join(tmpdir(), 'capstan-server-pg-'));
const pg: TestPostgres = await startPostgres(after);
let kube: KubeClients;
let admin: KubeCluster;
let kubeconfig = '';

interface Replica {
  readonly base: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig }));
  await installApplicationCrd(admin);
  await installProjectCrd(admin);
});

after(async () => {
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

/** Starts `capstan server --store postgres://…` as an operator does, the password in PGPASSWORD. */
async function startReplica(namespace: string, database: string): Promise<Replica> {
  const port = await freePort();
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      CLI,
      'server',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--store',
      pg.url(database),
      '--bind-address',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: scratch, PGPASSWORD: pg.password },
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`capstan server exited: ${output}`);
      return output.includes('capstan server listening');
    },
    { timeoutMs: 60_000, what: `capstan server on port ${port} listening` },
  );
  return {
    base: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function call(
  replica: Replica,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(`${replica.base}${path}`, init);
  return { status: response.status, body: await response.text(), headers: response.headers };
}

describe('two capstan server replicas on one PostgreSQL', () => {
  it('share the initial admin, sessions, tokens (and their revocation) and the audit trail', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const database = await pg.createDatabase();
    const a = await startReplica(namespace, database);
    t.after(() => a.stop());
    const b = await startReplica(namespace, database);
    t.after(() => b.stop());
    assert.match(a.output(), /"store":"postgres"/);
    assert.match(a.output(), /the local admin was created/);
    assert.doesNotMatch(b.output(), /the local admin was created/, 'the second replica found the admin');

    const secrets = await admin.resourceType('v1', 'Secret');
    assert.ok(secrets);
    const initial = await admin.get(secrets, namespace, INITIAL_ADMIN_SECRET);
    const password = Buffer.from(
      ((initial?.['data'] ?? {}) as Record<string, string>)['password'] ?? '',
      'base64',
    ).toString();

    // Log in on A; the cookie and its CSRF token act on B.
    const login = await call(a, '/api/v1/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    assert.equal(login.status, 200, login.body);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const csrf = (JSON.parse(login.body) as { csrfToken: string }).csrfToken;
    const onB = await call(b, '/api/v1/session', { headers: { cookie } });
    assert.equal(onB.status, 200, onB.body);
    assert.equal((JSON.parse(onB.body) as { user: string }).user, 'admin');
    const tokenRequest = JSON.stringify({ name: 'ci', project: '*', role: 'viewer' });
    const withoutCsrf = await call(b, '/api/v1/tokens', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: tokenRequest,
    });
    assert.equal(withoutCsrf.status, 403, 'the cookie without its CSRF token cannot act on B either');
    const created = await call(b, '/api/v1/tokens', {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: tokenRequest,
    });
    assert.equal(created.status, 201, created.body);
    const { token, info } = JSON.parse(created.body) as { token: string; info: { id: string } };

    // The token made on B works on A; revoked on A, B refuses it at once.
    const bearer = { authorization: `Bearer ${token}` };
    assert.equal((await call(a, '/api/v1/applications', { headers: bearer })).status, 200);
    const revoked = await call(a, `/api/v1/tokens/${info.id}`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrf },
    });
    assert.equal(revoked.status, 204, revoked.body);
    assert.equal((await call(b, '/api/v1/applications', { headers: bearer })).status, 401);

    // The audit trail is one: A's login and revocation, B's token creation, listed by either.
    for (const replica of [a, b]) {
      const audit = await call(replica, '/api/v1/audit?limit=50', { headers: { cookie } });
      assert.equal(audit.status, 200, audit.body);
      const actions = (JSON.parse(audit.body) as { items: { action: string; result: string }[] }).items
        .filter((e) => e.result === 'success')
        .map((e) => e.action);
      for (const action of ['login', 'token.create', 'token.revoke'])
        assert.ok(actions.includes(action), `${replica.base} lists ${action}: ${actions.join(', ')}`);
    }

    // Logging out on B ends the session on A.
    const logout = await call(b, '/api/v1/session', {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrf },
    });
    assert.ok(logout.status < 300, logout.body);
    assert.equal((await call(a, '/api/v1/session', { headers: { cookie } })).status, 401);

    await Promise.all([a.stop(), b.stop()]);
    for (const replica of [a, b]) {
      assert.ok(!replica.output().includes(pg.password), 'the database password is in no log line');
      assert.ok(!replica.output().includes(password), 'the admin password is in no log line');
    }
  });
});
