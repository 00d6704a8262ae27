// The server's tidy of its Store (src/server/store-tidy.ts, keepTidy): at start and daily, audit entries past
// the retention and expired sessions are deleted, and what is kept stays; a failing store is logged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { keepTidy } from '../../../src/server/store-tidy.ts';
import { eventually } from '../../../src/testing/eventually.ts';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

describe('audit retention (keepTidy)', () => {
  it('deletes audit entries older than the retention and expired sessions at start, keeping the rest', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const base = { actor: { kind: 'user', name: 'alice' }, action: 'login', target: 'User/alice' } as const;
    await store.audit.append({ ...base, time: ago(40), result: 'success' });
    const kept = await store.audit.append({ ...base, time: ago(20), result: 'failure' });
    const session = { user: 'alice', groups: [], admin: false, csrf: 'c', createdAt: ago(2) };
    await store.sessions.create({ ...session, digest: 'old', expiresAt: ago(1) });
    await store.sessions.create({ ...session, digest: 'live', expiresAt: ago(-1) });
    const logs: Record<string, unknown>[] = [];
    const timer = keepTidy(store, 30, (line) => logs.push(line));
    try {
      const tidied = await eventually(() => logs.find((l) => l['msg'] === 'store tidied') ?? false, {
        what: 'the first tidy',
      });
      assert.deepEqual([tidied['auditEntries'], tidied['sessions']], [1, 1]);
      assert.deepEqual(await store.audit.query({ limit: 10 }), [kept]);
      assert.equal(await store.sessions.get('old'), undefined);
      assert.ok(await store.sessions.get('live'));
    } finally {
      clearInterval(timer);
      await store.close();
    }
  });

  it('logs a failing store as a warning and keeps running', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    await store.close();
    const logs: Record<string, unknown>[] = [];
    const timer = keepTidy(store, 30, (line) => logs.push(line));
    try {
      const warned = await eventually(() => logs.find((l) => l['msg'] === 'store tidy failed') ?? false, {
        what: 'the warning',
      });
      assert.match(String(warned['error']), /the store failed to prune the audit trail/);
    } finally {
      clearInterval(timer);
    }
  });
});
