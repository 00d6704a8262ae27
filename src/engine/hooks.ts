import { failureOf } from '../core/errors.ts';
import type { Health } from '../core/health.ts';
import { HOOK_DIGEST_ANNOTATION, HOOK_PHASE_ANNOTATION, type Wave } from '../core/ordering.ts';
import type { KubeObject, ResourceId } from '../core/resource.ts';
import { FIELD_MANAGER } from '../core/ownership.ts';
import { formatId, keyOf } from '../core/resource.ts';
import type { HookPhase, SyncEntry } from '../core/sync-result.ts';
import { deleteAndWait } from './apply.ts';
import type { SyncDeps } from './context.ts';
import type { PreparedObject } from './prepare.ts';
import { waitForHealth } from './wait.ts';

export interface HookContext {
  readonly deps: SyncDeps;
  readonly prepared: ReadonlyMap<string, PreparedObject>;
  readonly timeoutMs: number;
  readonly emit: (entry: SyncEntry) => void;
  /** The desired state's digest: each hook is marked with it (HOOK_DIGEST_ANNOTATION). */
  readonly digest: string;
  /**
   * Set when each hook runs once per desired state (the agent's automated syncs): a hook that already
   * completed for this digest in this phase — recorded here, or still present with its marks — is
   * reported unchanged, not run again; one that completes is recorded before any delete policy applies.
   */
  readonly completed?: CompletedHooks;
  /** Ends the wait for a hook early; the caller then stops the sync (see `sync`). */
  readonly signal?: AbortSignal;
}

/** The hooks that completed for the desired state being synced, kept where a resumed sync finds them. */
export interface CompletedHooks {
  has(phase: HookPhase, id: ResourceId): boolean;
  record(phase: HookPhase, id: ResourceId): Promise<void>;
}

/**
 * Runs the hooks of one phase, wave by wave: each is (re-)created — an existing one is deleted first
 * under BeforeHookCreation — and waited for until it completes (Healthy) or fails (Degraded); with
 * `completed`, one that already completed for this desired state is reported unchanged. Returns
 * the entries and whether every hook succeeded; a failed hook stops the phase.
 */
export async function runHooks(
  phase: HookPhase,
  waves: readonly Wave[],
  ctx: HookContext,
): Promise<{ entries: SyncEntry[]; ok: boolean }> {
  const entries: SyncEntry[] = [];
  const { cluster, clock, assessHealth } = ctx.deps;
  for (const wave of waves) {
    for (const hook of wave.objects) {
      const prepared = ctx.prepared.get(keyOf(hook.id));
      const type =
        prepared?.type ??
        (await cluster.resourceType(hook.object.apiVersion, hook.object.kind, { refresh: true }));
      const policies = hook.hook?.deletePolicies ?? [];
      const base = { id: hook.id, wave: wave.wave, hook: phase };
      let entry: SyncEntry;
      if (!type || !prepared) {
        entry = {
          ...base,
          action: 'failed',
          message: `the cluster does not serve ${hook.object.apiVersion} ${hook.object.kind}`,
        };
      } else {
        try {
          const recorded = ctx.completed?.has(phase, hook.id) === true;
          const live = recorded ? undefined : await cluster.get(type, hook.id.namespace, hook.id.name);
          const done = ctx.completed ? completedFor(live, ctx.digest, phase, assessHealth) : undefined;
          if (recorded || done) {
            entry = {
              ...base,
              action: 'unchanged',
              message: `${phase} hook already completed`,
              ...(done ? { health: done } : {}),
            };
            ctx.emit(entry);
            entries.push(entry);
            continue;
          }
          if (policies.includes('BeforeHookCreation') && live) {
            await deleteAndWait(cluster, clock, type, hook.id.namespace, hook.id.name, ctx.timeoutMs);
          }
          await cluster.apply(type, withMarks(prepared.object, ctx.digest, phase), {
            fieldManager: FIELD_MANAGER,
            force: true,
          });
          const outcome = await waitForHealth([{ id: hook.id, type }], {
            cluster,
            clock,
            assessHealth,
            timeoutMs: ctx.timeoutMs,
            intervalMs: 500,
            ...(ctx.signal ? { signal: ctx.signal } : {}),
          });
          // Cancelled while waiting: neither succeeded nor failed; the caller stops the sync.
          if (ctx.signal?.aborted === true) return { entries, ok: false };
          const health = outcome.health.get(formatId(hook.id));
          const succeeded = outcome.healthy;
          entry = {
            ...base,
            action: succeeded ? 'created' : 'failed',
            message: succeeded
              ? `${phase} hook completed`
              : `${phase} hook ${outcome.timedOut ? 'did not complete in time' : 'failed'}: ${outcome.pending.join('; ')}`,
            ...(health ? { health } : {}),
          };
          if (succeeded) await ctx.completed?.record(phase, hook.id);
          if (
            (succeeded && policies.includes('HookSucceeded')) ||
            (!succeeded && policies.includes('HookFailed'))
          ) {
            await cluster.delete(type, hook.id.namespace, hook.id.name, { propagationPolicy: 'Background' });
          }
        } catch (error) {
          entry = { ...base, action: 'failed', ...failureOf(error) };
        }
      }
      ctx.emit(entry);
      entries.push(entry);
      if (entry.action === 'failed') return { entries, ok: false };
    }
  }
  return { entries, ok: true };
}

/** Marks a hook with the desired state and the phase it runs for (see completedFor). */
function withMarks(object: KubeObject, digest: string, phase: HookPhase): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: {
        ...object.metadata.annotations,
        [HOOK_DIGEST_ANNOTATION]: digest,
        [HOOK_PHASE_ANNOTATION]: phase,
      },
    },
  };
}

/**
 * The health of a hook that ran to completion for this desired state in this phase (a hook of two
 * phases runs in each); undefined when it must run. A hook marked before the phase was (no phase
 * mark) counts for any phase.
 */
function completedFor(
  live: KubeObject | undefined,
  digest: string,
  phase: HookPhase,
  assessHealth: SyncDeps['assessHealth'],
): Health | undefined {
  const marks = live?.metadata.annotations;
  if (!live || marks?.[HOOK_DIGEST_ANNOTATION] !== digest) return undefined;
  const markedPhase = marks[HOOK_PHASE_ANNOTATION];
  if (markedPhase !== undefined && markedPhase !== phase) return undefined;
  const health = assessHealth(live);
  return health.status === 'Healthy' ? health : undefined;
}
