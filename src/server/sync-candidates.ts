/**
 * What a sync of a selection may select (the web UI's sync dialog lists it): the desired state at the
 * target revision, as the agent will render it (hooks left out: a selection runs none), and the
 * resources that left it which the Application still owns. `status.resources` alone will not do: it is
 * the agent's last comparison, so a resource that left Git drops out of it at the next one, while it
 * stays live and owned until a sync with prune deletes it. Those are found in the Application's
 * inventory (the ConfigMap the agent keeps on the destination cluster, in the inventory namespace of
 * that destination: ResourceReader.inventory) and in `status.resources`, and
 * each is read live: only one that exists and carries this Application's ownership marks is listed,
 * as the server's selection check (and the agent's prune) will accept it.
 */
import { hookOf } from '../core/ordering.ts';
import { pruneDecision } from '../core/ownership.ts';
import { formatId, idOf, keyOf, type KubeObject, type ResourceId } from '../core/resource.ts';
import { applicationOwnerName, resolveSpec, type Application } from '../contracts/application.ts';
import type { SyncCandidate, SyncCandidates } from '../contracts/server-api.ts';
import type { DesiredState, ResourceReader } from '../ports/resource-reader.ts';

/** Departed resources read live, at most (the rest: `truncated`). */
export const DEPARTED_READS = 200;
/** Live reads at a time. */
const READS_AT_ONCE = 8;

export async function syncCandidatesOf(
  reader: ResourceReader,
  app: Application,
  desired: DesiredState,
): Promise<SyncCandidates> {
  const destination = resolveSpec(app).destination.namespace;
  const wanted = desired.objects
    .filter((object) => hookOf(object) === undefined)
    .map((object) => idOf(placed(object, destination)));
  const known = new Set(wanted.map(keyOf));
  const others = new Map<string, ResourceId>();
  for (const id of [...managedIds(app), ...(await inventoryIds(reader, app))])
    if (!known.has(keyOf(id))) others.set(keyOf(id), id);
  const checked = [...others.values()].slice(0, DEPARTED_READS);
  const departed: ResourceId[] = [];
  for (let i = 0; i < checked.length; i += READS_AT_ONCE) {
    const batch = checked.slice(i, i + READS_AT_ONCE);
    const owned = await Promise.all(batch.map((id) => ownedLive(reader, app, id)));
    departed.push(...batch.filter((_, j) => owned[j]));
  }
  const byId = (a: ResourceId, b: ResourceId) => formatId(a).localeCompare(formatId(b));
  return {
    revision: desired.revision,
    items: [
      ...unique(wanted).map((id) => candidate(id, 'desired')),
      ...departed.sort(byId).map((id) => candidate(id, 'departed')),
    ],
    ...(others.size > DEPARTED_READS ? { truncated: true } : {}),
  };
}

/** The entries of the Application's inventory, where its agent keeps it; none when it has none or it is unreadable. */
const inventoryIds = (reader: ResourceReader, app: Application): Promise<readonly ResourceId[]> =>
  reader.inventory(app).catch(() => []);

/** Whether the object exists live and carries this Application's ownership marks (a prune would delete it). */
async function ownedLive(reader: ResourceReader, app: Application, id: ResourceId): Promise<boolean> {
  const { namespace = '', name } = app.metadata;
  const owner = { name: applicationOwnerName(namespace, name), ref: { namespace, name } };
  const live = await reader.live(app, id).catch(() => undefined);
  return live !== undefined && pruneDecision(live, owner, id).prune;
}

function candidate(id: ResourceId, state: SyncCandidate['state']): SyncCandidate {
  return {
    group: id.group,
    kind: id.kind,
    ...(id.namespace === '' ? {} : { namespace: id.namespace }),
    name: id.name,
    state,
  };
}

function unique(ids: readonly ResourceId[]): ResourceId[] {
  return [...new Map(ids.map((id) => [keyOf(id), id])).values()];
}

/** A namespaced object rendered without a namespace goes to the destination (as the agent applies it). */
const placed = (object: KubeObject, destination: string): KubeObject =>
  object.metadata.namespace === undefined
    ? { ...object, metadata: { ...object.metadata, namespace: destination } }
    : object;

const managedIds = (app: Application): ResourceId[] =>
  (app.status?.resources ?? []).map((r) => ({
    group: r.group,
    kind: r.kind,
    namespace: r.namespace ?? '',
    name: r.name,
  }));
