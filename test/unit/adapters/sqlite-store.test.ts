import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { MIGRATIONS, openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import { storeContract } from '../../../src/testing/store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'capstan-sqlite-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;

storeContract('sqlite (file)', {
  open: () => Promise.resolve(openSqliteStore({ path: join(dir, `s${++n}.db`) })),
});
storeContract('sqlite (memory)', { open: () => Promise.resolve(openSqliteStore({ path: ':memory:' })) });

describe('sqlite store: migrations and failures', () => {
  it('records each schema version once; opening again keeps the data', async () => {
    const path = join(dir, 'again.db');
    const store = openSqliteStore({ path });
    await store.audit.append({
      time: '2026-01-01T00:00:00.000Z',
      actor: { kind: 'agent', name: 'agent' },
      action: 'application.sync',
      target: 'Application/a/b',
      result: 'success',
    });
    await store.close();
    const reopened = openSqliteStore({ path });
    assert.equal((await reopened.audit.query({ limit: 5 })).length, 1);
    await reopened.close();
    const db = new DatabaseSync(path);
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
    db.close();
    assert.deepEqual(
      versions.map((v) => v['version']),
      MIGRATIONS.map((_, i) => i + 1),
    );
  });

  it('refuses a database whose schema is newer than this code', () => {
    const path = join(dir, 'newer.db');
    openSqliteStore({ path })
      .close()
      .catch(() => undefined);
    const db = new DatabaseSync(path);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
      MIGRATIONS.length + 1,
      'x',
    );
    db.close();
    assert.throws(
      () => openSqliteStore({ path }),
      (error: unknown) => error instanceof CapstanError && error.code === 'STORE_SCHEMA_NEWER',
    );
  });

  it('says STORE_UNAVAILABLE (retryable) when the database is gone', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    await store.close();
    await assert.rejects(
      store.audit.query({ limit: 1 }),
      (error: unknown) =>
        error instanceof CapstanError && error.code === 'STORE_UNAVAILABLE' && error.retryable,
    );
  });

  it('says STORE_UNAVAILABLE when the file cannot be opened', () => {
    assert.throws(
      () => openSqliteStore({ path: join(dir, 'no-such', '\0bad') }),
      (error: unknown) => error instanceof CapstanError && error.code === 'STORE_UNAVAILABLE',
    );
  });
});
