import { CapstanError, failureOf } from '../core/errors.ts';
import type { OrderedObject, Wave } from '../core/ordering.ts';
import { FIELD_MANAGER } from '../core/ownership.ts';
import type { ResourceId } from '../core/resource.ts';
import type { HookPhase } from '../core/sync-result.ts';
import { applyWave } from './apply.ts';
import { runHooks } from './hooks.ts';
import { changesOf, stopIfCancelled, untilHealthy, type SyncRun } from './sync-run.ts';

/** What applying the desired state did: the resources written, and why it stopped if it did. */
export interface ApplyOutcome {
  /** Resources created or configured (they are owned now, whatever happens next). */
  readonly applied: readonly ResourceId[];
  /** Set when a step failed: the sync stops there, and nothing is pruned. */
  readonly failure?: string;
}

/**
 * Applies the desired state in order: the namespaces to create, then Namespaces and CRDs, PreSync
 * hooks, the waves with their Sync hooks, PostSync hooks. Stops at the first step that fails.
 */
export async function applyDesired(run: SyncRun): Promise<ApplyOutcome> {
  const applied: ResourceId[] = [];
  const steps = [createNamespaces, applyBootstrap, runPreSync, applyWaves, runPostSync];
  for (const step of steps) {
    const outcome = await step(run);
    applied.push(...outcome.applied);
    if (outcome.failure !== undefined) return { applied, failure: outcome.failure };
  }
  return { applied };
}

/** The CreateNamespace option: namespaces the objects need, created but never owned (never pruned). */
async function createNamespaces(run: SyncRun): Promise<ApplyOutcome> {
  const { missingNamespaces } = run.planned;
  stopIfCancelled(run.options);
  if (missingNamespaces.length === 0) return { applied: [] };
  run.changes.step(`creating ${missingNamespaces.length} namespace(s): ${missingNamespaces.join(', ')}`);
  const nsType = await run.deps.cluster.resourceType('v1', 'Namespace');
  for (const name of missingNamespaces) {
    const id = { group: '', kind: 'Namespace', namespace: '', name };
    try {
      if (!nsType) throw new CapstanError('KUBE_DISCOVERY', 'the cluster does not serve v1 Namespace');
      await run.deps.cluster.apply(
        nsType,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
        { fieldManager: FIELD_MANAGER },
      );
      run.changes.add({
        id,
        wave: 0,
        action: 'created',
        message: 'created by the CreateNamespace option (not owned, never pruned)',
      });
    } catch (error) {
      run.changes.add({ id, wave: 0, action: 'failed', ...failureOf(error) });
      return { applied: [], failure: `creating namespace ${name} failed` };
    }
  }
  return { applied: [] };
}

/** Applies objects of one wave; the ids written, and whether all succeeded. */
async function applyObjects(
  run: SyncRun,
  objects: readonly OrderedObject[],
  wave: number,
): Promise<{ applied: ResourceId[]; ok: boolean }> {
  const entries = await applyWave(changesOf(run, objects), {
    cluster: run.deps.cluster,
    clock: run.deps.clock,
    forceConflicts: run.options.forceConflicts === true,
    concurrency: run.concurrency,
    timeoutMs: run.timeoutMs,
    wave,
    emit: run.changes.add,
  });
  return {
    applied: entries.filter((e) => e.action === 'created' || e.action === 'configured').map((e) => e.id),
    ok: !entries.some((e) => e.action === 'failed'),
  };
}

/** Namespaces and CRDs first; CRDs must be Established before their custom resources are applied. */
async function applyBootstrap(run: SyncRun): Promise<ApplyOutcome> {
  const { bootstrap } = run.planned.order;
  if (bootstrap.length === 0) return { applied: [] };
  run.changes.step(`applying ${bootstrap.length} Namespace(s) and CustomResourceDefinition(s)`);
  const { applied, ok } = await applyObjects(run, bootstrap, 0);
  if (!ok)
    return {
      applied,
      failure: 'applying Namespaces or CustomResourceDefinitions failed; nothing was pruned',
    };
  const crds = bootstrap.filter((o) => o.id.kind === 'CustomResourceDefinition');
  const notReady = await untilHealthy(run, crds, 'the CustomResourceDefinitions');
  return notReady === undefined ? { applied } : { applied, failure: notReady };
}

/** Runs the hooks of one phase when this sync runs hooks; whether they all succeeded. */
async function hookPhase(run: SyncRun, phase: HookPhase, waves: readonly Wave[]): Promise<boolean> {
  if (!run.runHookPhases || waves.length === 0) return true;
  if (phase !== 'Sync') run.changes.step(`running ${phase} hooks`);
  const outcome = await runHooks(phase, waves, run.hooks);
  stopIfCancelled(run.options);
  return outcome.ok;
}

/** PreSync hooks: a failure stops the sync before any other change. */
async function runPreSync(run: SyncRun): Promise<ApplyOutcome> {
  const ok = await hookPhase(run, 'PreSync', run.planned.order.phases.PreSync);
  return ok
    ? { applied: [] }
    : { applied: [], failure: 'a PreSync hook failed; the sync stopped before applying anything else' };
}

/** Waves in order, each with its Sync hooks; each wave is healthy before the next one starts. */
async function applyWaves(run: SyncRun): Promise<ApplyOutcome> {
  const waves = run.planned.order.phases.Sync;
  const postSyncFollows = run.runHookPhases && run.planned.order.phases.PostSync.length > 0;
  const applied: ResourceId[] = [];
  for (const [index, wave] of waves.entries()) {
    const objects = wave.objects.filter((o) => !o.hook);
    const hooks = wave.objects.filter((o) => o.hook);
    stopIfCancelled(run.options);
    run.changes.step(`applying wave ${wave.wave}: ${objects.length} object(s)`);
    const written = await applyObjects(run, objects, wave.wave);
    applied.push(...written.applied);
    if (!written.ok)
      return {
        applied,
        failure: `applying wave ${wave.wave} failed; later waves were not applied and nothing was pruned`,
      };
    const syncHooks: Wave[] = hooks.length > 0 ? [{ wave: wave.wave, objects: hooks }] : [];
    if (!(await hookPhase(run, 'Sync', syncHooks)))
      return { applied, failure: `a Sync hook of wave ${wave.wave} failed` };
    if (index < waves.length - 1 || postSyncFollows) {
      const unhealthy = await untilHealthy(run, objects, `wave ${wave.wave}`);
      if (unhealthy) return { applied, failure: `${unhealthy}; later waves were not applied` };
    }
  }
  return { applied };
}

/** PostSync hooks, once everything is healthy. */
async function runPostSync(run: SyncRun): Promise<ApplyOutcome> {
  const ok = await hookPhase(run, 'PostSync', run.planned.order.phases.PostSync);
  return ok ? { applied: [] } : { applied: [], failure: 'a PostSync hook failed' };
}
