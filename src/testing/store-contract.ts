/**
 * The contract every Store adapter passes (DESIGN.md, "Tests": one contract suite per port, run
 * against each adapter). `storeContract` registers the tests with node:test; an adapter's test file
 * calls it with a way to open a fresh, empty Store.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEntryInput, PromotionRecord, RunRecord, Store, TokenRecord } from '../ports/store.ts';

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

const runRecord = (overrides: Partial<RunRecord>): RunRecord => ({
  id: 'r1',
  namespace: 'team-a',
  pipeline: 'web',
  project: 'team-a',
  revision: 'a'.repeat(40),
  branch: 'main',
  author: 'Alice <alice@example.com>',
  commitMessage: 'fix the test',
  trigger: 'push',
  triggeredBy: 'webhook',
  phase: 'Queued',
  queuedAt: '2026-01-01T00:00:00.000Z',
  steps: [{ name: 'checkout', phase: 'Pending' }],
  images: [],
  ...overrides,
});

const promotion = (overrides: {
  readonly [K in keyof PromotionRecord]?: PromotionRecord[K] | undefined;
}): PromotionRecord =>
  JSON.parse(
    JSON.stringify({
      id: 'p1',
      namespace: 'team-a',
      environment: 'dev',
      project: 'team-a',
      image: `registry.example/web@sha256:${'b'.repeat(64)}`,
      fromRun: 'r1',
      state: 'Pending',
      requestedBy: 'auto',
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      steps: [{ state: 'Pending', at: '2026-01-01T00:00:00.000Z', by: 'auto' }],
      ...overrides,
    }),
  ) as PromotionRecord;

/** Runs `fn` on a fresh Store and closes it after. */
type WithStore = (fn: (store: Store) => Promise<void>) => () => Promise<void>;

export function storeContract(name: string, options: StoreContractOptions): void {
  const withStore: WithStore = (fn) => async () => {
    const store = await options.open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  describe(`Store contract: ${name}`, () => {
    auditCases(withStore);
    auditKeyCases(withStore);
    accountCases(withStore);
    signOnCases(withStore);
    providerCases(withStore);
    logoutCases(withStore);
    runCases(withStore);
    runPhaseCases(withStore);
    promotionCases(withStore);
  });
}

/** The audit trail: append, query with filters and pages, prune. */
function auditCases(withStore: WithStore): void {
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
      assert.deepEqual(await ids({ since: '2026-01-02T00:00:00.000Z', until: '2026-01-03T00:00:00.000Z' }), [
        c.id,
        b.id,
      ]);
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
}

/** Audit entries with a key: several replicas record the same event once. */
function auditKeyCases(withStore: WithStore): void {
  it(
    'writes an entry with a key once: the same key again (another replica) returns the first',
    withStore(async (store) => {
      const keyed = entry({ key: 'agent-sync:uid-1:7', changes: { created: 1 } });
      const [one, two] = await Promise.all([store.audit.append(keyed), store.audit.append(keyed)]);
      const again = await store.audit.append({ ...keyed, result: 'failure' });
      const listed = await store.audit.query({ limit: 10 });
      assert.equal(listed.length, 1);
      assert.deepEqual(one, listed[0]);
      assert.deepEqual(two, listed[0]);
      assert.deepEqual(again, listed[0]);
      assert.equal('key' in (listed[0] ?? {}), false, 'the key is not returned');
      await store.audit.append(entry({ key: 'agent-sync:uid-1:8' }));
      await store.audit.append(entry({}));
      await store.audit.append(entry({}));
      assert.equal(
        (await store.audit.query({ limit: 10 })).length,
        4,
        'entries without a key are all written',
      );
      assert.deepEqual(
        await store.audit.recordedKeys(['agent-sync:uid-1:8', 'agent-sync:uid-1:9', 'agent-sync:uid-1:7']),
        new Set(['agent-sync:uid-1:7', 'agent-sync:uid-1:8']),
        'the keys written, of those asked',
      );
      assert.deepEqual(await store.audit.recordedKeys([]), new Set());
      const many = Array.from({ length: 1000 }, (_, i) => `agent-sync:uid-2:${String(i)}`);
      assert.deepEqual(await store.audit.recordedKeys(many), new Set(), 'a batch of 1,000 keys');
    }),
  );
}

/** A single sign-on session's refresh token and its refreshes. */
function signOnCases(withStore: WithStore): void {
  it(
    'keeps a single sign-on session’s sealed refresh token, claims its refresh once, and records a refresh only over the token it used',
    withStore(async (store) => {
      const signOn = {
        refreshToken: 'sealed-1',
        subject: 'sub-alice',
        refreshAfter: '2026-01-01T00:45:00.000Z',
        idTokenExpiresAt: '2026-01-01T01:00:00.000Z',
      };
      const session = {
        digest: 's1',
        user: 'alice',
        groups: ['dev'],
        admin: false,
        csrf: 'c1',
        createdAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-01T12:00:00.000Z',
        signOn,
      };
      await store.sessions.create(session);
      assert.deepEqual(await store.sessions.get('s1'), session);
      const next = {
        groups: ['dev', 'ops'],
        admin: true,
        signOn: { ...signOn, refreshToken: 'sealed-2', refreshAfter: '2026-01-01T01:45:00.000Z' },
      };
      // Two refreshes that used the same token: the first is recorded, the second finds it gone.
      const results = await Promise.all([
        store.sessions.refreshed('s1', 'sealed-1', next),
        store.sessions.refreshed('s1', 'sealed-1', { ...next, groups: ['other'] }),
      ]);
      assert.deepEqual(results.filter(Boolean), [true], 'exactly one refresh is recorded');
      const kept = await store.sessions.get('s1');
      assert.equal(kept?.signOn?.refreshToken, 'sealed-2');
      assert.equal(kept.signOn.refreshAfter, '2026-01-01T01:45:00.000Z');
      assert.equal(kept.admin, true);
      assert.deepEqual(kept.groups, results[0] ? ['dev', 'ops'] : ['other']);
      assert.equal(kept.expiresAt, session.expiresAt, 'a refresh does not lengthen the session');
      assert.equal(await store.sessions.refreshed('s1', 'sealed-1', next), false);
      assert.equal(await store.sessions.refreshed('gone', 'sealed-2', next), false);
      // A refresh is claimed once: of two claims over the same refreshAfter, one wins.
      const after = '2026-01-01T01:45:00.000Z';
      const claims = await Promise.all([
        store.sessions.claimRefresh('s1', after, '2026-01-01T01:46:00.000Z'),
        store.sessions.claimRefresh('s1', after, '2026-01-01T01:47:00.000Z'),
      ]);
      assert.deepEqual(claims.filter(Boolean), [true], 'exactly one claim wins');
      const claimed = (await store.sessions.get('s1'))?.signOn;
      assert.equal(
        claimed?.refreshAfter,
        claims[0] ? '2026-01-01T01:46:00.000Z' : '2026-01-01T01:47:00.000Z',
      );
      assert.equal(claimed.refreshToken, 'sealed-2', 'a claim changes nothing else');
      assert.equal(await store.sessions.claimRefresh('s1', after, after), false);
      assert.equal(await store.sessions.claimRefresh('gone', after, after), false);
      // A local session has no sign-on, and nothing to refresh.
      const { signOn: _none, ...local } = session;
      await store.sessions.create({ ...local, digest: 's2' });
      assert.equal((await store.sessions.get('s2'))?.signOn, undefined);
      assert.equal(await store.sessions.refreshed('s2', 'sealed-1', next), false);
      assert.equal(await store.sessions.claimRefresh('s2', after, after), false);
    }),
  );
}

/** A refresh's mark, the provider's names of a session and back-channel logout. */
function providerCases(withStore: WithStore): void {
  it(
    'marks a claimed refresh as running until the claim ends; a release or a recorded refresh clears the mark',
    withStore(async (store) => {
      const signOn = {
        refreshToken: 'sealed-1',
        subject: 'sub-bob',
        refreshAfter: '2026-01-01T00:45:00.000Z',
        idTokenExpiresAt: '2026-01-01T01:00:00.000Z',
      };
      const session = {
        digest: 'r1',
        user: 'bob',
        groups: ['dev'],
        admin: false,
        csrf: 'c1',
        createdAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-01T12:00:00.000Z',
        signOn,
        provider: { subject: 'sub-bob', sid: 'sid-1' },
      };
      await store.sessions.create(session);
      assert.deepEqual(await store.sessions.get('r1'), session);
      const until = '2026-01-01T00:46:00.000Z';
      assert.equal(await store.sessions.claimRefresh('r1', signOn.refreshAfter, until), true);
      const claimed = await store.sessions.get('r1');
      assert.equal(claimed?.signOn?.refreshingUntil, until);
      assert.equal(claimed.signOn.refreshAfter, until);
      // Released (the provider out of reach): tried again at the time given, no longer marked.
      assert.equal(await store.sessions.releaseRefresh('r1', '2026-01-01T00:47:00.000Z', until), false);
      assert.equal(await store.sessions.releaseRefresh('r1', until, signOn.refreshAfter), true);
      const released = await store.sessions.get('r1');
      assert.equal(released?.signOn?.refreshingUntil, undefined);
      assert.equal(released?.signOn?.refreshAfter, signOn.refreshAfter);
      assert.equal(await store.sessions.releaseRefresh('r1', until, until), false, 'released once');
      // Claimed again, then refreshed: the new state has no mark.
      assert.equal(await store.sessions.claimRefresh('r1', signOn.refreshAfter, until), true);
      const next = { ...signOn, refreshToken: 'sealed-2', refreshAfter: '2026-01-01T01:45:00.000Z' };
      assert.equal(
        await store.sessions.refreshed('r1', 'sealed-1', { groups: ['ops'], admin: false, signOn: next }),
        true,
      );
      const refreshed = await store.sessions.get('r1');
      assert.deepEqual(refreshed?.signOn, next);
      assert.deepEqual(refreshed.groups, ['ops']);
      assert.deepEqual(refreshed.provider, session.provider, 'a refresh keeps the provider’s names');
    }),
  );
}

/** Back-channel logout: the sessions it ends and its tokens spent once. */
function logoutCases(withStore: WithStore): void {
  it(
    'ends the single sign-on sessions a back-channel logout names, by sid, by subject or both, and spends a logout token once',
    withStore(async (store) => {
      const base = {
        user: 'carol',
        groups: [],
        admin: false,
        csrf: 'c',
        createdAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-01T12:00:00.000Z',
      };
      await store.sessions.create({ ...base, digest: 'p1', provider: { subject: 'sub-c', sid: 'sid-1' } });
      await store.sessions.create({ ...base, digest: 'p2', provider: { subject: 'sub-c', sid: 'sid-2' } });
      await store.sessions.create({ ...base, digest: 'p3', provider: { subject: 'sub-c' } });
      await store.sessions.create({ ...base, digest: 'p4', provider: { subject: 'sub-d', sid: 'sid-4' } });
      await store.sessions.create({ ...base, digest: 'local' });
      assert.deepEqual(await store.sessions.endSignedOn({}), [], 'a match of nothing ends nothing');
      assert.deepEqual(await store.sessions.endSignedOn({ subject: 'sub-d', sid: 'sid-1' }), []);
      const bySid = await store.sessions.endSignedOn({ sid: 'sid-1' });
      assert.deepEqual(
        bySid.map((s) => [s.digest, s.provider]),
        [['p1', { subject: 'sub-c', sid: 'sid-1' }]],
      );
      assert.equal(await store.sessions.get('p1'), undefined);
      const both = await store.sessions.endSignedOn({ subject: 'sub-c', sid: 'sid-2' });
      assert.deepEqual(
        both.map((s) => s.digest),
        ['p2'],
      );
      const bySubject = await store.sessions.endSignedOn({ subject: 'sub-c' });
      assert.deepEqual(
        bySubject.map((s) => s.digest),
        ['p3'],
      );
      assert.ok(await store.sessions.get('p4'), 'another user’s session stays');
      assert.ok(await store.sessions.get('local'), 'a local session stays');
      // A logout token is spent once (a replay, on any replica, is refused), until its expiry.
      const results = await Promise.all([
        store.sessions.spendLogoutToken('jti-1', '2026-01-01T00:10:00.000Z'),
        store.sessions.spendLogoutToken('jti-1', '2026-01-01T00:10:00.000Z'),
      ]);
      assert.deepEqual(results.filter(Boolean), [true], 'spent exactly once');
      assert.equal(await store.sessions.spendLogoutToken('jti-2', '2026-01-01T00:20:00.000Z'), true);
      await store.sessions.deleteExpired('2026-01-01T00:15:00.000Z');
      assert.equal(await store.sessions.spendLogoutToken('jti-2', '2026-01-01T00:20:00.000Z'), false);
      assert.equal(
        await store.sessions.spendLogoutToken('jti-1', '2026-01-01T00:10:00.000Z'),
        true,
        'forgotten after its expiry (a token that old is refused for its age anyway)',
      );
    }),
  );
}

/** Local users, sessions and API tokens. */
function accountCases(withStore: WithStore): void {
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
    'creates a user only once: a second create (another replica) changes nothing',
    withStore(async (store) => {
      const user = {
        name: 'admin',
        passwordHash: 'scrypt$a',
        admin: true,
        createdAt: '2026-01-01T00:00:00.000Z',
      };
      const results = await Promise.all([
        store.users.create(user),
        store.users.create({ ...user, passwordHash: 'scrypt$b' }),
      ]);
      assert.deepEqual(results.filter(Boolean), [true], 'exactly one create succeeds');
      const kept = await store.users.get('admin');
      assert.equal(kept?.passwordHash, results[0] ? 'scrypt$a' : 'scrypt$b');
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
}

/** A run's phase only moves forward, and an update applies only from the phase the caller read. */
function runPhaseCases(withStore: WithStore): void {
  it(
    'updates a run only from the phase the caller read, and never takes it back a phase',
    withStore(async (store) => {
      await store.runs.create(runRecord({}));
      const started = { phase: 'Running', startedAt: '2026-01-01T00:00:10.000Z' } as const;
      assert.equal(
        await store.runs.update('r1', started, ['WaitingForApproval']),
        undefined,
        'not from Queued',
      );
      assert.equal((await store.runs.get('r1'))?.phase, 'Queued', 'a refused update changes nothing');
      assert.equal((await store.runs.update('r1', started, ['Queued']))?.phase, 'Running');
      // A Queued write that comes late (read before the run started) is refused, with all it carries.
      assert.equal(await store.runs.update('r1', { phase: 'Queued', statusMessage: 'late' }), undefined);
      assert.deepEqual(await store.runs.get('r1'), runRecord({ ...started }));
      // A change without a phase applies in any phase; the same phase again too.
      const steps = [{ name: 'checkout', phase: 'Running' }] as const;
      assert.deepEqual((await store.runs.update('r1', { steps }))?.steps, steps);
      assert.equal((await store.runs.update('r1', { phase: 'Running' }))?.phase, 'Running');
      const ended = {
        phase: 'Cancelled',
        finishedAt: '2026-01-01T00:01:00.000Z',
        cancelledBy: 'bob',
      } as const;
      assert.equal((await store.runs.update('r1', ended, ['Queued', 'Running']))?.phase, 'Cancelled');
      // An end stays: neither another end nor an earlier phase replaces it; what has no phase still does.
      assert.equal(await store.runs.update('r1', { phase: 'Failed', reason: 'Error' }), undefined);
      assert.equal(await store.runs.update('r1', { phase: 'Running' }), undefined);
      assert.equal((await store.runs.update('r1', { reason: 'Superseded' }))?.reason, 'Superseded');
      const final = await store.runs.get('r1');
      assert.deepEqual([final?.phase, final?.cancelledBy], ['Cancelled', 'bob']);
      // Waiting for approval: approved into Queued once, whatever races.
      await store.runs.create(runRecord({ id: 'r2', phase: 'WaitingForApproval' }));
      const approvals = await Promise.all(
        ['alice', 'bob', 'carol'].map((by) =>
          store.runs.update('r2', { phase: 'Queued', approvedBy: by }, ['WaitingForApproval']),
        ),
      );
      assert.equal(approvals.filter((r) => r !== undefined).length, 1, 'one approval moves it');
      assert.equal(await store.runs.update('nope', { phase: 'Running' }, ['Queued']), undefined);
    }),
  );

  it(
    'keeps a run Running when its Queued and Running writes race, in either order',
    withStore(async (store) => {
      for (let i = 0; i < 20; i++) {
        const id = `race${i}`;
        await store.runs.create(runRecord({ id }));
        const writes = [
          () => store.runs.update(id, { phase: 'Running', startedAt: '2026-01-01T00:00:10.000Z' }),
          () => store.runs.update(id, { phase: 'Queued' }),
        ];
        await Promise.all(i % 2 === 0 ? writes.map((w) => w()) : writes.reverse().map((w) => w()));
        assert.equal((await store.runs.get(id))?.phase, 'Running', `run ${id}`);
      }
    }),
  );
}

/** Pipeline runs and their logs. */
function runCases(withStore: WithStore): void {
  it(
    'keeps runs, updates them, and lists them newest first with filters and pages',
    withStore(async (store) => {
      await store.runs.create(runRecord({}));
      const pullRequest = { number: 7, sourceBranch: 'feature', targetBranch: 'main' }; // kept with its run
      const queuedAt = '2026-01-02T00:00:00.000Z';
      await store.runs.create(
        runRecord({ id: 'r2', branch: 'feature', trigger: 'pullRequest', pullRequest, queuedAt }),
      );
      assert.deepEqual((await store.runs.get('r2'))?.pullRequest, pullRequest);
      await store.runs.create(runRecord({ id: 'r3', pipeline: 'api', queuedAt: '2026-01-03T00:00:00.000Z' }));
      assert.deepEqual(await store.runs.get('r1'), runRecord({}));
      const finished = await store.runs.update('r1', {
        phase: 'Failed',
        finishedAt: '2026-01-01T00:01:00.000Z',
        steps: [
          { name: 'checkout', phase: 'Succeeded', exitCode: 0 },
          { name: 'test', phase: 'Failed', exitCode: 3 },
        ],
        reason: 'Error',
        statusMessage: 'step test failed (exit code 3)',
      });
      assert.equal(finished?.steps[1]?.exitCode, 3);
      assert.equal((await store.runs.get('r1'))?.phase, 'Failed');
      assert.equal(await store.runs.update('nope', { phase: 'Failed' }), undefined);
      const ids = async (query: Parameters<Store['runs']['list']>[0]) =>
        (await store.runs.list(query)).map((r) => r.id);
      assert.deepEqual(await ids({ limit: 10 }), ['r3', 'r2', 'r1']);
      assert.deepEqual(await ids({ pipeline: 'web', limit: 10 }), ['r2', 'r1']);
      assert.deepEqual(await ids({ branch: 'feature', limit: 10 }), ['r2']);
      assert.deepEqual(await ids({ phase: 'Failed', limit: 10 }), ['r1']);
      assert.deepEqual(await ids({ limit: 1 }), ['r3']);
      assert.deepEqual(await ids({ before: 'r3', limit: 1 }), ['r2']);
      await assert.rejects(store.runs.create(runRecord({})), 'a second run with the same id');
    }),
  );

  it(
    'appends run log lines in order and reads them after a sequence number, by step',
    withStore(async (store) => {
      await store.runs.create(runRecord({}));
      await store.runs.appendLogs('r1', [
        { step: 'checkout', time: '2026-01-01T00:00:01.000Z', line: 'checked out aaa' },
        { step: 'test', time: '2026-01-01T00:00:02.000Z', line: 'token is ***' },
      ]);
      await store.runs.appendLogs('r1', [{ step: 'test', time: '2026-01-01T00:00:03.000Z', line: 'ok' }]);
      const all = await store.runs.logs('r1', { limit: 100 });
      assert.deepEqual(
        all.map((l) => l.line),
        ['checked out aaa', 'token is ***', 'ok'],
      );
      const after = await store.runs.logs('r1', { afterSeq: all[0]?.seq ?? 0, limit: 100 });
      assert.deepEqual(
        after.map((l) => l.line),
        ['token is ***', 'ok'],
      );
      assert.deepEqual(
        (await store.runs.logs('r1', { step: 'test', limit: 1 })).map((l) => l.line),
        ['token is ***'],
      );
    }),
  );

  it(
    'prunes runs that finished before a time, with their logs; never a run still going',
    withStore(async (store) => {
      await store.runs.create(runRecord({ phase: 'Succeeded', finishedAt: '2026-01-01T00:05:00.000Z' }));
      await store.runs.create(runRecord({ id: 'r2', queuedAt: '2026-01-01T00:00:00.000Z' }));
      await store.runs.create(
        runRecord({ id: 'r3', phase: 'Failed', finishedAt: '2026-03-01T00:00:00.000Z' }),
      );
      await store.runs.appendLogs('r1', [{ step: 's', time: '2026-01-01T00:00:00.000Z', line: 'x' }]);
      assert.equal(await store.runs.prune('2026-02-01T00:00:00.000Z'), 1);
      assert.equal(await store.runs.get('r1'), undefined);
      assert.deepEqual(await store.runs.logs('r1', { limit: 10 }), []);
      assert.ok(await store.runs.get('r2'), 'a queued run stays');
      assert.ok(await store.runs.get('r3'), 'a newer run stays');
    }),
  );
}

/** Promotions (docs/promotions.md). */
function promotionCases(withStore: WithStore): void {
  it(
    'keeps promotions: lists them newest first with filters, and pages',
    withStore(async (store) => {
      await store.promotions.create(promotion({}));
      await store.promotions.create(
        promotion({
          id: 'p2',
          environment: 'staging',
          fromRun: undefined,
          fromEnvironment: 'dev',
          fromPromotion: 'p1',
          state: 'WaitingForApproval',
        }),
      );
      await store.promotions.create(promotion({ id: 'p3', state: 'Verified', fromRun: 'r2' }));
      assert.deepEqual(await store.promotions.get('p1'), promotion({}));
      assert.equal(await store.promotions.get('nope'), undefined);
      const ids = async (query: Parameters<Store['promotions']['list']>[0]) =>
        (await store.promotions.list(query)).map((p) => p.id);
      assert.deepEqual(await ids({ limit: 10 }), ['p3', 'p2', 'p1']);
      assert.deepEqual(await ids({ environment: 'dev', limit: 10 }), ['p3', 'p1']);
      assert.deepEqual(await ids({ state: 'WaitingForApproval', limit: 10 }), ['p2']);
      assert.deepEqual(await ids({ fromRun: 'r1', limit: 10 }), ['p1']);
      assert.deepEqual(await ids({ fromPromotion: 'p1', limit: 10 }), ['p2']);
      assert.deepEqual(await ids({ active: true, limit: 10 }), ['p2', 'p1']);
      assert.deepEqual(await ids({ active: false, limit: 10 }), ['p3']);
      assert.deepEqual(await ids({ namespace: 'team-b', limit: 10 }), []);
      assert.deepEqual(await ids({ limit: 1 }), ['p3']);
      assert.deepEqual(await ids({ before: 'p3', limit: 10 }), ['p2', 'p1']);
    }),
  );

  it(
    'moves a promotion only from the state the caller saw',
    withStore(async (store) => {
      await store.promotions.create(promotion({ state: 'WaitingForApproval' }));
      const approved = await store.promotions.update('p1', 'WaitingForApproval', {
        state: 'Approved',
        approvedBy: 'ann',
        updatedAt: '2026-01-01T00:01:00.000Z',
      });
      assert.ok(approved);
      assert.equal(approved.state, 'Approved');
      assert.equal(approved.approvedBy, 'ann');
      // A second decision, made on the state it saw before, changes nothing.
      assert.equal(
        await store.promotions.update('p1', 'WaitingForApproval', { state: 'Rejected', rejectedBy: 'bob' }),
        undefined,
      );
      const stored = await store.promotions.get('p1');
      assert.ok(stored);
      assert.equal(stored.state, 'Approved');
      assert.equal(stored.rejectedBy, undefined);
      assert.deepEqual(
        await store.promotions.list({ state: 'Approved', limit: 10 }).then((l) => l.length),
        1,
      );
      assert.equal(await store.promotions.update('nope', 'Pending', { state: 'Failed' }), undefined);
    }),
  );
}
