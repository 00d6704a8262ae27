// The PostgreSQL Store against a real PostgreSQL server (Debian's package, a throw-away cluster started
// by src/testing/postgres.ts): the same contract suite as SQLite, then what only a shared database
// shows: replicas migrating together, a newer schema refused, a server that goes away.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  POSTGRES_MIGRATIONS,
  describeStoreUrl,
  openPostgresStore,
} from '../../src/adapters/store/postgres-store.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { freePort } from '../../src/devcluster/ports.ts';
import { startPostgres, withClient, type TestPostgres } from '../../src/testing/postgres.ts';
import { storeContract } from '../../src/testing/store-contract.ts';

const pg: TestPostgres = await startPostgres(after);

storeContract('postgres', {
  open: async () => openPostgresStore({ url: pg.urlWithPassword(await pg.createDatabase()) }),
});

const isCode = (code: string) => (error: unknown) => error instanceof CapstanError && error.code === code;

describe('postgres store: migrations, replicas and failures', () => {
  it('two replicas opening one empty database at once migrate it once, and share what they write', async () => {
    const url = pg.urlWithPassword(await pg.createDatabase());
    const [a, b] = await Promise.all([openPostgresStore({ url }), openPostgresStore({ url })]);
    try {
      const versions = await withClient(url, (client) =>
        client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version'),
      );
      assert.deepEqual(
        versions.rows.map((r) => r.version),
        POSTGRES_MIGRATIONS.map((_, i) => i + 1),
      );
      const written = await a.audit.append({
        time: '2026-01-01T00:00:00.000Z',
        actor: { kind: 'user', name: 'alice' },
        action: 'login',
        target: 'User/alice',
        result: 'success',
      });
      assert.deepEqual(await b.audit.query({ limit: 5 }), [written]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('takes the password from PGPASSWORD when the URL has none', async () => {
    const database = await pg.createDatabase();
    const saved = process.env['PGPASSWORD'];
    process.env['PGPASSWORD'] = pg.password;
    try {
      const store = await openPostgresStore({ url: pg.url(database) });
      assert.deepEqual(await store.tokens.list(), []);
      await store.close();
    } finally {
      if (saved === undefined) delete process.env['PGPASSWORD'];
      else process.env['PGPASSWORD'] = saved;
    }
  });

  it('refuses a database whose schema is newer than this code', async () => {
    const url = pg.urlWithPassword(await pg.createDatabase());
    await (await openPostgresStore({ url })).close();
    await withClient(url, (client) =>
      client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
        POSTGRES_MIGRATIONS.length + 1,
        'x',
      ]),
    );
    await assert.rejects(openPostgresStore({ url }), isCode('STORE_SCHEMA_NEWER'));
  });

  it('says STORE_UNAVAILABLE (retryable) for a wrong password, without the password', async () => {
    const url = pg.urlWithPassword('postgres').replace(pg.password, 'not-the-password-7f3a');
    await assert.rejects(openPostgresStore({ url }), (error: unknown) => {
      assert.ok(isCode('STORE_UNAVAILABLE')(error));
      assert.ok((error as CapstanError).retryable);
      assert.doesNotMatch((error as Error).message, /not-the-password-7f3a/);
      assert.match((error as Error).message, /password authentication failed/);
      return true;
    });
  });

  it('says STORE_UNAVAILABLE when nothing listens, naming the address but not the password', async () => {
    const port = await freePort();
    const url = `postgres://capstan:sentinel-pw-91c2@127.0.0.1:${port}/x`;
    await assert.rejects(openPostgresStore({ url, connectTimeoutMs: 2000 }), (error: unknown) => {
      assert.ok(isCode('STORE_UNAVAILABLE')(error));
      assert.doesNotMatch((error as Error).message, /sentinel-pw-91c2/);
      assert.match((error as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
    assert.equal(describeStoreUrl(url), `postgres://capstan:***@127.0.0.1:${port}/x`);
  });

  it('answers STORE_UNAVAILABLE once closed, and a query against a dropped table fails the same way', async () => {
    const url = pg.urlWithPassword(await pg.createDatabase());
    const store = await openPostgresStore({ url });
    await withClient(url, (client) => client.query('DROP TABLE tokens'));
    await assert.rejects(store.tokens.list(), isCode('STORE_UNAVAILABLE'));
    await store.close();
    await assert.rejects(store.audit.query({ limit: 1 }), isCode('STORE_UNAVAILABLE'));
  });

  it('appends more log lines than one statement may carry parameters for', async () => {
    const store = await openPostgresStore({ url: pg.urlWithPassword(await pg.createDatabase()) });
    try {
      await store.runs.create({
        id: 'big',
        namespace: 'n',
        pipeline: 'p',
        project: 'n',
        revision: 'a'.repeat(40),
        trigger: 'manual',
        triggeredBy: 'alice',
        phase: 'Running',
        queuedAt: '2026-01-01T00:00:00.000Z',
        steps: [],
        images: [],
      });
      const lines = Array.from({ length: 25_000 }, (_, i) => ({
        step: 's',
        time: '2026-01-01T00:00:00.000Z',
        line: `line ${i}`,
      }));
      await store.runs.appendLogs('big', lines);
      const read = await store.runs.logs('big', { limit: 100_000 });
      assert.equal(read.length, 25_000);
      assert.equal(read.at(-1)?.line, 'line 24999');
    } finally {
      await store.close();
    }
  });
});
