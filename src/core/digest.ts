import { createHash } from 'node:crypto';
import type { KubeObject } from './resource.ts';
import { idOf, keyOf } from './resource.ts';

/** JSON with object keys sorted, so that equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `sha256:<hex>` of a rendered desired state: independent of file order and key order. */
export function renderDigest(objects: readonly KubeObject[]): string {
  const sorted = [...objects].sort((a, b) => {
    const ka = keyOf(idOf(a));
    const kb = keyOf(idOf(b));
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const hash = createHash('sha256');
  for (const object of sorted) hash.update(canonicalJson(object)).update('\n');
  return `sha256:${hash.digest('hex')}`;
}
