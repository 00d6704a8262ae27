/**
 * The contract every Store adapter passes (DESIGN.md, "Tests": one contract suite per port, run
 * against each adapter). `storeContract` registers the tests with node:test; an adapter's test file
 * calls it with a way to open a fresh, empty Store.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEntryInput, Store, TokenRecord } from '../ports/store.ts';

export interface StoreContractOptions {
  /** A fresh, empty Store (a new file, schema or database per call). */
  readonly open: () => Promise<Store>;
}

const entry = (overrides: Partial<AuditEntryInput>): AuditEntryInput => ({
  time: '2026-01-01T00:00:00.000Z',
  actor: { kind: 'user', name: 'alice' },
  action: 'application.sync',
  target: 'Application/team-a/web',
  project: 'team-a',
  result: 'success',
  ...overrides,
});

const token = (overrides: Partial<TokenRecord>): TokenRecord => ({
  id: 'tok1',
  name: 'ci',
  digest: 'a'.repeat(64),
  project: 'team-a',
  role: 'deployer',
  createdBy: 'admin',
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-02-01T00:00:00.000Z',
  ...overrides,
});

export function storeContract(name: string, options: StoreContractOptions): void {
  const withStore = (fn: (store: Store) => Promise<void>) => async () => {
    const store = await options.open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  describe(`Store contract: ${name}`, () => {
    it(
      'appends audit entries with increasing ids and returns them newest first, every field kept',
      withStore(async (store) => {
        const first = await store.audit.append(entry({ changes: { created: 3, pruned: 1 } }));
        const second = await store.audit.append(
          entry({ action: 'login', target: 'User/bob', result: 'failure', reason: 'wrong password' }),
        );
        assert.ok(second.id > first.id);
        const all = await store.audit.query({ limit: 10 });
        assert.deepEqual(all, [second, first]);
        assert.deepEqual(all[1]?.changes, { created: 3, pruned: 1 });
      }),
    );

    it(
      'filters the audit trail by actor, action (exact or prefix), target, project, result and time, and pages by id',
      withStore(async (store) => {
        const a = await store.audit.append(entry({ time: '2026-01-01T00:00:00.000Z' }));
        const b = await store.audit.append(
          entry({
            time: '2026-01-02T00:00:00.000Z',
            actor: { kind: 'token', name: 'token:x' },
            project: 'b',
          }),
        );
        const c = await store.audit.append(
          entry({ time: '2026-01-03T00:00:00.000Z', action: 'application.rollback', result: 'denied' }),
        );
        const d = await store.audit.append(
          entry({ time: '2026-01-04T00:00:00.000Z', action: 'login', target: 'User/alice' }),
        );
        const ids = async (q: Omit<Parameters<Store['audit']['query']>[0], 'limit'>) =>
          (await store.audit.query({ limit: 100, ...q })).map((e) => e.id);
        assert.deepEqual(await ids({ actor: 'token:x' }), [b.id]);
        assert.deepEqual(await ids({ action: 'application.' }), [c.id, b.id, a.id]);
        assert.deepEqual(await ids({ action: 'application.sync' }), [b.id, a.id]);
        assert.deepEqual(await ids({ action: 'applicat%' }), []);
        assert.deepEqual(await ids({ target: 'User/alice' }), [d.id]);
        assert.deepEqual(await ids({ project: 'b' }), [b.id]);
        assert.deepEqual(await ids({ result: 'denied' }), [c.id]);
        assert.deepEqual(
          await ids({ since: '2026-01-02T00:00:00.000Z', until: '2026-01-03T00:00:00.000Z' }),
          [c.id, b.id],
        );
        assert.deepEqual(
          (await store.audit.query({ limit: 2 })).map((e) => e.id),
          [d.id, c.id],
        );
        assert.deepEqual(
          (await store.audit.query({ limit: 2, beforeId: c.id })).map((e) => e.id),
          [b.id, a.id],
        );
      }),
    );

    it(
      'prunes audit entries older than the retention bound, and only those',
      withStore(async (store) => {
        await store.audit.append(entry({ time: '2025-01-01T00:00:00.000Z' }));
        const kept = await store.audit.append(entry({ time: '2026-06-01T00:00:00.000Z' }));
        assert.equal(await store.audit.prune('2026-01-01T00:00:00.000Z'), 1);
        assert.deepEqual(await store.audit.query({ limit: 10 }), [kept]);
      }),
    );

    it(
      'keeps local users and replaces a password hash',
      withStore(async (store) => {
        assert.equal(await store.users.get('admin'), undefined);
        const user = {
          name: 'admin',
          passwordHash: 'scrypt$1',
          admin: true,
          createdAt: '2026-01-01T00:00:00.000Z',
        };
        await store.users.put(user);
        assert.deepEqual(await store.users.get('admin'), user);
        await store.users.put({ ...user, passwordHash: 'scrypt$2', createdAt: 'later' });
        assert.deepEqual(await store.users.get('admin'), { ...user, passwordHash: 'scrypt$2' });
      }),
    );

    it(
      'keeps sessions by digest, deletes one, and deletes the expired ones',
      withStore(async (store) => {
        const session = {
          digest: 'd1',
          user: 'alice',
          groups: ['dev', 'ops'],
          admin: false,
          csrf: 'c1',
          createdAt: '2026-01-01T00:00:00.000Z',
          expiresAt: '2026-01-01T12:00:00.000Z',
        };
        await store.sessions.create(session);
        await store.sessions.create({ ...session, digest: 'd2', expiresAt: '2026-01-03T00:00:00.000Z' });
        assert.deepEqual(await store.sessions.get('d1'), session);
        assert.equal(await store.sessions.deleteExpired('2026-01-02T00:00:00.000Z'), 1);
        assert.equal(await store.sessions.get('d1'), undefined);
        await store.sessions.delete('d2');
        assert.equal(await store.sessions.get('d2'), undefined);
      }),
    );

    it(
      'keeps tokens, lists them newest first, and revokes once (the first revocation time stays)',
      withStore(async (store) => {
        await store.tokens.create(token({}));
        await store.tokens.create(token({ id: 'tok2', createdAt: '2026-01-05T00:00:00.000Z', project: '*' }));
        assert.deepEqual(await store.tokens.get('tok1'), token({}));
        assert.deepEqual(
          (await store.tokens.list()).map((t) => t.id),
          ['tok2', 'tok1'],
        );
        assert.equal(await store.tokens.revoke('tok1', '2026-01-06T00:00:00.000Z'), true);
        assert.equal(await store.tokens.revoke('tok1', '2026-01-07T00:00:00.000Z'), true);
        assert.equal((await store.tokens.get('tok1'))?.revokedAt, '2026-01-06T00:00:00.000Z');
        assert.equal(await store.tokens.revoke('nope', '2026-01-06T00:00:00.000Z'), false);
      }),
    );

    it(
      'refuses a second token with the same id',
      withStore(async (store) => {
        await store.tokens.create(token({}));
        await assert.rejects(store.tokens.create(token({})));
      }),
    );
  });
}
