// The server's views of one resource of an Application (GET …/resource/{live,desired,diff,events} with
// the resource in the query: src/api/server/resources.ts).
import { query } from '../../api.ts';
import type { ResourceNode } from '../../types.ts';

export const RESOURCE_VIEWS = ['diff', 'live', 'desired', 'events'] as const;
export type ResourceView = (typeof RESOURCE_VIEWS)[number];

/**
 * The URL of one view. The desired state and the diff are taken at the target revision (what a sync
 * would apply now), not at the revision last synced (the server's default).
 */
export function resourceUrl(applicationPath: string, node: ResourceNode, view: ResourceView): string {
  return `${applicationPath}/resource/${view}${query({
    group: node.group,
    kind: node.kind,
    namespace: node.namespace,
    name: node.name,
    revision: view === 'diff' || view === 'desired' ? 'target' : undefined,
  })}`;
}
