import type { KubeObject } from './resource.ts';

/**
 * The live object as it would be after the desired one is applied, predicted without the API server:
 * every field the desired object sets replaces the live one; fields it does not set (defaults, other
 * managers' fields, status) stay. Lists of objects that all carry a `name` (containers, ports, env,
 * volumes) are merged item by item by name, as Kubernetes' merge keys do; other lists are replaced.
 * What it cannot see: a field the desired state stopped setting (the API server would remove it when
 * Capstan's field manager owned it), so the prediction errs on showing no difference there.
 */
export function predictApplied(live: KubeObject, desired: KubeObject): KubeObject {
  return overlay(live, desired) as KubeObject;
}

type Json = unknown;

function overlay(base: Json, top: Json): Json {
  if (isObject(base) && isObject(top)) {
    const merged: Record<string, Json> = { ...base };
    for (const [key, value] of Object.entries(top)) merged[key] = overlay(base[key], value);
    return merged;
  }
  if (Array.isArray(base) && Array.isArray(top) && byName(top) && byName(base)) {
    const live = new Map(base.map((item) => [(item as { name: string }).name, item]));
    return top.map((item) => overlay(live.get((item as { name: string }).name), item));
  }
  return top;
}

const isObject = (value: Json): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Every item an object with a string `name`: a list Kubernetes merges by name. */
const byName = (list: readonly Json[]): boolean =>
  list.every((item) => isObject(item) && typeof item['name'] === 'string');
