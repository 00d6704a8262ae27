import { messageOf } from '../core/errors.ts';
import type { Health } from '../core/health.ts';
import { HOOK_DIGEST_ANNOTATION, type Wave } from '../core/ordering.ts';
import type { KubeObject } from '../core/resource.ts';
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
  /** A hook that already completed for this digest (and still exists) is reported unchanged, not run again. */
  readonly skipCompleted: boolean;
  /** Ends the wait for a hook early; the caller then stops the sync (see `sync`). */
  readonly signal?: AbortSignal;
}

/**
 * Runs the hooks of one phase, wave by wave: each is (re-)created — an existing one is deleted first
 * under BeforeHookCreation — and waited for until it completes (Healthy) or fails (Degraded); with
 * `skipCompleted`, one that already completed for this desired state is reported unchanged. Returns
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
          const live = await cluster.get(type, hook.id.namespace, hook.id.name);
          const done = ctx.skipCompleted ? completedFor(live, ctx.digest, assessHealth) : undefined;
          if (done) {
            entry = {
              ...base,
              action: 'unchanged',
              message: `${phase} hook already completed`,
              health: done,
            };
            ctx.emit(entry);
            entries.push(entry);
            continue;
          }
          if (policies.includes('BeforeHookCreation') && live) {
            await deleteAndWait(cluster, clock, type, hook.id.namespace, hook.id.name, ctx.timeoutMs);
          }
          await cluster.apply(type, withDigest(prepared.object, ctx.digest), {
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
          if (
            (succeeded && policies.includes('HookSucceeded')) ||
            (!succeeded && policies.includes('HookFailed'))
          ) {
            await cluster.delete(type, hook.id.namespace, hook.id.name, { propagationPolicy: 'Background' });
          }
        } catch (error) {
          entry = {
            ...base,
            action: 'failed',
            message: messageOf(error).replace(`${formatId(hook.id)}: `, ''),
          };
        }
      }
      ctx.emit(entry);
      entries.push(entry);
      if (entry.action === 'failed') return { entries, ok: false };
    }
  }
  return { entries, ok: true };
}

function withDigest(object: KubeObject, digest: string): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { ...object.metadata.annotations, [HOOK_DIGEST_ANNOTATION]: digest },
    },
  };
}

/** The health of a hook that ran to completion for this desired state; undefined when it must run. */
function completedFor(
  live: KubeObject | undefined,
  digest: string,
  assessHealth: SyncDeps['assessHealth'],
): Health | undefined {
  if (live?.metadata.annotations?.[HOOK_DIGEST_ANNOTATION] !== digest) return undefined;
  const health = assessHealth(live);
  return health.status === 'Healthy' ? health : undefined;
}
