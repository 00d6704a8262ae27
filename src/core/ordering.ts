import { CapstanError } from './errors.ts';
import type { KubeObject, ResourceId } from './resource.ts';
import { formatId, groupOf, idOf } from './resource.ts';
import type { HookPhase } from './sync-result.ts';

/**
 * The order of a sync: Namespaces and CRDs first (everything else may need them), then the hook phases
 * PreSync → Sync → PostSync (SyncFail only when the sync failed); inside a phase, sync waves ascending;
 * inside a wave, kinds in dependency order, then namespace and name.
 */
export const WAVE_ANNOTATION = 'capstan.dev/sync-wave';
export const HOOK_ANNOTATION = 'capstan.dev/hook';
export const HOOK_DELETE_POLICY_ANNOTATION = 'capstan.dev/hook-delete-policy';
/** Set on a hook when it is created: the digest of the desired state it ran for (see SyncOptions.hooks). */
export const HOOK_DIGEST_ANNOTATION = 'capstan.dev/hook-digest';
/** Set on a hook when it is created: the phase it ran for (a hook may be of several phases). */
export const HOOK_PHASE_ANNOTATION = 'capstan.dev/hook-phase';
/** Argo CD's annotations of the same meaning, honoured as Argo CD documents them (after Capstan's own). */
export const ARGOCD_WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';
export const ARGOCD_HOOK_ANNOTATION = 'argocd.argoproj.io/hook';
export const ARGOCD_HOOK_DELETE_POLICY_ANNOTATION = 'argocd.argoproj.io/hook-delete-policy';

export type HookDeletePolicy = 'BeforeHookCreation' | 'HookSucceeded' | 'HookFailed';

/** Kinds in the order they are applied: what others refer to comes first. Unknown kinds come last. */
const KIND_ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'PriorityClass',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'IngressClass',
  'Ingress',
  'APIService',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
];
const KIND_RANK = new Map(KIND_ORDER.map((kind, i) => [kind, i]));

export function kindRank(kind: string): number {
  return KIND_RANK.get(kind) ?? KIND_ORDER.length;
}

export interface HookSpec {
  readonly phases: readonly HookPhase[];
  readonly deletePolicies: readonly HookDeletePolicy[];
}

export interface OrderedObject {
  readonly id: ResourceId;
  readonly object: KubeObject;
  readonly wave: number;
  /** Set when the object is a hook: it runs in its phases and is not part of the inventory. */
  readonly hook?: HookSpec;
}

export interface Wave {
  readonly wave: number;
  readonly objects: readonly OrderedObject[];
}

export interface SyncOrder {
  /** Namespaces and CustomResourceDefinitions that are not hooks, applied before anything else. */
  readonly bootstrap: readonly OrderedObject[];
  readonly phases: Readonly<Record<HookPhase, readonly Wave[]>>;
}

const HELM_HOOKS: Record<string, HookPhase> = {
  'pre-install': 'PreSync',
  'pre-upgrade': 'PreSync',
  'post-install': 'PostSync',
  'post-upgrade': 'PostSync',
};
const HELM_DELETE_POLICIES: Record<string, HookDeletePolicy> = {
  'before-hook-creation': 'BeforeHookCreation',
  'hook-succeeded': 'HookSucceeded',
  'hook-failed': 'HookFailed',
};
const PHASES: readonly HookPhase[] = ['PreSync', 'Sync', 'PostSync', 'SyncFail'];
/** Argo CD's `Skip`: the object is not applied at all. */
const SKIP = 'Skip';
const POLICIES: readonly HookDeletePolicy[] = ['BeforeHookCreation', 'HookSucceeded', 'HookFailed'];

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The sync wave of an object: an integer annotation (capstan.dev/sync-wave, else Argo CD's
 * argocd.argoproj.io/sync-wave, else helm.sh/hook-weight), 0 by default.
 */
export function waveOf(object: KubeObject): number {
  const annotations = object.metadata.annotations ?? {};
  const name = [WAVE_ANNOTATION, ARGOCD_WAVE_ANNOTATION, 'helm.sh/hook-weight'].find(
    (a) => annotations[a] !== undefined,
  );
  const raw = name === undefined ? undefined : annotations[name];
  if (raw === undefined) return 0;
  const wave = Number(raw.trim());
  if (!Number.isSafeInteger(wave) || raw.trim() === '') {
    throw new CapstanError(
      'INVALID_SYNC_WAVE',
      `${formatId(idOf(object))}: ${name ?? WAVE_ANNOTATION} must be an integer, not '${raw}'`,
      {
        subject: formatId(idOf(object)),
      },
    );
  }
  return wave;
}

/**
 * The hook phases and delete policies of an object, or undefined when it is not a hook. Capstan's
 * annotations first, then Argo CD's (argocd.argoproj.io/hook: PreSync, Sync, PostSync, SyncFail, and
 * Skip, which leaves the object out), then Helm's. A hook without a delete policy gets
 * BeforeHookCreation, as in Argo CD. No phases (Skip, Helm test hooks): the object is not applied.
 */
export function hookOf(object: KubeObject): HookSpec | undefined {
  const annotations = object.metadata.annotations ?? {};
  if (annotations[HOOK_ANNOTATION] !== undefined)
    return annotatedHook(object, HOOK_ANNOTATION, HOOK_DELETE_POLICY_ANNOTATION);
  if (annotations[ARGOCD_HOOK_ANNOTATION] !== undefined)
    return annotatedHook(object, ARGOCD_HOOK_ANNOTATION, ARGOCD_HOOK_DELETE_POLICY_ANNOTATION);
  if (annotations['helm.sh/hook'] !== undefined) return helmHook(annotations);
  return undefined;
}

/** A hook declared the Capstan or the Argo CD way: the same phases and policies under two prefixes. */
function annotatedHook(object: KubeObject, hookAnnotation: string, policyAnnotation: string): HookSpec {
  const annotations = object.metadata.annotations ?? {};
  const subject = formatId(idOf(object));
  const named = list(annotations[hookAnnotation]);
  if (named.length === 0)
    throw new CapstanError('INVALID_HOOK', `${subject}: ${hookAnnotation} names no phase`, { subject });
  const phases: HookPhase[] = [];
  for (const p of named) {
    if (p === SKIP) continue;
    if (!PHASES.includes(p as HookPhase)) {
      throw new CapstanError(
        'INVALID_HOOK',
        `${subject}: ${hookAnnotation} '${p}' is not one of ${[...PHASES, SKIP].join(', ')}`,
        { subject },
      );
    }
    phases.push(p as HookPhase);
  }
  if (named.includes(SKIP)) return { phases: [], deletePolicies: [] };
  const policies: HookDeletePolicy[] = [];
  for (const p of list(annotations[policyAnnotation])) {
    if (!POLICIES.includes(p as HookDeletePolicy)) {
      throw new CapstanError(
        'INVALID_HOOK',
        `${subject}: ${policyAnnotation} '${p}' is not one of ${POLICIES.join(', ')}`,
        { subject },
      );
    }
    policies.push(p as HookDeletePolicy);
  }
  return { phases, deletePolicies: policies.length > 0 ? policies : ['BeforeHookCreation'] };
}

/** Helm's install and upgrade hooks; test, delete and rollback hooks have no place in a GitOps sync. */
function helmHook(annotations: Record<string, string>): HookSpec {
  const phases = [
    ...new Set(list(annotations['helm.sh/hook']).flatMap((h) => (HELM_HOOKS[h] ? [HELM_HOOKS[h]] : []))),
  ];
  if (phases.length === 0) return { phases: [], deletePolicies: [] };
  const policies = list(annotations['helm.sh/hook-delete-policy']).flatMap((p) =>
    HELM_DELETE_POLICIES[p] ? [HELM_DELETE_POLICIES[p]] : [],
  );
  return { phases, deletePolicies: policies.length > 0 ? policies : ['BeforeHookCreation'] };
}

function compareObjects(a: OrderedObject, b: OrderedObject): number {
  return (
    kindRank(a.id.kind) - kindRank(b.id.kind) ||
    a.id.kind.localeCompare(b.id.kind) ||
    a.id.namespace.localeCompare(b.id.namespace) ||
    a.id.name.localeCompare(b.id.name)
  );
}

function toWaves(objects: readonly OrderedObject[]): Wave[] {
  const byWave = new Map<number, OrderedObject[]>();
  for (const o of objects) byWave.set(o.wave, [...(byWave.get(o.wave) ?? []), o]);
  return [...byWave.entries()]
    .sort(([a], [b]) => a - b)
    .map(([wave, list]) => ({ wave, objects: [...list].sort(compareObjects) }));
}

const isBootstrapKind = (o: KubeObject) =>
  (o.kind === 'Namespace' && groupOf(o.apiVersion) === '') ||
  (o.kind === 'CustomResourceDefinition' && groupOf(o.apiVersion) === 'apiextensions.k8s.io');

/** Orders a validated, de-duplicated desired state for a sync. Helm test hooks are dropped. */
export function orderForSync(objects: readonly KubeObject[]): SyncOrder {
  const bootstrap: OrderedObject[] = [];
  const byPhase: Record<HookPhase, OrderedObject[]> = { PreSync: [], Sync: [], PostSync: [], SyncFail: [] };
  for (const object of objects) {
    const id = idOf(object);
    const hook = hookOf(object);
    const wave = waveOf(object);
    if (hook === undefined) {
      (isBootstrapKind(object) ? bootstrap : byPhase.Sync).push({ id, object, wave });
      continue;
    }
    for (const phase of hook.phases) byPhase[phase].push({ id, object, wave, hook });
  }
  return {
    bootstrap: [...bootstrap].sort(compareObjects),
    phases: {
      PreSync: toWaves(byPhase.PreSync),
      Sync: toWaves(byPhase.Sync),
      PostSync: toWaves(byPhase.PostSync),
      SyncFail: toWaves(byPhase.SyncFail),
    },
  };
}

/** Objects in the order they are applied in a successful sync (for display and for tests). */
export function flattenOrder(order: SyncOrder): OrderedObject[] {
  return [
    ...order.bootstrap,
    ...(['PreSync', 'Sync', 'PostSync'] as const).flatMap((phase) =>
      order.phases[phase].flatMap((w) => w.objects),
    ),
  ];
}
