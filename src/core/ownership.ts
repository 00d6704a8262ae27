import type { KubeObject, ResourceId } from './resource.ts';
import { keyOf } from './resource.ts';

/**
 * Ownership marks: Capstan deletes only objects that carry its marks for the same application and the
 * same identity (an object copied elsewhere, or created by someone else with the same name, is never
 * pruned).
 */
export const FIELD_MANAGER = 'capstan';
export const APP_LABEL = 'capstan.dev/application';
export const TRACKING_ANNOTATION = 'capstan.dev/tracking-id';
/** The Application (`namespace/name`) an object belongs to, beside its tracking id; checked when read. */
export const OWNER_ANNOTATION = 'capstan.dev/owner';
/** `capstan.dev/prune: disabled` (or `false`) keeps an object when it leaves the desired state. */
export const PRUNE_ANNOTATION = 'capstan.dev/prune';

/** The Application an owner name stands for. */
export interface OwnerRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Who owns what a sync applies. `name` is the owner name of marks and inventory; `ref`, the Application
 * it stands for (absent for `capstan push`, which names owners directly), is written beside the marks and
 * in the inventory and must match when they are read, so two owners never share objects even if their
 * names did. `legacyNames` are the names earlier releases gave the same Application: objects marked with
 * them are taken over in place (applied, never pruned on those marks).
 */
export interface OwnerIdentity {
  readonly name: string;
  readonly ref?: OwnerRef | undefined;
  readonly legacyNames?: readonly string[] | undefined;
}

export function formatOwnerRef(ref: OwnerRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export function trackingId(application: string, id: ResourceId): string {
  return `${application}:${keyOf(id)}`;
}

/** The object with Capstan's marks added (a copy; the input is not changed). */
export function withOwnershipMarks(object: KubeObject, owner: OwnerIdentity, id: ResourceId): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      labels: { ...object.metadata.labels, [APP_LABEL]: applicationLabelValue(owner.name) },
      annotations: {
        ...object.metadata.annotations,
        [TRACKING_ANNOTATION]: trackingId(owner.name, id),
        ...(owner.ref ? { [OWNER_ANNOTATION]: formatOwnerRef(owner.ref) } : {}),
      },
    },
  };
}

/** Label values are limited to 63 characters; longer application names are cut (the annotation is exact). */
export function applicationLabelValue(application: string): string {
  return application.length <= 63 ? application : application.slice(0, 63).replace(/[^a-zA-Z0-9]+$/, '');
}

/** The application whose tracking id a live object carries, if any. */
export function ownerOf(live: KubeObject): string | undefined {
  const tracking = live.metadata.annotations?.[TRACKING_ANNOTATION];
  if (tracking === undefined) return undefined;
  const colon = tracking.indexOf(':');
  return colon > 0 ? tracking.slice(0, colon) : undefined;
}

/**
 * Whose a live object is, for `owner`: nobody's (no tracking id), its own (the owner name and the
 * Application both match), its own under an earlier release's name (a legacy name, and no Application
 * written beside it, as those releases wrote), or another's (described for messages).
 */
export type Ownership =
  | { readonly kind: 'none' }
  | { readonly kind: 'own' }
  | { readonly kind: 'legacy'; readonly name: string }
  | { readonly kind: 'other'; readonly owner: string };

export function ownershipOf(live: KubeObject, owner: OwnerIdentity): Ownership {
  const name = ownerOf(live);
  if (name === undefined) return { kind: 'none' };
  const ref = live.metadata.annotations?.[OWNER_ANNOTATION];
  const expected = owner.ref ? formatOwnerRef(owner.ref) : undefined;
  if (name === owner.name && ref === expected) return { kind: 'own' };
  if (ref === undefined && owner.legacyNames?.includes(name)) return { kind: 'legacy', name };
  return { kind: 'other', owner: ref === undefined ? name : `${name} (Application ${ref})` };
}

export type PruneDecision = { readonly prune: true } | { readonly prune: false; readonly reason: string };

/** May Capstan delete this live object, which left the desired state of `owner`? */
export function pruneDecision(live: KubeObject, owner: OwnerIdentity, id: ResourceId): PruneDecision {
  const annotations = live.metadata.annotations ?? {};
  const ownership = ownershipOf(live, owner);
  if (ownership.kind === 'legacy') {
    return {
      prune: false,
      reason: `carries the marks of an earlier release (owner '${ownership.name}'), which cannot tell two applications apart: left alone; delete it yourself if it is not wanted`,
    };
  }
  if (ownership.kind !== 'own' || annotations[TRACKING_ANNOTATION] !== trackingId(owner.name, id)) {
    return {
      prune: false,
      reason: 'not owned by this application (no matching capstan.dev/tracking-id): left alone',
    };
  }
  const keep = annotations[PRUNE_ANNOTATION];
  if (keep === 'disabled' || keep === 'false') {
    return { prune: false, reason: `annotated ${PRUNE_ANNOTATION}: ${keep}: kept` };
  }
  if (live.metadata.deletionTimestamp) return { prune: false, reason: 'already being deleted' };
  return { prune: true };
}
