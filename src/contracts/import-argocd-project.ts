/**
 * Argo CD AppProjects → Capstan Projects, for `capstan import argocd`. Pure; as import-argocd.ts, every
 * field converts or is reported with the reason. Also the one reading of an Argo CD destination's
 * cluster (`server` or `name`), which Applications share.
 */
import type { ParsedObject } from '../core/manifest.ts';
import { IN_CLUSTER } from './application.ts';
import {
  PROJECT_API_VERSION,
  PROJECT_KIND,
  validateProject,
  type Project,
  type ProjectDestination,
  type ResourceKind,
} from './project.ts';
import {
  fieldsOf,
  listField,
  ObjectFindings,
  stringField,
  type Fields,
  type ImportFinding,
} from './import-report.ts';

const IN_CLUSTER_SERVER = 'https://kubernetes.default.svc';

/**
 * The Capstan cluster of an Argo CD destination: undefined for the cluster Argo CD runs in (Capstan's
 * in-cluster), else its name, or the host of its server (a pattern `*` stays a pattern).
 */
export function argoCdCluster(server: string | undefined, name: string | undefined): string | undefined {
  if (name === 'in-cluster') return undefined;
  if (name !== undefined) return name;
  if (server === undefined || server.replace(/\/+$/, '') === IN_CLUSTER_SERVER) return undefined;
  if (server === '*') return '*';
  return new URL(server, 'https://invalid').hostname.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
}

const PROJECT_LEFT_OUT: Readonly<Record<string, string>> = {
  roles:
    'Argo CD roles (policies, JWT tokens) differ from Capstan roles: write the roles of the Project by hand',
  syncWindows: 'sync windows are not supported',
  orphanedResources: 'orphaned-resource monitoring is not supported',
  signatureKeys: 'commit signatures are not verified by this version',
  clusterResourceBlacklist:
    'Capstan lists the cluster-scoped kinds allowed (clusterResources), not those denied',
  namespaceResourceWhitelist:
    'Capstan lists the namespaced kinds denied (deniedNamespacedResources), not those allowed',
  destinationServiceAccounts:
    'write the ServiceAccount of each destination by hand (destinations, serviceAccount)',
  permitOnlyProjectScopedClusters: 'clusters are registered for the agent, not per Project',
  sourceNamespaces: 'converted into applicationNamespaces',
};

/** Converts one AppProject, or reports why not. */
export function convertAppProject(
  parsed: ParsedObject,
  into: { leftOut: ImportFinding[]; notes: ImportFinding[] },
): Project | undefined {
  const findings = new ObjectFindings(parsed.object, parsed.source, into);
  const spec = fieldsOf((parsed.object as unknown as Fields)['spec']) ?? {};
  findings.unknownKeys(
    spec,
    [
      'description',
      'sourceRepos',
      'destinations',
      'clusterResourceWhitelist',
      'namespaceResourceBlacklist',
      ...Object.keys(PROJECT_LEFT_OUT),
    ],
    ['spec'],
  );
  for (const [key, reason] of Object.entries(PROJECT_LEFT_OUT))
    if (spec[key] !== undefined && key !== 'sourceNamespaces') findings.leftOut(['spec', key], reason);
  const description = stringField(spec, 'description', ['spec'], findings);
  const destinations = projectDestinations(spec, findings);
  const sourceRepos = strings(spec, 'sourceRepos', findings).map((repo) => (repo === '*' ? '**' : repo));
  const clusterResources = kinds(spec, 'clusterResourceWhitelist', findings);
  const denied = kinds(spec, 'namespaceResourceBlacklist', findings);
  const project: Project = {
    apiVersion: PROJECT_API_VERSION,
    kind: PROJECT_KIND,
    metadata: { name: parsed.object.metadata.name ?? '' },
    spec: {
      ...(description === undefined ? {} : { description }),
      applicationNamespaces: applicationNamespaces(spec, destinations, findings),
      ...(sourceRepos.length === 0 ? {} : { sourceRepos }),
      destinations,
      ...(clusterResources.length === 0 ? {} : { clusterResources }),
      ...(denied.length === 0 ? {} : { deniedNamespacedResources: denied }),
    },
  };
  const validation = validateProject(project);
  if (validation.ok) return validation.value;
  findings.leftOut([], `the converted Project is not valid (${validation.errors.join('; ')}); not converted`);
  return undefined;
}

function projectDestinations(spec: Fields, findings: ObjectFindings): ProjectDestination[] {
  const out: ProjectDestination[] = [];
  for (const [index, item] of (listField(spec, 'destinations', ['spec'], findings) ?? []).entries()) {
    const at = ['spec', 'destinations', index];
    const entry = fieldsOf(item) ?? {};
    findings.unknownKeys(entry, ['server', 'name', 'namespace'], at);
    const namespace = stringField(entry, 'namespace', at, findings) ?? '*';
    const cluster =
      argoCdCluster(stringField(entry, 'server', at, findings), stringField(entry, 'name', at, findings)) ??
      IN_CLUSTER;
    if (namespace.startsWith('!'))
      findings.leftOut([...at, 'namespace'], 'a denied namespace: Capstan lists allowed ones');
    else out.push({ cluster, namespace });
  }
  return out;
}

/**
 * The namespaces whose Applications may name the Project: Argo CD's sourceNamespaces, else those of the
 * destinations (an imported Application lives in its destination namespace).
 */
function applicationNamespaces(
  spec: Fields,
  destinations: readonly ProjectDestination[],
  findings: ObjectFindings,
): string[] {
  const own = strings(spec, 'sourceNamespaces', findings);
  const namespaces = own.length > 0 ? own : destinations.map((d) => d.namespace);
  findings.note(
    ['spec', own.length > 0 ? 'sourceNamespaces' : 'destinations'],
    `Applications of the namespaces ${[...new Set(namespaces)].join(', ') || '(none)'} may name this Project`,
  );
  return [...new Set(namespaces)];
}

function strings(spec: Fields, key: string, findings: ObjectFindings): string[] {
  const out: string[] = [];
  for (const [index, value] of (listField(spec, key, ['spec'], findings) ?? []).entries()) {
    if (typeof value === 'string') out.push(value);
    else findings.leftOut(['spec', key, index], 'expected a string');
  }
  return out;
}

function kinds(spec: Fields, key: string, findings: ObjectFindings): ResourceKind[] {
  const out: ResourceKind[] = [];
  for (const [index, item] of (listField(spec, key, ['spec'], findings) ?? []).entries()) {
    const at = ['spec', key, index];
    const entry = fieldsOf(item);
    const kind = entry && stringField(entry, 'kind', at, findings);
    if (!entry || kind === undefined) findings.leftOut(at, 'an entry needs a kind');
    else out.push({ group: stringField(entry, 'group', at, findings) ?? '', kind });
  }
  return out;
}
