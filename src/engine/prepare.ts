import { createHash } from 'node:crypto';
import { objectSyncOptions } from '../core/argocd.ts';
import { CapstanError } from '../core/errors.ts';
import { withoutIgnoredFields, type IgnoreDifferenceRule } from '../core/ignore-differences.ts';
import { withOwnershipMarks, type OwnerIdentity } from '../core/ownership.ts';
import type { KubeObject, ResourceId } from '../core/resource.ts';
import { findDuplicates } from '../core/manifest.ts';
import { formatId, groupOf, idOf } from '../core/resource.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { ObjectSource, RenderedObject } from '../ports/renderer.ts';

/** A desired object ready for planning: identity final, namespace defaulted, ownership marks on. */
export interface PreparedObject {
  readonly id: ResourceId;
  readonly object: KubeObject;
  /** Undefined while its kind is defined by a CRD of the same sync that the server does not serve yet. */
  readonly type: ResourceType | undefined;
  readonly source?: ObjectSource;
}

interface CrdDefinition {
  readonly group: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

function crdDefinitions(objects: readonly RenderedObject[]): CrdDefinition[] {
  return objects
    .map((r) => r.object)
    .filter((o) => o.kind === 'CustomResourceDefinition' && groupOf(o.apiVersion) === 'apiextensions.k8s.io')
    .map((o) => {
      const spec = (o['spec'] ?? {}) as {
        group?: string;
        scope?: string;
        names?: { kind?: string; plural?: string };
      };
      return {
        group: spec.group ?? '',
        kind: spec.names?.kind ?? '',
        plural: spec.names?.plural ?? '',
        namespaced: spec.scope !== 'Cluster',
      };
    });
}

/** generateName's prefix and five characters of [0-9a-f] made from the seed, as the API server would add. */
function generatedName(prefix: string, seed: string): string {
  return `${prefix}${createHash('sha256').update(`${prefix}\u0000${seed}`).digest('hex').slice(0, 5)}`;
}

const where = (r: RenderedObject) => `${r.source.file}:${r.source.line}`;

/**
 * Resolves every object's kind through discovery (or a CRD of the same sync), defaults the namespace of
 * namespaced objects, drops it from cluster-scoped ones, refuses duplicates and unknown kinds, and adds
 * the ownership marks of the application. Fails as a whole: one bad object stops the plan.
 */
export async function prepare(
  rendered: readonly RenderedObject[],
  options: {
    owner: OwnerIdentity;
    namespace: string;
    cluster: Cluster;
    /** When this sync started (ms): what a hook's generated name is made from. Default 0. */
    now?: number;
    /** Fields left out of what is applied (an Application's ignoreDifferences). Default none. */
    ignoreDifferences?: readonly IgnoreDifferenceRule[];
  },
): Promise<PreparedObject[]> {
  const crds = crdDefinitions(rendered);
  const problems: string[] = [];
  const defaulted: (RenderedObject & { type: ResourceType | undefined })[] = [];
  for (const r of rendered) {
    const object = r.object;
    const group = groupOf(object.apiVersion);
    const type = await options.cluster.resourceType(object.apiVersion, object.kind);
    let namespaced = type?.namespaced;
    if (!type) {
      const crd = crds.find((c) => c.group === group && c.kind === object.kind);
      if (!crd && objectSyncOptions(object).skipDryRunOnMissingResource) {
        // Its kind is served later in the sync (SkipDryRunOnMissingResource=true): its scope is as written.
        namespaced = object.metadata.namespace !== undefined;
      } else if (!crd) {
        problems.push(
          `${where(r)}: ${formatId(idOf(object))}: ${unservedKind(object.apiVersion, object.kind)}`,
        );
        continue;
      } else {
        namespaced = crd.namespaced;
      }
    }
    const metadata = { ...object.metadata };
    // A hook with generateName (only hooks may have one, see core/manifest.ts) gets a new name each sync.
    if (!metadata.name && metadata.generateName) {
      metadata.name = generatedName(metadata.generateName, `${options.now ?? 0}/${defaulted.length}`);
      delete metadata.generateName;
    }
    if (namespaced === true) metadata.namespace = metadata.namespace ?? options.namespace;
    else delete metadata.namespace;
    defaulted.push({ object: { ...object, metadata }, source: r.source, type });
  }
  // Duplicates are judged after namespaces are defaulted: `a` and `default/a` are the same resource.
  for (const duplicate of findDuplicates(defaulted))
    problems.push(`${duplicate.message}; each resource may appear once`);
  if (problems.length > 0) {
    throw new CapstanError('PLAN_INVALID', `the desired state is not valid:\n  ${problems.join('\n  ')}`);
  }
  return defaulted.map(({ object, source, type }) => {
    const id = idOf(object);
    const applied = withoutIgnoredFields(object, id, options.ignoreDifferences ?? []);
    return { id, object: withOwnershipMarks(applied, options.owner, id), type, source };
  });
}

/** Argo CD's own kinds: an app of apps of them is converted, not applied. */
const ARGOCD_GROUP = 'argoproj.io';

/** Why an object whose kind the cluster does not serve cannot be planned, and what to do. */
function unservedKind(apiVersion: string, kind: string): string {
  if (groupOf(apiVersion) === ARGOCD_GROUP)
    return `the cluster does not serve ${apiVersion} ${kind}: this is an Argo CD object (an app of apps of Argo CD Applications?). Convert the folder with capstan import argocd FILE and commit the Capstan Applications it prints in their place (an app of apps of Capstan Applications syncs as it is)`;
  return `the cluster does not serve ${apiVersion} ${kind} (unknown kind or version; is its CRD installed? If a CRD installed later in the sync serves it, annotate it argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true)`;
}
