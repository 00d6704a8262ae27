/**
 * The Pods of an Application and their logs. The agent records only what it applied (a Deployment,
 * a Job); what those own (ReplicaSets, Jobs of a CronJob, Pods) is found here by owner references
 * on the destination, one list per namespace and kind. A log is read only for a Pod the Application
 * manages or one of its workloads owns, and only from a real node: a kwok node simulates Pods
 * without running containers, so it has no log to give.
 */
import { CapstanError } from '../core/errors.ts';
import { assessHealth } from '../core/health-rules.ts';
import { formatId, type KubeObject, type ResourceId } from '../core/resource.ts';
import type { Application } from '../contracts/application.ts';
import type { PodLogsQuery } from '../contracts/server-api.ts';
import type { LogTarget, ResourceReader } from '../ports/resource-reader.ts';

/** A kind an owner reference can point to, as `group/Kind`. */
type OwnerKind = `${string}/${string}`;
interface Kind {
  readonly group: string;
  readonly kind: string;
}

const POD: Kind = { group: '', kind: 'Pod' };
/** What each workload kind owns. */
const OWNS: Readonly<Record<OwnerKind, Kind>> = {
  'apps/Deployment': { group: 'apps', kind: 'ReplicaSet' },
  'batch/CronJob': { group: 'batch', kind: 'Job' },
  'apps/ReplicaSet': POD,
  'apps/StatefulSet': POD,
  'apps/DaemonSet': POD,
  'batch/Job': POD,
};
/** Deployment → ReplicaSet → Pod is the longest chain. */
const MAX_DEPTH = 2;
/** Nodes answered at most; past it the tree says so in the last node's message. */
export const MAX_CHILDREN = 2000;
export const DEFAULT_TAIL_LINES = 500;
export const MAX_TAIL_LINES = 10_000;
/** The annotation kwok puts on the nodes it simulates. */
const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

/** One object found by its owner references: a node of the resource tree. */
export interface ChildNode {
  readonly id: string;
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly health: string;
  readonly message: string;
  readonly parents: string[];
}

const keyOf = (kind: Kind): OwnerKind => `${kind.group}/${kind.kind}`;
const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '');

/** The objects the Application's workloads own, level by level, each with its owner as parent. */
export async function childrenOf(reader: ResourceReader, app: Application): Promise<ChildNode[]> {
  return (await ownedObjects(reader, app)).map(({ node }) => node);
}

/** The Pods the Application's workloads own, as the destination has them. */
export async function podsOf(reader: ResourceReader, app: Application): Promise<KubeObject[]> {
  return (await ownedObjects(reader, app)).filter(({ node }) => node.kind === 'Pod').map((o) => o.object);
}

async function ownedObjects(reader: ResourceReader, app: Application): Promise<Owned[]> {
  let owners: readonly ResourceId[] = managedIds(app).filter((id) => OWNS[keyOf(id)] !== undefined);
  const found: Owned[] = [];
  for (let depth = 0; depth < MAX_DEPTH && owners.length > 0 && found.length < MAX_CHILDREN; depth++) {
    const level = await ownedBy(reader, app, owners);
    found.push(...level.slice(0, MAX_CHILDREN - found.length));
    owners = level.map(({ node }) => node).filter((node) => OWNS[keyOf(node)] !== undefined);
  }
  return found;
}

interface Owned {
  readonly node: ChildNode;
  readonly object: KubeObject;
}

/** One level down: the objects owned by `owners`, listed once per namespace and owned kind. */
async function ownedBy(
  reader: ResourceReader,
  app: Application,
  owners: readonly ResourceId[],
): Promise<Owned[]> {
  const byOwner = new Map(owners.map((id) => [`${keyOf(id)}/${id.namespace}/${id.name}`, formatId(id)]));
  const lists = new Map<string, { kind: Kind; namespace: string }>();
  for (const owner of owners) {
    const kind = OWNS[keyOf(owner)];
    if (kind) lists.set(`${keyOf(kind)}/${owner.namespace}`, { kind, namespace: owner.namespace });
  }
  const nodes: Owned[] = [];
  for (const { kind, namespace } of lists.values())
    for (const object of await reader.list(app, kind, namespace)) {
      const parents = (object.metadata.ownerReferences ?? [])
        .map((ref) => byOwner.get(`${groupOf(ref.apiVersion)}/${ref.kind}/${namespace}/${ref.name}`))
        .filter((parent): parent is string => parent !== undefined);
      if (parents.length > 0) nodes.push({ node: nodeOf(kind, namespace, object, parents), object });
    }
  return nodes;
}

function nodeOf(kind: Kind, namespace: string, object: KubeObject, parents: string[]): ChildNode {
  const id = { ...kind, namespace, name: object.metadata.name ?? '' };
  const health = assessHealth(object);
  return { id: formatId(id), ...id, health: health.status, message: health.message, parents };
}

function managedIds(app: Application): ResourceId[] {
  return (app.status?.resources ?? []).map((r) => ({
    group: r.group,
    kind: r.kind,
    namespace: r.namespace ?? '',
    name: r.name,
  }));
}

/**
 * The log to read, checked: the Pod exists and is the Application's (managed, or owned through its
 * workloads), the container is one of its own, and its node is a real one.
 */
export async function logTargetOf(
  reader: ResourceReader,
  app: Application,
  query: PodLogsQuery,
): Promise<LogTarget> {
  const id: ResourceId = { ...POD, namespace: query.namespace, name: query.name };
  const pod = await reader.live(app, id);
  if (!pod)
    throw new CapstanError('KUBE_NOT_FOUND', `${formatId(id)} does not exist (any more): reload the tree`, {
      subject: formatId(id),
    });
  await requireOwnedByApp(reader, app, id, pod);
  const container = containerOf(id, pod, query.container);
  await requireRealNode(reader, app, id, pod);
  const tail = query.tailLines === undefined ? DEFAULT_TAIL_LINES : Number(query.tailLines);
  return { pod: id, container, tailLines: Math.min(tail, MAX_TAIL_LINES) };
}

/** RESOURCE_NOT_MANAGED unless the Pod, or an owner up its chain, is one the Application manages. */
async function requireOwnedByApp(
  reader: ResourceReader,
  app: Application,
  id: ResourceId,
  pod: KubeObject,
): Promise<void> {
  const managed = new Set(managedIds(app).map(formatId));
  let current: { id: ResourceId; object: KubeObject | undefined } = { id, object: pod };
  for (let depth = 0; depth <= MAX_DEPTH + 1; depth++) {
    if (managed.has(formatId(current.id))) return;
    const ref = (current.object?.metadata.ownerReferences ?? []).find((r) => r.controller === true);
    if (!ref || current.object === undefined) break;
    const owner = { group: groupOf(ref.apiVersion), kind: ref.kind, namespace: id.namespace, name: ref.name };
    current = { id: owner, object: managed.has(formatId(owner)) ? undefined : await reader.live(app, owner) };
  }
  throw new CapstanError(
    'RESOURCE_NOT_MANAGED',
    `${formatId(id)} is neither managed by application '${app.metadata.namespace ?? ''}/${app.metadata.name}' ` +
      'nor owned by one of its workloads: see its Pods (GET …/children)',
    { subject: formatId(id) },
  );
}

/** The container asked for, or the only one; POD_CONTAINER_INVALID names the choices otherwise. */
function containerOf(id: ResourceId, pod: KubeObject, asked: string | undefined): string {
  const spec = (pod['spec'] ?? {}) as {
    containers?: { name: string }[];
    initContainers?: { name: string }[];
  };
  const names = [...(spec.initContainers ?? []), ...(spec.containers ?? [])].map((c) => c.name);
  const only = (spec.containers ?? []).length === 1 ? spec.containers?.[0]?.name : undefined;
  const chosen = asked ?? only;
  if (chosen !== undefined && names.includes(chosen)) return chosen;
  throw new CapstanError(
    'POD_CONTAINER_INVALID',
    `${formatId(id)} ${asked === undefined ? 'has several containers: name one' : `has no container '${asked}'`} ` +
      `(container=${names.join(' | ')})`,
    { subject: formatId(id) },
  );
}

/** POD_NOT_ON_REAL_NODE when the Pod is not scheduled yet or its node is simulated (kwok). */
async function requireRealNode(
  reader: ResourceReader,
  app: Application,
  id: ResourceId,
  pod: KubeObject,
): Promise<void> {
  const nodeName = (pod['spec'] as { nodeName?: string } | undefined)?.nodeName;
  const fail = (why: string) =>
    new CapstanError('POD_NOT_ON_REAL_NODE', `${formatId(id)} has no log: ${why}`, { subject: formatId(id) });
  if (nodeName === undefined || nodeName === '') throw fail('it is not scheduled on a node yet');
  const node = await reader.live(app, { group: '', kind: 'Node', namespace: '', name: nodeName });
  if (node?.metadata.annotations?.[KWOK_NODE_ANNOTATION] !== undefined)
    throw fail(
      `the pod's node '${nodeName}' is not a real node (kwok simulates its Pods without running containers)`,
    );
}
