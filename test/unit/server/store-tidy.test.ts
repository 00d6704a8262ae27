// One tidy of the server's Store (src/server/store-tidy.ts, tidyStore) at a given time, on the SQLite
// Store (which passes the Store contract suite): what is past the retention or expired goes, the rest stays.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { tidyStore } from '../../../src/server/store-tidy.ts';

const NOW = new Date('2026-12-06T12:00:00Z');
const daysBefore = (days: number) => new Date(NOW.getTime() - days * 86_400_000).toISOString();

describe('store tidy (tidyStore)', () => {
  it('deletes audit entries older than the retention and sessions expired at that time, and says how many', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    try {
      const base = { actor: { kind: 'user', name: 'alice' }, action: 'login', target: 'User/alice' } as const;
      await store.audit.append({ ...base, time: daysBefore(31), result: 'success' });
      await store.audit.append({ ...base, time: daysBefore(40), result: 'success' });
      const kept = await store.audit.append({ ...base, time: daysBefore(29), result: 'failure' });
      const session = { user: 'alice', groups: [], admin: false, csrf: 'c', createdAt: daysBefore(2) };
      await store.sessions.create({ ...session, digest: 'expired', expiresAt: daysBefore(0.5) });
      await store.sessions.create({ ...session, digest: 'live', expiresAt: daysBefore(-0.5) });

      assert.deepEqual(await tidyStore(store, 30, NOW), { auditEntries: 2, sessions: 1 });
      assert.deepEqual(await store.audit.query({ limit: 10 }), [kept]);
      assert.equal(await store.sessions.get('expired'), undefined);
      assert.ok(await store.sessions.get('live'));
      assert.deepEqual(
        await tidyStore(store, 30, NOW),
        { auditEntries: 0, sessions: 0 },
        'nothing left to tidy',
      );
    } finally {
      await store.close();
    }
  });
});
