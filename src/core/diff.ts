import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import type { KubeObject, ResourceId } from './resource.ts';
import { formatId } from './resource.ts';
import { canonicalJson } from './digest.ts';

/**
 * The object as compared: without status and server-set metadata. Both sides of a comparison go through
 * this, after the desired side went through a server-side dry-run apply (so defaults are filled in).
 */
export function normalizeForCompare(object: KubeObject): KubeObject {
  // Fields the server owns are never a difference between desired and live.
  const {
    managedFields: _managedFields,
    resourceVersion: _resourceVersion,
    generation: _generation,
    uid: _uid,
    creationTimestamp: _creationTimestamp,
    selfLink: _selfLink,
    ...metadata
  } = object.metadata;
  const { status: _status, ...rest } = object;
  return { ...rest, metadata };
}

export function sameState(a: KubeObject, b: KubeObject): boolean {
  return canonicalJson(normalizeForCompare(a)) === canonicalJson(normalizeForCompare(b));
}

const SECRET_FIELDS = ['data', 'stringData'] as const;
/** Annotations of a Secret that copy its values (`kubectl apply` writes the whole object there). */
const SECRET_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'] as const;

/**
 * Secrets' values never reach a diff: each value shows as `*** (unchanged)`, `*** (old value)` or
 * `*** (new value)`; so do the annotations that copy them (SECRET_ANNOTATIONS).
 */
function redactSecrets(
  live: KubeObject | undefined,
  desired: KubeObject | undefined,
): [KubeObject | undefined, KubeObject | undefined] {
  const isSecret = (o: KubeObject | undefined) => o?.kind === 'Secret' && o.apiVersion === 'v1';
  if (!isSecret(live) && !isSecret(desired)) return [live, desired];
  const redact = (o: KubeObject | undefined, other: KubeObject | undefined, side: 'old' | 'new') => {
    if (!o) return o;
    const copy: KubeObject = { ...o };
    const hidden = (value: unknown, otherValue: unknown): string =>
      value === otherValue ? '*** (unchanged)' : `*** (${side === 'old' ? 'old value' : 'new value'})`;
    for (const field of SECRET_FIELDS) {
      const values = o[field] as Record<string, string> | undefined;
      if (!values || typeof values !== 'object') continue;
      const otherValues = (other?.[field] ?? {}) as Record<string, string>;
      copy[field] = Object.fromEntries(
        Object.keys(values).map((k) => [k, hidden(values[k], otherValues[k])]),
      );
    }
    const annotations = o.metadata.annotations;
    if (annotations && SECRET_ANNOTATIONS.some((key) => key in annotations)) {
      const otherAnnotations = other?.metadata.annotations ?? {};
      const redacted: Record<string, string> = { ...annotations };
      for (const key of SECRET_ANNOTATIONS) {
        if (key in annotations) redacted[key] = hidden(annotations[key], otherAnnotations[key]);
      }
      copy.metadata = { ...o.metadata, annotations: redacted };
    }
    return copy;
  };
  return [redact(live, desired, 'old'), redact(desired, live, 'new')];
}

/**
 * One object as it may be shown: a Secret's values (data, stringData, and the annotations that copy
 * them) each replaced by `***`, keys kept; any other object as it is.
 */
export function redactSecret(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret' || object.apiVersion !== 'v1') return object;
  const hide = (values: unknown) =>
    values && typeof values === 'object'
      ? Object.fromEntries(Object.keys(values).map((k) => [k, '***']))
      : values;
  const copy: KubeObject = { ...object };
  for (const field of SECRET_FIELDS) if (field in object) copy[field] = hide(object[field]);
  const annotations = object.metadata.annotations;
  if (annotations && SECRET_ANNOTATIONS.some((key) => key in annotations))
    copy.metadata = {
      ...object.metadata,
      annotations: Object.fromEntries(
        Object.entries(annotations).map(([k, v]) => [
          k,
          (SECRET_ANNOTATIONS as readonly string[]).includes(k) ? '***' : v,
        ]),
      ),
    };
  return copy;
}

export interface ObjectDiff {
  readonly changed: boolean;
  /** Unified diff of the YAML of live (a) and desired-after-dry-run (b); empty when unchanged. */
  readonly unified: string;
}

/** Differences between the live object and what it would be after the apply (undefined: absent). */
export function diffObjects(
  id: ResourceId,
  live: KubeObject | undefined,
  desired: KubeObject | undefined,
): ObjectDiff {
  const [a, b] = redactSecrets(live && normalizeForCompare(live), desired && normalizeForCompare(desired));
  const textA = a ? stringify(sortKeys(a)) : '';
  const textB = b ? stringify(sortKeys(b)) : '';
  if (textA === textB) return { changed: false, unified: '' };
  const name = formatId(id);
  const patch = createTwoFilesPatch(
    live ? `live/${name}` : '/dev/null',
    desired ? `desired/${name}` : '/dev/null',
    textA,
    textB,
    '',
    '',
    { context: 3 },
  );
  // Drop jsdiff's "====" header line; keep the standard ---/+++ lines.
  return {
    changed: true,
    unified: patch
      .split('\n')
      .filter((l) => !/^=+$/.test(l))
      .join('\n'),
  };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const head = ['apiVersion', 'kind', 'metadata', 'spec'].filter((k) => k in obj);
    const rest = Object.keys(obj)
      .filter((k) => !head.includes(k))
      .sort();
    return Object.fromEntries([...head, ...rest].map((k) => [k, sortKeys(obj[k])]));
  }
  return value;
}
