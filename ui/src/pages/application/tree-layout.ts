// The resource tree's shape for the graph, pure: each node's depth from its owners, and large trees
// grouped by kind and depth so that the graph stays readable and quick (the list keeps every resource).
import type { ResourceNode, ResourceTree } from '../../types.ts';

/** Depth of each node: 1 + the deepest of its owners (the Application is 0); cycles are cut. */
export function depths(nodes: readonly ResourceNode[]): Map<string, number> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = new Map<string, number>();
  const visit = (id: string, path: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    const owners = (node?.parents ?? []).filter((p) => byId.has(p) && !path.has(p));
    path.add(id);
    const d = owners.length === 0 ? 1 : 1 + Math.max(...owners.map((p) => visit(p, path)));
    path.delete(id);
    depth.set(id, d);
    return d;
  };
  for (const n of nodes) visit(n.id, new Set());
  return depth;
}

/** Above this many resources the graph draws one node per kind and depth (the list keeps every one). */
export const GROUP_ABOVE = 150;
const HEALTH_ORDER = ['Degraded', 'Missing', 'Progressing', 'Suspended', 'Unknown', 'Healthy'];

/**
 * A large tree as groups: the resources of one kind at one depth become one node ("ConfigMap × 333")
 * with the worst health and sync among them; a group's owners are its members' owners' groups.
 */
export function grouped(tree: ResourceTree): ResourceTree {
  if (tree.nodes.length <= GROUP_ABOVE) return tree;
  const depth = depths(tree.nodes);
  const groupOf = (node: ResourceNode) => `${node.kind}@${String(depth.get(node.id) ?? 1)}`;
  const byId = new Map(tree.nodes.map((n) => [n.id, n]));
  const groups = new Map<string, { members: ResourceNode[]; parents: Set<string> }>();
  for (const node of tree.nodes) {
    const key = groupOf(node);
    const group = groups.get(key) ?? { members: [], parents: new Set<string>() };
    group.members.push(node);
    for (const parent of node.parents) {
      const owner = byId.get(parent);
      if (owner) group.parents.add(groupOf(owner));
    }
    groups.set(key, group);
  }
  const worst = (values: (string | undefined)[], order: string[]) =>
    order.find((o) => values.includes(o)) ?? values[0];
  return {
    nodes: [...groups].map(([key, { members, parents }]) => ({
      id: key,
      group: members[0]?.group ?? '',
      kind: members[0]?.kind ?? '',
      namespace: '',
      name: `× ${String(members.length)}`,
      ...optional(
        'syncStatus',
        worst(
          members.map((m) => m.syncStatus),
          ['OutOfSync', 'Unknown', 'Synced'],
        ),
      ),
      ...optional(
        'health',
        worst(
          members.map((m) => m.health),
          HEALTH_ORDER,
        ),
      ),
      parents: [...parents].filter((p) => p !== key),
    })),
  };
}

const optional = <K extends string>(key: K, value: string | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, string>>;
