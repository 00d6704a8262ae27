import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideSync,
  decideTarget,
  judgeSync,
  resolutionNotBefore,
  syncEvent,
  watchesVouch,
  type HistoryRecord,
  type QuietInput,
  type TargetDecision,
  type TargetInput,
} from '../../../src/core/reconcile-decision.ts';
import type { SyncEntry, SyncResult } from '../../../src/core/sync-result.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const now = new Date('2026-12-06T04:00:00Z');

const history: HistoryRecord[] = [
  { id: 1, revision: A, result: 'Succeeded' },
  { id: 2, revision: B, result: 'Failed' },
  { id: 3, revision: B, result: 'Succeeded' },
  { id: 4, revision: C, result: 'Succeeded' },
];

describe('decideTarget: which commit to deploy for these requests', () => {
  const base: TargetInput = {
    latest: C,
    requests: {},
    hold: undefined,
    syncedRevision: C,
    history,
    now,
    application: 'ns/app',
  };
  const cases: { name: string; input: Partial<TargetInput>; want: TargetDecision }[] = [
    {
      name: 'no request, no hold: the latest commit, automated',
      input: {},
      want: { kind: 'deploy', pinned: undefined, hold: undefined, operation: undefined },
    },
    {
      name: 'a sync request: an operation on the latest commit',
      input: { requests: { sync: '1700000000000' } },
      want: { kind: 'deploy', pinned: undefined, hold: undefined, operation: 'sync' },
    },
    {
      name: 'a hold while the source still points at the commit rolled back from: held',
      input: { hold: { revision: A, fromRevision: C } },
      want: { kind: 'deploy', pinned: A, hold: { revision: A, fromRevision: C }, operation: undefined },
    },
    {
      name: 'a hold, and a newer commit arrives: released, the latest deployed',
      input: { hold: { revision: A, fromRevision: B }, latest: C },
      want: { kind: 'deploy', pinned: undefined, hold: undefined, operation: undefined },
    },
    {
      name: 'a hold released by request',
      input: { hold: { revision: A, fromRevision: C }, requests: { releaseHold: '1' } },
      want: { kind: 'deploy', pinned: undefined, hold: undefined, operation: undefined },
    },
    {
      name: 'a held sync request syncs the held commit',
      input: { hold: { revision: A, fromRevision: C }, requests: { sync: '2' } },
      want: { kind: 'deploy', pinned: A, hold: { revision: A, fromRevision: C }, operation: 'sync' },
    },
    {
      name: 'a rollback: pinned to the previous successful revision, and held there',
      input: { requests: { rollback: '1700000000000' } },
      want: {
        kind: 'deploy',
        pinned: B,
        hold: { revision: B, fromRevision: C, reason: 'rolled back', since: now.toISOString() },
        operation: 'rollback',
      },
    },
    {
      name: 'a rollback to a history id',
      input: { requests: { rollback: '1700000000000:1' } },
      want: {
        kind: 'deploy',
        pinned: A,
        hold: { revision: A, fromRevision: C, reason: 'rolled back', since: now.toISOString() },
        operation: 'rollback',
      },
    },
    {
      name: 'a rollback to a failed entry: failed, reported on the synced revision',
      input: { requests: { rollback: '9:2' } },
      want: {
        kind: 'rollback-failed',
        message: "history entry 2 of application 'ns/app' failed; roll back to a successful one: 1, 3, 4",
        revision: C,
      },
    },
    {
      name: 'a rollback with no history: failed, reported on the latest when nothing was synced',
      input: { requests: { rollback: '9' }, history: [], syncedRevision: undefined },
      want: {
        kind: 'rollback-failed',
        message:
          "application 'ns/app' has no earlier successful sync to roll back to (capstan app history ns/app)",
        revision: C,
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(decideTarget({ ...base, ...c.input }), c.want);
    });
  }
});

describe('watchesVouch: when no comparison with the cluster is needed', () => {
  const clean = { generation: 2, renderKey: 'k', epoch: 1, events: 5, at: 1_000 };
  const base: QuietInput = {
    clean,
    operation: undefined,
    requests: {},
    syncStatus: 'Synced',
    generation: 2,
    renderKey: 'k',
    epoch: 1,
    events: 5,
    nowMs: 2_000,
    fullCompareEveryMs: 60_000,
  };
  const cases: [name: string, change: Partial<QuietInput>, want: boolean][] = [
    ['nothing moved', {}, true],
    ['never found in sync', { clean: undefined }, false],
    ['an operation was asked for', { operation: 'sync' }, false],
    ['a request is pending', { requests: { refresh: '1' } }, false],
    ['the status says OutOfSync', { syncStatus: 'OutOfSync' }, false],
    ['a new generation', { generation: 3 }, false],
    ['other render inputs', { renderKey: 'k2' }, false],
    ['the watches restarted', { epoch: 2 }, false],
    ['an event on its objects', { events: 6 }, false],
    ['the full comparison is due', { nowMs: 61_000 }, false],
  ];
  for (const [name, change, want] of cases) {
    it(`${name}: ${want}`, () => {
      assert.equal(watchesVouch({ ...base, ...change }), want);
    });
  }
});

describe('decideSync: sync, compare or skip', () => {
  const cases: [
    name: string,
    input: Parameters<typeof decideSync>[0],
    want: ReturnType<typeof decideSync>,
  ][] = [
    [
      'quiet wins',
      { quiet: true, operation: undefined, automated: true, selfHeal: true, newRevision: false },
      { kind: 'skip' },
    ],
    [
      'automated, a new commit: sync, hooks once',
      { quiet: false, operation: undefined, automated: true, selfHeal: false, newRevision: true },
      { kind: 'sync', forcePrune: false, hooks: 'once' },
    ],
    [
      'automated, same commit, no selfHeal: only compare',
      { quiet: false, operation: undefined, automated: true, selfHeal: false, newRevision: false },
      { kind: 'compare' },
    ],
    [
      'automated with selfHeal, same commit: sync',
      { quiet: false, operation: undefined, automated: true, selfHeal: true, newRevision: false },
      { kind: 'sync', forcePrune: false, hooks: 'once' },
    ],
    [
      'not automated: compare',
      { quiet: false, operation: undefined, automated: false, selfHeal: false, newRevision: true },
      { kind: 'compare' },
    ],
    [
      'a sync request without automation: sync, every hook',
      { quiet: false, operation: 'sync', automated: false, selfHeal: false, newRevision: false },
      { kind: 'sync', forcePrune: false, hooks: 'always' },
    ],
    [
      'a rollback prunes',
      { quiet: false, operation: 'rollback', automated: false, selfHeal: false, newRevision: true },
      { kind: 'sync', forcePrune: true, hooks: 'always' },
    ],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      assert.deepEqual(decideSync(input), want);
    });
  }
});

function entry(action: SyncEntry['action'], name: string, extra: Partial<SyncEntry> = {}): SyncEntry {
  return {
    id: { group: 'apps', kind: 'Deployment', namespace: 'ns', name },
    action,
    message: '',
    wave: 0,
    ...extra,
  };
}

function result(phase: SyncResult['phase'], entries: SyncEntry[]): SyncResult {
  return {
    application: 'ns.app',
    phase,
    message: phase === 'Failed' ? 'wave 0 failed' : '1 configured',
    digest: 'sha256:x',
    startedAt: now.toISOString(),
    finishedAt: now.toISOString(),
    dryRun: false,
    entries,
  };
}

describe('judgeSync: what a sync or a comparison found', () => {
  it('a comparison: in sync unless it found differences; nothing recorded', () => {
    const j = judgeSync({ result: undefined, outOfSync: true, newRevision: true, operation: undefined });
    assert.deepEqual(j, { synced: false, wrote: false, drift: [], recordHistory: false, pendingPrune: [] });
    assert.equal(
      judgeSync({ result: undefined, outOfSync: false, newRevision: false, operation: undefined }).synced,
      true,
    );
  });

  it('a sync of a selection is in sync only if the comparison of the whole render after it says so', () => {
    const r = {
      ...result('Succeeded', [entry('configured', 'web')]),
      resources: [{ group: 'apps', kind: 'Deployment', namespace: 'ns', name: 'web' }],
    };
    const still = judgeSync({ result: r, outOfSync: true, newRevision: false, operation: 'sync' });
    assert.equal(still.synced, false, 'another resource still differs');
    assert.equal(still.recordHistory, true);
    assert.deepEqual(still.drift, [], 'asked for, not drift');
    assert.equal(
      judgeSync({ result: r, outOfSync: false, newRevision: false, operation: 'sync' }).synced,
      true,
    );
  });

  it('a write on the same commit without a request is drift corrected, and recorded', () => {
    const r = result('Succeeded', [entry('configured', 'web'), entry('unchanged', 'db')]);
    const j = judgeSync({ result: r, outOfSync: false, newRevision: false, operation: undefined });
    assert.equal(j.synced, true);
    assert.equal(j.wrote, true);
    assert.deepEqual(
      j.drift.map((e) => e.id.name),
      ['web'],
    );
    assert.equal(j.recordHistory, true);
  });

  it('the same writes for a new commit or a request are no drift', () => {
    const r = result('Succeeded', [entry('created', 'web')]);
    assert.deepEqual(
      judgeSync({ result: r, outOfSync: false, newRevision: true, operation: undefined }).drift,
      [],
    );
    assert.deepEqual(
      judgeSync({ result: r, outOfSync: false, newRevision: false, operation: 'sync' }).drift,
      [],
    );
  });

  it('a sync that changed nothing on the same commit is not recorded', () => {
    const r = result('Succeeded', [entry('unchanged', 'web'), entry('skipped', 'db')]);
    const j = judgeSync({ result: r, outOfSync: false, newRevision: false, operation: undefined });
    assert.equal(j.recordHistory, false);
    assert.equal(j.wrote, false);
  });

  it('a failed sync is recorded and out of sync', () => {
    const r = result('Failed', [entry('failed', 'web')]);
    const j = judgeSync({ result: r, outOfSync: false, newRevision: false, operation: undefined });
    assert.equal(j.synced, false);
    assert.equal(j.recordHistory, true);
  });

  it('objects kept because prune is off keep it out of sync', () => {
    const r = result('Succeeded', [entry('skipped', 'old', { prunePending: true })]);
    const j = judgeSync({ result: r, outOfSync: false, newRevision: false, operation: undefined });
    assert.equal(j.synced, false);
    assert.deepEqual(j.pendingPrune, ['Deployment/ns/old']);
  });
});

describe('syncEvent: the event of a recorded sync', () => {
  const cases: [name: string, input: Parameters<typeof syncEvent>[0], want: ReturnType<typeof syncEvent>][] =
    [
      [
        'synced',
        { result: result('Succeeded', []), operation: undefined, drift: [], revision: A },
        { type: 'Normal', reason: 'Synced', message: `${A.slice(0, 12)}: 1 configured` },
      ],
      [
        'failed',
        { result: result('Failed', []), operation: 'rollback', drift: [], revision: A },
        { type: 'Warning', reason: 'SyncFailed', message: `${A.slice(0, 12)}: wave 0 failed` },
      ],
      [
        'rolled back',
        { result: result('Succeeded', []), operation: 'rollback', drift: [], revision: B },
        { type: 'Normal', reason: 'RolledBack', message: `${B.slice(0, 12)}: 1 configured` },
      ],
      [
        'drift corrected',
        {
          result: result('Succeeded', []),
          operation: undefined,
          drift: [entry('configured', 'web')],
          revision: C,
        },
        {
          type: 'Normal',
          reason: 'DriftCorrected',
          message: `drift corrected at ${C.slice(0, 12)}: Deployment/ns/web`,
        },
      ],
    ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      assert.deepEqual(syncEvent(input), want);
    });
  }
});

describe('resolutionNotBefore: how old a shared git resolution may be', () => {
  const base = { nowMs: 100_000, maxAgeMs: 5_000, requestTimes: [], createdMs: 10_000 };
  const cases: [name: string, input: Parameters<typeof resolutionNotBefore>[0], want: number][] = [
    ['a poll: a few seconds old', base, 95_000],
    ['a request: one that started after it', { ...base, requestTimes: [97_000, 98_500] }, 98_500],
    ['a request whose id says no time: a fresh one', { ...base, requestTimes: [undefined] }, 100_000],
    // Found while trying the README's first Application: created right after a push, it re-used a
    // resolution from before the push and was Stalled on a path that did not exist yet.
    ['an Application created a moment ago: none from before it', { ...base, createdMs: 99_000 }, 99_000],
    ['creation unknown: a poll', { ...base, createdMs: undefined }, 95_000],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      assert.equal(resolutionNotBefore(input), want);
    });
  }
});
