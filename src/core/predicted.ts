import type { KubeObject } from './resource.ts';

/**
 * The live object as it would be after the desired one is applied, predicted without the API server:
 * every field the desired object sets replaces the live one; fields it does not set (defaults, other
 * managers' fields, status) stay. Lists of objects that all carry one of Kubernetes' merge keys, each
 * value once (`name`: containers, env, volumes; `containerPort`: a container's ports; `port`: a
 * Service's; `mountPath`, `devicePath`, `ip`), are merged item by item by that key, as the API server
 * does (so a defaulted `protocol: TCP` of a port stays); other lists are replaced.
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
  if (Array.isArray(base) && Array.isArray(top)) {
    const key = MERGE_KEYS.find((k) => keyedBy(top, k) && keyedBy(base, k));
    if (key === undefined) return top;
    const live = new Map(base.map((item) => [(item as Record<string, Json>)[key], item]));
    return top.map((item) => overlay(live.get((item as Record<string, Json>)[key]), item));
  }
  return top;
}

/** The merge keys of Kubernetes' lists of objects, the most common first. */
const MERGE_KEYS = ['name', 'containerPort', 'port', 'mountPath', 'devicePath', 'ip'] as const;

const isObject = (value: Json): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Every item an object with a string or number `key`, no value twice: a list merged by that key. */
function keyedBy(list: readonly Json[], key: string): boolean {
  const values = list.map((item) => (isObject(item) ? item[key] : undefined));
  return (
    values.every((v) => typeof v === 'string' || typeof v === 'number') &&
    new Set(values).size === values.length
  );
}
