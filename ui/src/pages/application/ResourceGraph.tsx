// The resource tree as a graph (@xyflow/react): the Application at the left, each resource right of
// its owners, a column per depth; each node shows Kind/name with its sync and health. A node opens the
// resource's details. Loaded on demand: the list page never pays for it.
import {
  Background,
  Controls,
  ReactFlow,
  type Edge,
  type Node,
  type NodeProps,
  Handle,
  Position,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { memo, useMemo } from 'react';
import type { Application, ResourceTree } from '../../types.ts';
import { depths, GROUP_ABOVE, grouped } from './tree-layout.ts';

const COLUMN = 300;
const ROW = 76;
const ROOT = '__application__';

interface NodeData extends Record<string, unknown> {
  readonly title: string;
  readonly kind: string;
  readonly sync: string | undefined;
  readonly health: string | undefined;
}

function layout(app: Application, full: ResourceTree): { nodes: Node<NodeData>[]; edges: Edge[] } {
  const tree = grouped(full);
  const depth = depths(tree.nodes);
  const rows = new Map<number, number>();
  const place = (d: number) => {
    const row = rows.get(d) ?? 0;
    rows.set(d, row + 1);
    return { x: d * COLUMN, y: row * ROW };
  };
  const nodes: Node<NodeData>[] = [
    {
      id: ROOT,
      type: 'resource',
      position: place(0),
      data: {
        title: app.metadata.name,
        kind: 'Application',
        sync: app.status?.sync?.status,
        health: app.status?.health?.status,
      },
    },
  ];
  const edges: Edge[] = [];
  const ids = new Set(tree.nodes.map((n) => n.id));
  for (const node of tree.nodes) {
    nodes.push({
      id: node.id,
      type: 'resource',
      position: place(depth.get(node.id) ?? 1),
      data: { title: node.name, kind: node.kind, sync: node.syncStatus, health: node.health },
    });
    const owners = node.parents.filter((p) => ids.has(p));
    for (const owner of owners.length === 0 ? [ROOT] : owners)
      edges.push({ id: `${owner}->${node.id}`, source: owner, target: node.id });
  }
  return { nodes, edges };
}

const ResourceBox = memo(function ResourceBox(props: NodeProps<Node<NodeData>>) {
  const { data } = props;
  return (
    <div
      className={`graph-node health-${(data.health ?? 'unknown').toLowerCase()}`}
      data-health={data.health ?? 'Unknown'}
      data-sync={data.sync ?? 'Unknown'}
    >
      <Handle type="target" position={Position.Left} />
      <div className="kind">{data.kind}</div>
      <div className="title">{data.title}</div>
      <div className="states">
        {data.sync ?? 'Unknown'} · {data.health ?? 'Unknown'}
      </div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
});

const NODE_TYPES = { resource: ResourceBox };
/** Fitted, but never zoomed in past 100 %: a small tree stays readable at its own size. */
const FIT = { maxZoom: 1, padding: 0.15 };

export default function ResourceGraph(props: {
  readonly app: Application;
  readonly tree: ResourceTree;
  readonly onSelect: (id: string) => void;
}) {
  const { nodes, edges } = useMemo(() => layout(props.app, props.tree), [props.app, props.tree]);
  return (
    <div className="graph" aria-label="Resource tree graph" role="figure">
      {/* fitView fits once: when nodes come or go (the workloads' Pods join the tree) it fits again. */}
      <ReactFlow
        key={nodes.length}
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        fitView
        fitViewOptions={FIT}
        minZoom={0.1}
        nodesDraggable={false}
        nodesConnectable={false}
        onlyRenderVisibleElements
        proOptions={{ hideAttribution: true }}
        onNodeClick={(_event, node) => {
          if (node.id !== ROOT && props.tree.nodes.length <= GROUP_ABOVE) props.onSelect(node.id);
        }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
