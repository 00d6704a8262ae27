/**
 * An Application's ignoreDifferences: fields that other actors own (an autoscaler's replicas, an
 * injected sidecar's image). Git wins everywhere else, because every apply forces Git's fields back;
 * so an ignored field is left out of what is applied, and stays whoever's it is: it is neither applied
 * nor shown as a difference (the server-side dry run keeps the live value).
 */
import type { KubeObject, ResourceId } from './resource.ts';

export interface IgnoreDifferenceRule {
  /** API group; '' (or absent) for the core group. */
  readonly group?: string;
  readonly kind: string;
  readonly name?: string;
  readonly namespace?: string;
  /** Fields, as JSON pointers (RFC 6901): `/spec/replicas`. */
  readonly jsonPointers?: readonly string[];
  /** Managers whose fields are ignored (not applied here: the live object's managed fields are read by the engine). */
  readonly managedFieldsManagers?: readonly string[];
}

/** Whether a rule concerns this resource. */
export function ruleMatches(rule: IgnoreDifferenceRule, id: ResourceId): boolean {
  return (
    (rule.group ?? '') === id.group &&
    rule.kind === id.kind &&
    (rule.name === undefined || rule.name === id.name) &&
    (rule.namespace === undefined || rule.namespace === id.namespace)
  );
}

/** The segments of a JSON pointer, unescaped (`~1` is `/`, `~0` is `~`). */
export function pointerSegments(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** A copy of the object without the fields its rules' JSON pointers name (a pointer to nothing changes nothing). */
export function withoutIgnoredFields(
  object: KubeObject,
  id: ResourceId,
  rules: readonly IgnoreDifferenceRule[],
): KubeObject {
  const pointers = rules.filter((r) => ruleMatches(r, id)).flatMap((r) => r.jsonPointers ?? []);
  if (pointers.length === 0) return object;
  const copy = structuredClone(object);
  for (const pointer of pointers) removeAt(copy, pointerSegments(pointer));
  return copy;
}

function removeAt(root: unknown, segments: readonly string[]): void {
  if (segments.length === 0) return;
  let parent: unknown = root;
  for (const segment of segments.slice(0, -1)) {
    parent = child(parent, segment);
    if (parent === undefined) return;
  }
  const last = segments[segments.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const index = Number(last);
    if (Number.isInteger(index) && index >= 0 && index < parent.length) parent.splice(index, 1);
  } else if (typeof parent === 'object' && parent !== null) {
    // The identity of an object is never ignored: its kind, name and namespace are what it is.
    if (segments.length === 2 && segments[0] === 'metadata' && ['name', 'namespace'].includes(last)) return;
    Reflect.deleteProperty(parent, last);
  }
}

function child(value: unknown, segment: string): unknown {
  if (Array.isArray(value)) {
    const index = Number(segment);
    return Number.isInteger(index) ? (value[index] as unknown) : undefined;
  }
  if (typeof value === 'object' && value !== null) return (value as Record<string, unknown>)[segment];
  return undefined;
}
