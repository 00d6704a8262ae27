import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeConditions, reasonOf, type ReconcileState } from '../../../src/core/reconcile-status.ts';

/** `Type=Status/Reason: message`, one per condition, sorted by type. */
function rows(state: ReconcileState): string[] {
  return computeConditions(state)
    .map((c) => `${c.type}=${c.status}/${c.reason}: ${c.message}`)
    .sort();
}

const REVISION = '0123456789abcdef0123456789abcdef01234567';
const reconciled = {
  kind: 'Reconciled',
  sync: undefined,
  synced: true,
  pendingPrune: [],
  automated: true,
  revision: REVISION,
  health: { status: 'Healthy', message: '' },
} as const satisfies ReconcileState;

describe('computeConditions: Ready, Reconciling and Stalled from where a reconcile ended', () => {
  const cases: [name: string, state: ReconcileState, want: string[]][] = [
    [
      'an invalid spec stalls',
      { kind: 'InvalidSpec', errors: ['spec.source.repoURL: required', 'spec.interval: too short'] },
      [
        'Ready=False/InvalidSpec: the spec is not valid: spec.source.repoURL: required; spec.interval: too short',
        'Reconciling=False/InvalidSpec: waiting for a valid spec',
        'Stalled=True/InvalidSpec: spec.source.repoURL: required; spec.interval: too short',
      ],
    ],
    [
      'suspended: only Reconciling',
      { kind: 'Suspended' },
      ['Reconciling=False/Suspended: spec.suspend is true'],
    ],
    [
      'waiting for dependencies',
      { kind: 'DependencyNotReady', waitingFor: ['Application/a/db (OutOfSync, Unknown)'] },
      [
        'Ready=False/DependencyNotReady: waiting for Application/a/db (OutOfSync, Unknown)',
        'Reconciling=True/DependencyNotReady: waiting for Application/a/db (OutOfSync, Unknown)',
      ],
    ],
    [
      'a rollback with no target',
      { kind: 'RollbackFailed', message: "no successful sync to roll back to for '7'" },
      ["Ready=False/RollbackFailed: no successful sync to roll back to for '7'"],
    ],
    [
      'synced and healthy: Ready',
      reconciled,
      [
        'Ready=True/Synced: synced to 0123456789ab and healthy',
        'Reconciling=False/Reconciled: ',
        'Stalled=False/Reconciled: ',
      ],
    ],
    [
      'synced and progressing: Reconciling',
      { ...reconciled, health: { status: 'Progressing', message: '1/2 replicas ready' } },
      [
        'Ready=False/Progressing: 1/2 replicas ready',
        'Reconciling=True/Progressing: 1/2 replicas ready',
        'Stalled=False/Reconciled: ',
      ],
    ],
    [
      'synced, degraded without a message: the status is the message',
      { ...reconciled, health: { status: 'Degraded', message: '' } },
      ['Ready=False/Degraded: Degraded', 'Reconciling=False/Reconciled: ', 'Stalled=False/Reconciled: '],
    ],
    [
      'a failed sync',
      { ...reconciled, sync: { phase: 'Failed', message: 'wave 0 failed' }, synced: false },
      [
        'Ready=False/SyncFailed: wave 0 failed',
        'Reconciling=False/Reconciled: ',
        'Stalled=False/Reconciled: ',
      ],
    ],
    [
      'out of sync, automated',
      { ...reconciled, synced: false },
      ['Ready=False/OutOfSync: out of sync', 'Reconciling=False/Reconciled: ', 'Stalled=False/Reconciled: '],
    ],
    [
      'out of sync, not automated: says how to sync',
      { ...reconciled, synced: false, automated: false },
      [
        'Ready=False/OutOfSync: out of sync; automated sync is off: sync it by request',
        'Reconciling=False/Reconciled: ',
        'Stalled=False/Reconciled: ',
      ],
    ],
    [
      'objects kept because prune is off: named, ten at most',
      {
        ...reconciled,
        synced: false,
        pendingPrune: Array.from({ length: 11 }, (_, i) => `ConfigMap/ns/c${i}`),
      },
      [
        `Ready=False/OutOfSync: no longer in Git but kept because prune is off: ${Array.from({ length: 10 }, (_, i) => `ConfigMap/ns/c${i}`).join(', ')}, …`,
        'Reconciling=False/Reconciled: ',
        'Stalled=False/Reconciled: ',
      ],
    ],
    [
      'a terminal error stalls, with a reason from its code',
      { kind: 'Stalled', code: 'SOURCE_AUTH_FAILED', message: 'the git server refused the credentials' },
      [
        'Ready=False/SourceAuthFailed: the git server refused the credentials',
        'Reconciling=False/SourceAuthFailed: waiting for a new commit or spec',
        'Stalled=True/SourceAuthFailed: the git server refused the credentials',
      ],
    ],
    [
      'a transient error: retrying',
      { kind: 'Retrying', message: 'connection refused' },
      ['Ready=False/Retrying: connection refused', 'Reconciling=True/Retrying: connection refused'],
    ],
  ];
  for (const [name, state, want] of cases) {
    it(name, () => {
      assert.deepEqual(rows(state), want);
    });
  }

  it('reasonOf makes a CamelCase reason of an error code', () => {
    assert.equal(reasonOf('RENDER_TOOL_FAILED'), 'RenderToolFailed');
    assert.equal(reasonOf('USAGE'), 'Usage');
  });
});
