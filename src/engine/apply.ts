import { CapstanError, failureOf } from '../core/errors.ts';
import { FIELD_MANAGER } from '../core/ownership.ts';
import { formatId } from '../core/resource.ts';
import type { SyncEntry } from '../core/sync-result.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { Clock } from '../ports/clock.ts';
import { mapBounded } from './concurrency.ts';
import type { PlannedChange } from './plan.ts';

export interface ApplyContext {
  readonly cluster: Cluster;
  readonly clock: Clock;
  readonly forceConflicts: boolean;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly wave: number;
  readonly emit: (entry: SyncEntry) => void;
}

/**
 * Resolves the type of a change whose CRD was created earlier in this sync. A CRD is Established before
 * the API server's discovery lists its kind (two controllers of the API server, each in its own time),
 * so a kind not listed yet is looked up again until it is, or until the sync's time limit.
 */
async function typeOf(change: PlannedChange, ctx: ApplyContext): Promise<ResourceType> {
  if (change.prepared.type) return change.prepared.type;
  const { apiVersion, kind } = change.prepared.object;
  const deadline = ctx.clock.now().getTime() + newTypeWaitMs(ctx);
  for (;;) {
    const type = await ctx.cluster.resourceType(apiVersion, kind, { refresh: true });
    if (type) return type;
    if (ctx.clock.now().getTime() > deadline) {
      const subject = formatId(change.prepared.id);
      const detail = `the cluster still does not serve ${apiVersion} ${kind} ${Math.round(newTypeWaitMs(ctx) / 1000)} s after its CustomResourceDefinition was Established`;
      throw new CapstanError('KUBE_UNKNOWN_KIND', `${subject}: ${detail}`, { subject, detail });
    }
    await ctx.clock.sleep(NEW_TYPE_RETRY_MS);
  }
}

const NEW_TYPE_RETRY_MS = 250;
/** How long a new type may take to be served, within the sync's own limit. */
const newTypeWaitMs = (ctx: ApplyContext) => Math.min(ctx.timeoutMs, 60_000);

/**
 * Applies an object; for a type resolved in this sync (its CRD new), a 404 from the API server means
 * its handler is not installed yet, so it is tried again until the sync's time limit.
 */
async function applyObject(change: PlannedChange, type: ResourceType, ctx: ApplyContext): Promise<void> {
  const deadline = ctx.clock.now().getTime() + newTypeWaitMs(ctx);
  for (;;) {
    try {
      await ctx.cluster.apply(type, change.prepared.object, {
        fieldManager: FIELD_MANAGER,
        force: ctx.forceConflicts,
      });
      return;
    } catch (error) {
      const newType = change.prepared.type === undefined;
      const notServed = error instanceof CapstanError && error.code === 'KUBE_NOT_FOUND';
      if (!newType || !notServed || ctx.clock.now().getTime() > deadline) throw error;
      await ctx.clock.sleep(NEW_TYPE_RETRY_MS);
    }
  }
}

/** Deletes an object and waits until it is gone (for replace and for hooks). */
export async function deleteAndWait(
  cluster: Cluster,
  clock: Clock,
  type: ResourceType,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<void> {
  await cluster.delete(type, namespace, name, { propagationPolicy: 'Foreground' });
  const deadline = clock.now().getTime() + timeoutMs;
  while (await cluster.get(type, namespace, name)) {
    if (clock.now().getTime() > deadline) {
      throw new CapstanError(
        'SYNC_TIMEOUT',
        `${type.kind}/${namespace ? `${namespace}/` : ''}${name} was not deleted within ${timeoutMs} ms (finalizers?)`,
        { retryable: true },
      );
    }
    await clock.sleep(250);
  }
}

/** Applies the changes of one wave (unchanged ones are reported, not applied). Returns the entries. */
export async function applyWave(changes: readonly PlannedChange[], ctx: ApplyContext): Promise<SyncEntry[]> {
  return mapBounded(changes, ctx.concurrency, async (change): Promise<SyncEntry> => {
    const { id } = change.prepared;
    const base = { id, wave: ctx.wave };
    let entry: SyncEntry;
    if (change.action === 'unchanged') {
      entry = { ...base, action: 'unchanged', message: '' };
    } else {
      try {
        const type = await typeOf(change, ctx);
        if (change.action === 'replace') {
          await deleteAndWait(ctx.cluster, ctx.clock, type, id.namespace, id.name, ctx.timeoutMs);
        }
        await applyObject(change, type, ctx);
        entry =
          change.action === 'configure'
            ? { ...base, action: 'configured', message: changedPaths(change) }
            : {
                ...base,
                action: 'created',
                message:
                  change.action === 'replace'
                    ? 'replaced: deleted and re-created (an immutable field changed)'
                    : '',
              };
      } catch (error) {
        entry = { ...base, action: 'failed', ...failureOf(error) };
      }
    }
    ctx.emit(entry);
    return entry;
  });
}

/** A short description of what changed: the first two levels of the fields whose lines differ. */
function changedPaths(change: PlannedChange): string {
  const fields = new Set<string>();
  let top = '';
  let second = '';
  for (const line of change.diff.unified.split('\n')) {
    if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('@@')) continue;
    const topKey = /^[ +-]([A-Za-z][\w.-]*):/.exec(line)?.[1];
    const secondKey = /^[ +-] {2}([A-Za-z][\w.-]*):/.exec(line)?.[1];
    if (topKey) {
      top = topKey;
      second = '';
    } else if (secondKey) {
      second = secondKey;
    }
    if (line.startsWith('+') || line.startsWith('-'))
      fields.add(second ? `${top}.${second}` : top || 'object');
  }
  const list = [...fields];
  return list.length > 0
    ? `changed ${list.slice(0, 4).join(', ')}${list.length > 4 ? ', …' : ''}`
    : 'changed';
}
