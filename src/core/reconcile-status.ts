import type { ConditionInput } from './conditions.ts';
import type { ErrorCode } from './errors.ts';
import type { Health } from './health.ts';
import { shortRevision } from './revision.ts';

/**
 * Where one reconcile of an Application ended, as far as its conditions tell: the input of
 * `computeConditions`.
 */
export type ReconcileState =
  | { readonly kind: 'InvalidSpec'; readonly errors: readonly string[] }
  | { readonly kind: 'Suspended' }
  | { readonly kind: 'DependencyNotReady'; readonly waitingFor: readonly string[] }
  | { readonly kind: 'RollbackFailed'; readonly message: string }
  | {
      readonly kind: 'Reconciled';
      /** The sync that ran, if one did (undefined: compared or skipped). */
      readonly sync: { readonly phase: 'Succeeded' | 'Failed'; readonly message: string } | undefined;
      readonly synced: boolean;
      /** Objects kept because prune is off (see SyncJudgement.pendingPrune). */
      readonly pendingPrune: readonly string[];
      readonly automated: boolean;
      readonly revision: string;
      readonly health: Health;
    }
  /** A terminal error: a new commit or spec is needed. */
  | { readonly kind: 'Stalled'; readonly code: ErrorCode; readonly message: string }
  /** A transient error: the queue retries with backoff. */
  | { readonly kind: 'Retrying'; readonly message: string };

/**
 * The conditions an Application's status gets for where its reconcile ended, in Kubernetes conventions
 * (Ready, Reconciling, Stalled) so that generic tools read them, as kstatus's Compute does. A condition
 * left out keeps its previous value.
 */
export function computeConditions(state: ReconcileState): ConditionInput[] {
  switch (state.kind) {
    case 'InvalidSpec': {
      const errors = state.errors.join('; ');
      return [
        { type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: errors },
        {
          type: 'Ready',
          status: 'False',
          reason: 'InvalidSpec',
          message: `the spec is not valid: ${errors}`,
        },
        { type: 'Reconciling', status: 'False', reason: 'InvalidSpec', message: 'waiting for a valid spec' },
      ];
    }
    case 'Suspended':
      return [{ type: 'Reconciling', status: 'False', reason: 'Suspended', message: 'spec.suspend is true' }];
    case 'DependencyNotReady': {
      const message = `waiting for ${state.waitingFor.join(', ')}`;
      return [
        { type: 'Reconciling', status: 'True', reason: 'DependencyNotReady', message },
        { type: 'Ready', status: 'False', reason: 'DependencyNotReady', message },
      ];
    }
    case 'RollbackFailed':
      return [{ type: 'Ready', status: 'False', reason: 'RollbackFailed', message: state.message }];
    case 'Reconciled': {
      const progressing = state.health.status === 'Progressing';
      return [
        readyCondition(state),
        {
          type: 'Reconciling',
          status: progressing ? 'True' : 'False',
          reason: progressing ? 'Progressing' : 'Reconciled',
          message: progressing ? state.health.message : '',
        },
        { type: 'Stalled', status: 'False', reason: 'Reconciled', message: '' },
      ];
    }
    case 'Stalled': {
      const reason = reasonOf(state.code);
      return [
        { type: 'Stalled', status: 'True', reason, message: state.message },
        { type: 'Ready', status: 'False', reason, message: state.message },
        { type: 'Reconciling', status: 'False', reason, message: 'waiting for a new commit or spec' },
      ];
    }
    case 'Retrying':
      return [
        { type: 'Ready', status: 'False', reason: 'Retrying', message: state.message },
        { type: 'Reconciling', status: 'True', reason: 'Retrying', message: state.message },
      ];
  }
}

/** Ready after a reconcile: the failed sync, else out of sync (and why), else the health. */
function readyCondition(state: Extract<ReconcileState, { kind: 'Reconciled' }>): ConditionInput {
  if (state.sync?.phase === 'Failed')
    return { type: 'Ready', status: 'False', reason: 'SyncFailed', message: state.sync.message };
  if (!state.synced) {
    const kept = state.pendingPrune;
    return {
      type: 'Ready',
      status: 'False',
      reason: 'OutOfSync',
      message:
        kept.length > 0
          ? `no longer in Git but kept because prune is off: ${kept.slice(0, 10).join(', ')}${kept.length > 10 ? ', …' : ''}`
          : state.automated
            ? 'out of sync'
            : 'out of sync; automated sync is off: sync it by request',
    };
  }
  if (state.health.status === 'Healthy')
    return {
      type: 'Ready',
      status: 'True',
      reason: 'Synced',
      message: `synced to ${shortRevision(state.revision)} and healthy`,
    };
  return {
    type: 'Ready',
    status: 'False',
    reason: state.health.status,
    message: state.health.message || state.health.status,
  };
}

/** A condition reason from an error code: SOURCE_AUTH_FAILED → SourceAuthFailed. */
export function reasonOf(code: ErrorCode): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
    .join('');
}
