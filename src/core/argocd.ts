/**
 * Argo CD's annotations on the objects of a repository, read as Argo CD documents them, so that a
 * repository made for Argo CD syncs as it is. Hooks and waves are read by ordering.ts; the per-object
 * sync and compare options here. Any other `argocd.argoproj.io/*` annotation, and any option Capstan
 * does not honour, is reported as a warning naming it: never ignored without a word.
 */
import type { KubeObject } from './resource.ts';
import { formatId, idOf } from './resource.ts';
import {
  ARGOCD_HOOK_ANNOTATION,
  ARGOCD_HOOK_DELETE_POLICY_ANNOTATION,
  ARGOCD_WAVE_ANNOTATION,
} from './ordering.ts';

export const ARGOCD_PREFIX = 'argocd.argoproj.io/';
export const ARGOCD_SYNC_OPTIONS_ANNOTATION = 'argocd.argoproj.io/sync-options';
export const ARGOCD_COMPARE_OPTIONS_ANNOTATION = 'argocd.argoproj.io/compare-options';

/** The annotations Capstan reads. */
const HONOURED = new Set([
  ARGOCD_HOOK_ANNOTATION,
  ARGOCD_HOOK_DELETE_POLICY_ANNOTATION,
  ARGOCD_WAVE_ANNOTATION,
  ARGOCD_SYNC_OPTIONS_ANNOTATION,
  ARGOCD_COMPARE_OPTIONS_ANNOTATION,
]);

/** An object's own sync options (argocd.argoproj.io/sync-options), each as Argo CD documents it. */
export interface ObjectSyncOptions {
  /** Prune=false: never pruned when it leaves the desired state. */
  readonly noPrune: boolean;
  /** Delete=false: kept when its application is deleted. */
  readonly noDelete: boolean;
  /** Replace=true: deleted and re-created when a change cannot be applied in place (immutable fields). */
  readonly replace: boolean;
  /**
   * SkipDryRunOnMissingResource=true: a custom resource whose kind the cluster does not serve yet (its
   * CRD comes from elsewhere, an operator installed earlier in the sync) is not dry-run but created in
   * its wave, once the kind is served.
   */
  readonly skipDryRunOnMissingResource: boolean;
  /** CreateNamespace=true: its namespace is created when it does not exist (never pruned). */
  readonly createNamespace: boolean;
}

/** Options Capstan honours, and the value that turns each on. */
const OPTIONS: Readonly<Record<string, readonly [keyof ObjectSyncOptions | 'always', string]>> = {
  Prune: ['noPrune', 'false'],
  Delete: ['noDelete', 'false'],
  Replace: ['replace', 'true'],
  SkipDryRunOnMissingResource: ['skipDryRunOnMissingResource', 'true'],
  CreateNamespace: ['createNamespace', 'true'],
  // Capstan always applies server-side: ServerSideApply=true asks for what it does anyway.
  ServerSideApply: ['always', 'true'],
};

/** The per-object sync options Capstan honours, as written in the annotation: `Prune=false`. */
export const HONOURED_OBJECT_SYNC_OPTIONS: readonly string[] = Object.entries(OPTIONS).map(
  ([key, [, value]]) => `${key}=${value}`,
);

function entries(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The sync options an object asks for with argocd.argoproj.io/sync-options. */
export function objectSyncOptions(object: KubeObject): ObjectSyncOptions {
  const options = {
    noPrune: false,
    noDelete: false,
    replace: false,
    skipDryRunOnMissingResource: false,
    createNamespace: false,
  };
  for (const entry of entries(object.metadata.annotations?.[ARGOCD_SYNC_OPTIONS_ANNOTATION])) {
    const [key = '', value = ''] = entry.split('=', 2).map((s) => s.trim());
    const known = OPTIONS[key];
    if (known && known[0] !== 'always' && value === known[1]) options[known[0]] = true;
  }
  return options;
}

/** True when the object asks not to count as a difference while it is extraneous (compare-options IgnoreExtraneous). */
export function ignoresExtraneous(object: KubeObject): boolean {
  return entries(object.metadata.annotations?.[ARGOCD_COMPARE_OPTIONS_ANNOTATION]).includes(
    'IgnoreExtraneous',
  );
}

/**
 * What Capstan does not honour of an object's Argo CD annotations, one warning each naming the
 * object and the annotation or option: unknown annotations, sync and compare options it does not know.
 */
export function argoCdWarnings(object: KubeObject): string[] {
  const annotations = object.metadata.annotations ?? {};
  const subject = formatId(idOf(object));
  const warnings: string[] = [];
  for (const name of Object.keys(annotations).sort()) {
    if (name.startsWith(ARGOCD_PREFIX) && !HONOURED.has(name))
      warnings.push(`${subject}: the annotation ${name} is not supported by Capstan and is ignored`);
  }
  for (const entry of entries(annotations[ARGOCD_SYNC_OPTIONS_ANNOTATION])) {
    const [key = '', value = ''] = entry.split('=', 2).map((s) => s.trim());
    const known = OPTIONS[key];
    if (!known || value !== known[1])
      warnings.push(
        `${subject}: the sync option ${entry} (${ARGOCD_SYNC_OPTIONS_ANNOTATION}) is not supported by Capstan and is ignored; supported: ${HONOURED_OBJECT_SYNC_OPTIONS.join(', ')}`,
      );
  }
  for (const entry of entries(annotations[ARGOCD_COMPARE_OPTIONS_ANNOTATION])) {
    if (entry !== 'IgnoreExtraneous')
      warnings.push(
        `${subject}: the compare option ${entry} (${ARGOCD_COMPARE_OPTIONS_ANNOTATION}) is not supported by Capstan and is ignored; supported: IgnoreExtraneous`,
      );
  }
  return warnings;
}
