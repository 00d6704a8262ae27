// The server's pure parts: the agent's activity from status.history, cursors, label selectors, the
// login limiter and the change buffer of the watch cache.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Application } from '../../../src/contracts/application.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import { agentActivity } from '../../../src/server/agent-audit.ts';
import { ApplicationIndex } from '../../../src/server/application-index.ts';
import { CursorCodec, queryDigest } from '../../../src/server/cursor.ts';
import { matchesLabels, parseLabelSelector } from '../../../src/server/label-selector.ts';
import { FailureLimiter } from '../../../src/server/rate-limit.ts';

const app = (status: Application['status'], resourceVersion = '1'): Application => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Application',
  metadata: { name: 'web', namespace: 'shop', resourceVersion, uid: 'uid-web' },
  spec: { project: 'shop', source: { repoURL: 'https://git.example.com/shop.git' } },
  ...(status === undefined ? {} : { status }),
});
const entry = (id: number, revision: string, result: 'Succeeded' | 'Failed' = 'Succeeded') => ({
  id,
  revision,
  startedAt: `2026-01-0${id}T00:00:00Z`,
  finishedAt: `2026-01-0${id}T00:01:00Z`,
  result,
  summary: '1 configured',
});

describe('agentActivity', () => {
  const before = app({
    sync: { status: 'Synced', revision: 'a' },
    history: [entry(1, 'a')],
    handledRequests: { sync: '100' },
  });

  it('records a new commit synced by the agent', () => {
    const after = app({ history: [entry(1, 'a'), entry(2, 'b')], handledRequests: { sync: '100' } });
    assert.deepEqual(agentActivity(before, after), [
      {
        time: '2026-01-02T00:01:00Z',
        actor: { kind: 'agent', name: 'agent' },
        action: 'application.sync',
        target: 'Application/shop/web',
        project: 'shop',
        result: 'success',
        changes: { revision: 'b', historyId: 2, trigger: 'commit', summary: '1 configured' },
        key: 'agent:uid-web:2',
      },
    ]);
  });

  it('names drift correction on the same commit, a request by its id, a failed rollback', () => {
    const drift = agentActivity(before, app({ history: [entry(1, 'a'), entry(2, 'a')] }));
    assert.equal(drift[0]?.changes?.['trigger'], 'drift');
    const requested = agentActivity(
      before,
      app({ history: [entry(1, 'a'), entry(2, 'a')], handledRequests: { sync: '200' } }),
    );
    assert.equal(requested[0]?.changes?.['request'], 'sync:200');
    const rollback = agentActivity(
      before,
      app({
        history: [entry(1, 'a'), entry(2, 'z', 'Failed')],
        operation: { phase: 'Failed', type: 'rollback', startedAt: '2026-01-02T00:00:00Z' },
        handledRequests: { sync: '100', rollback: '300:1' },
      }),
    );
    assert.equal(rollback.map((e) => e.action).join(), 'application.rollback');
    assert.equal(rollback.map((e) => e.result).join(), 'failure');
    assert.equal(rollback[0]?.changes?.['request'], 'rollback:300:1');
  });

  it('records nothing for a status change without a new history entry, a new or a deleted Application', () => {
    assert.deepEqual(agentActivity(before, app({ ...before.status, health: { status: 'Degraded' } })), []);
    assert.deepEqual(agentActivity(undefined, before), []);
    assert.deepEqual(agentActivity(before, undefined), []);
  });
});

describe('cursors', () => {
  it('round-trips a key for the same query and refuses every other use', () => {
    let now = 1_000_000;
    const codec = new CursorCodec({ key: randomBytes(32), now: () => now });
    const digest = queryDigest({ namespace: 'a', limit: 10 });
    assert.equal(
      digest,
      queryDigest({ limit: 10, namespace: 'a' }),
      'the order of the filters does not matter',
    );
    const cursor = codec.encode(['a', 'web'], digest);
    assert.deepEqual(codec.decode(cursor, digest), ['a', 'web']);
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'accepted';
      } catch (error) {
        return (error as CapstanError).code;
      }
    };
    assert.equal(
      code(() => new CursorCodec({ key: randomBytes(32), now: () => now }).decode(cursor, digest)),
      'CURSOR_INVALID',
    );
    assert.equal(
      code(() => codec.decode(`${cursor}x`, digest)),
      'CURSOR_INVALID',
    );
    assert.equal(
      code(() => codec.decode(cursor, queryDigest({ namespace: 'b', limit: 10 }))),
      'CURSOR_MISMATCH',
    );
    now += 2 * 60 * 60 * 1000;
    assert.equal(
      code(() => codec.decode(cursor, digest)),
      'CURSOR_EXPIRED',
    );
  });
});

describe('label selectors', () => {
  it('takes equality, inequality, existence and absence; refuses set-based and malformed ones by name', () => {
    const labels = { tier: 'front', team: 'a' };
    const cases: [string, boolean][] = [
      ['tier=front', true],
      ['tier==front,team=a', true],
      ['tier!=front', false],
      ['tier', true],
      ['!tier', false],
      ['!owner', true],
      ['owner!=x', true],
    ];
    for (const [selector, matches] of cases)
      assert.equal(matchesLabels(labels, parseLabelSelector(selector)), matches, selector);
    for (const bad of ['tier in (a,b)', '=x', 'a=b=c', '!a=b'])
      assert.throws(
        () => parseLabelSelector(bad),
        (e: unknown) => (e as CapstanError).code === 'LABEL_SELECTOR_INVALID',
        bad,
      );
  });
});

describe('the login limiter', () => {
  it('refuses after the failures allowed in the window, until the oldest leaves it; a success clears the key', () => {
    let now = 0;
    const limiter = new FailureLimiter({ attempts: 3, windowMs: 1000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.retryAfterMs('bob'), 0);
      limiter.fail('bob');
      now += 100;
    }
    assert.equal(limiter.retryAfterMs('bob'), 700);
    now = 1001;
    assert.equal(limiter.retryAfterMs('bob'), 0);
    limiter.fail('bob');
    limiter.succeed('bob');
    assert.equal(limiter.retryAfterMs('bob'), 0);
  });
});

describe('the watch cache’s change buffer', () => {
  it('replays the changes after an id, and says gone when they are no longer kept or from another epoch', () => {
    const index = new ApplicationIndex({ epoch: 'ab', changeBuffer: 3 });
    for (let v = 1; v <= 5; v++)
      index.handle({ type: v === 1 ? 'ADDED' : 'MODIFIED', object: app(undefined, String(v)) });
    assert.deepEqual(
      (index.changesSince('ab-3') as readonly { seq: number }[]).map((c) => c.seq),
      [4, 5],
    );
    assert.equal(index.changesSince('ab-1'), 'gone');
    assert.equal(index.changesSince('cd-4'), 'gone');
    assert.deepEqual(index.changesSince('ab-5'), []);
    index.handle({ type: 'MODIFIED', object: app(undefined, '5') });
    assert.equal(index.sequence, 5, 'the same resourceVersion again is no change');
  });
});
