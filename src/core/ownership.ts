import type { KubeObject, ResourceId } from './resource.ts';
import { keyOf } from './resource.ts';
import { ARGOCD_SYNC_OPTIONS_ANNOTATION, objectSyncOptions } from './argocd.ts';

/**
 * Ownership marks: Capstan deletes only objects that carry its marks for the same application and the
 * same identity (an object copied elsewhere, or created by someone else with the same name, is never
 * pruned).
 */
export const FIELD_MANAGER = 'capstan';
export const APP_LABEL = 'capstan.dev/application';
export const TRACKING_ANNOTATION = 'capstan.dev/tracking-id';
/** `capstan.dev/prune: disabled` (or `false`) keeps an object when it leaves the desired state. */
export const PRUNE_ANNOTATION = 'capstan.dev/prune';

export function trackingId(application: string, id: ResourceId): string {
  return `${application}:${keyOf(id)}`;
}

/** The object with Capstan's marks added (a copy; the input is not changed). */
export function withOwnershipMarks(object: KubeObject, application: string, id: ResourceId): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      labels: { ...object.metadata.labels, [APP_LABEL]: applicationLabelValue(application) },
      annotations: { ...object.metadata.annotations, [TRACKING_ANNOTATION]: trackingId(application, id) },
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

export type PruneDecision = { readonly prune: true } | { readonly prune: false; readonly reason: string };

/**
 * May Capstan delete this live object, which left the desired state of `application`? `deletion`: the
 * application itself is being deleted (Argo CD's Delete=false keeps an object then; Prune=false only
 * when it leaves the desired state of an application that stays).
 */
export function pruneDecision(
  live: KubeObject,
  application: string,
  id: ResourceId,
  context: { readonly deletion?: boolean } = {},
): PruneDecision {
  const annotations = live.metadata.annotations ?? {};
  if (annotations[TRACKING_ANNOTATION] !== trackingId(application, id)) {
    return {
      prune: false,
      reason: 'not owned by this application (no matching capstan.dev/tracking-id): left alone',
    };
  }
  const keep = annotations[PRUNE_ANNOTATION];
  if (keep === 'disabled' || keep === 'false') {
    return { prune: false, reason: `annotated ${PRUNE_ANNOTATION}: ${keep}: kept` };
  }
  // Argo CD's per-object options: Prune=false while the application stays, Delete=false when it goes.
  const argo = objectSyncOptions(live);
  if (context.deletion !== true && argo.noPrune) {
    return { prune: false, reason: `annotated ${ARGOCD_SYNC_OPTIONS_ANNOTATION}: Prune=false: kept` };
  }
  if (context.deletion === true && argo.noDelete) {
    return { prune: false, reason: `annotated ${ARGOCD_SYNC_OPTIONS_ANNOTATION}: Delete=false: kept` };
  }
  if (live.metadata.deletionTimestamp) return { prune: false, reason: 'already being deleted' };
  return { prune: true };
}
