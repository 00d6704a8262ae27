// The per-resource routes the server offers (live manifest, desired manifest, diff), found in its
// OpenAPI document, so the UI follows the server it talks to instead of assuming one.
import { API } from '../../api.ts';
import type { ResourceNode } from '../../types.ts';

export type ResourceView = 'diff' | 'live' | 'desired';
export type ResourceUrl = (applicationPath: string, node: ResourceNode) => string;

let found: Promise<Map<ResourceView, ResourceUrl>> | undefined;

export function resourceRoutes(signal: AbortSignal): Promise<Map<ResourceView, ResourceUrl>> {
  found ??= fetch(`${API}/openapi.json`, { signal })
    .then((r) => r.json() as Promise<{ paths?: Record<string, unknown> }>)
    .then((document) => routesOf(Object.keys(document.paths ?? {})))
    .catch((error: unknown) => {
      found = undefined;
      throw error;
    });
  return found;
}

const VIEWS: readonly [ResourceView, RegExp][] = [
  ['diff', /\/diff$/],
  ['live', /\/live$/],
  ['desired', /\/desired$/],
];

/** Routes under one Application's resources whose last segment names the view. */
export function routesOf(paths: readonly string[]): Map<ResourceView, ResourceUrl> {
  const routes = new Map<ResourceView, ResourceUrl>();
  const prefix = `${API}/applications/{namespace}/{name}/resources/`;
  for (const path of paths) {
    if (!path.startsWith(prefix)) continue;
    const view = VIEWS.find(([, pattern]) => pattern.test(path))?.[0];
    if (view === undefined || routes.has(view)) continue;
    const template = path.slice(prefix.length);
    routes.set(view, (applicationPath, node) => `${applicationPath}/resources/${fill(template, node)}`);
  }
  return routes;
}

/** Fills {group} {kind} {namespace}/{resourceNamespace} {name}/{resourceName}; the core group is '_'. */
function fill(template: string, node: ResourceNode): string {
  const values: Record<string, string> = {
    group: node.group === '' ? '_' : node.group,
    kind: node.kind,
    resourceNamespace: node.namespace === '' ? '_' : node.namespace,
    namespace: node.namespace === '' ? '_' : node.namespace,
    resourceName: node.name,
    name: node.name,
  };
  return template.replace(/\{(\w+)\}/g, (_all, key: string) => encodeURIComponent(values[key] ?? ''));
}
