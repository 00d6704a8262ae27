/**
 * Argo CD Applications (argoproj.io/v1alpha1) → Capstan Applications, for `capstan import argocd`.
 * Pure. Every field is either converted, or left out with the field named and why (ImportResult):
 * nothing is dropped without a word. Fields the API server sets (uid, status, managedFields) are not
 * configuration and are not carried over.
 */
import { stringify } from 'yaml';
import type { ParsedObject } from '../core/manifest.ts';
import { argoCdCluster, convertAppProject } from './import-argocd-project.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  IN_CLUSTER,
  RESOURCES_FINALIZER,
  SYNC_OPTIONS,
  type Application,
  type ApplicationDestination,
  type ApplicationSource,
  type HelmOptions,
  type IgnoreDifference,
  type SyncOption,
  type SyncPolicy,
} from './application.ts';
import {
  booleanField,
  checked,
  insecureHttp,
  durationField,
  fieldsOf,
  listField,
  mapField,
  ObjectFindings,
  repositoryPath,
  stringField,
  type Fields,
  type ImportOptions,
  type ImportResult,
} from './import-report.ts';

const ARGOCD_GROUP = 'argoproj.io';
/** Metadata the API server or Argo CD writes: not configuration. */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'selfLink',
];
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const ARGOCD_FINALIZER = /^resources-finalizer\.argocd\.argoproj\.io(\/(background|foreground))?$/;

/** Converts the Argo CD objects among `objects`; any other object is reported as left out. */
export function importArgoCd(objects: readonly ParsedObject[], options: ImportOptions = {}): ImportResult {
  const result: ImportResult = { applications: [], projects: [], leftOut: [], notes: [] };
  for (const { object, source } of objects) {
    const findings = new ObjectFindings(object, source, result);
    const group = object.apiVersion.split('/')[0];
    if (object.kind === 'Secret' && isRepositorySecret(object.metadata.labels)) {
      findings.leftOut(
        [],
        'an Argo CD repository Secret is not copied: make a Secret of type capstan.dev/repository-credentials ' +
          'in the namespace of each Application using it, with the keys url, and username and password, or ' +
          'sshPrivateKey with knownHosts, and name it in the source secretRef of the Application',
      );
    } else if (group !== ARGOCD_GROUP) {
      findings.leftOut([], `not an Argo CD object (apiVersion ${object.apiVersion}); nothing converted`);
    } else if (object.kind === 'Application') {
      const application = convertApplication(object, findings, options);
      if (application) result.applications.push(application);
    } else if (object.kind === 'ApplicationSet') {
      findings.leftOut(
        [],
        'an ApplicationSet generates Applications from generators Capstan does not have: convert the ' +
          'Applications it generated (kubectl get applications -o yaml) instead',
      );
    } else if (object.kind === 'AppProject') {
      const project = convertAppProject({ object, source }, result);
      if (project) result.projects.push(project);
    } else {
      findings.leftOut([], `${object.kind} is not an Argo CD kind this importer converts`);
    }
  }
  return result;
}

const isRepositorySecret = (labels: Readonly<Record<string, string>> | undefined) =>
  ['repository', 'repo-creds'].includes(labels?.['argocd.argoproj.io/secret-type'] ?? '');

function convertApplication(
  object: Fields,
  findings: ObjectFindings,
  options: ImportOptions,
): Application | undefined {
  findings.unknownKeys(object, ['apiVersion', 'kind', 'metadata', 'spec', 'status', 'operation'], []);
  if (object['operation'] !== undefined)
    findings.leftOut(['operation'], 'an operation Argo CD had not finished yet is not carried over');
  const spec = mapField(object, 'spec', [], findings);
  if (!spec) {
    findings.leftOut(['spec'], 'missing: an Application without a spec has nothing to convert');
    return undefined;
  }
  findings.unknownKeys(
    spec,
    [
      'source',
      'sources',
      'destination',
      'project',
      'syncPolicy',
      'ignoreDifferences',
      'revisionHistoryLimit',
      'info',
    ],
    ['spec'],
  );
  const source = convertSources(spec, findings);
  if (!source) return undefined;
  const destination = convertDestination(spec, findings);
  const metadata = convertMetadata(fieldsOf(object['metadata']) ?? {}, findings);
  const namespace = options.namespace ?? destination?.namespace ?? metadata.namespace ?? 'default';
  const project = convertProject(spec, findings);
  const syncPolicy = convertSyncPolicy(spec, findings);
  const ignoreDifferences = convertIgnoreDifferences(spec, findings);
  if (spec['revisionHistoryLimit'] !== undefined)
    findings.leftOut(
      ['spec', 'revisionHistoryLimit'],
      'Capstan keeps the last 20 syncs of every Application',
    );
  if (spec['info'] !== undefined)
    findings.leftOut(['spec', 'info'], 'informational links are not kept; put them in an annotation');
  const application: Application = {
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { ...metadata, namespace },
    spec: {
      ...(project === undefined ? {} : { project }),
      source,
      ...(destination === undefined ? {} : { destination }),
      ...(syncPolicy === undefined ? {} : { syncPolicy }),
      ...(ignoreDifferences === undefined ? {} : { ignoreDifferences }),
    },
  };
  return checked(application, findings);
}

function convertMetadata(metadata: Fields, findings: ObjectFindings): Application['metadata'] {
  findings.unknownKeys(
    metadata,
    ['name', 'namespace', 'labels', 'annotations', 'finalizers', ...SERVER_METADATA],
    ['metadata'],
  );
  const name = stringField(metadata, 'name', ['metadata'], findings) ?? '';
  const namespace = stringField(metadata, 'namespace', ['metadata'], findings);
  const labels = stringMap(metadata, 'labels', findings);
  const annotations = stringMap(metadata, 'annotations', findings);
  // kubectl's copy of the Argo CD object describes that object, not the Application made from it.
  delete annotations?.[LAST_APPLIED];
  for (const key of Object.keys(annotations ?? {})) {
    if (key.includes('argoproj.io/')) {
      findings.leftOut(
        ['metadata', 'annotations', key],
        'an Argo CD annotation of the Application: no Capstan meaning',
      );
      delete annotations?.[key];
    }
  }
  const finalizers: string[] = [];
  for (const [index, finalizer] of (
    listField(metadata, 'finalizers', ['metadata'], findings) ?? []
  ).entries()) {
    if (typeof finalizer === 'string' && ARGOCD_FINALIZER.test(finalizer))
      finalizers.push(RESOURCES_FINALIZER);
    else
      findings.leftOut(
        ['metadata', 'finalizers', index],
        'not the Argo CD resources finalizer; not converted',
      );
  }
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    ...(labels === undefined || Object.keys(labels).length === 0 ? {} : { labels }),
    ...(annotations === undefined || Object.keys(annotations).length === 0 ? {} : { annotations }),
    ...(finalizers.length === 0 ? {} : { finalizers: [...new Set(finalizers)] }),
  };
}

function stringMap(
  metadata: Fields,
  key: string,
  findings: ObjectFindings,
): Record<string, string> | undefined {
  const map = mapField(metadata, key, ['metadata'], findings);
  if (!map) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(map)) {
    if (typeof value === 'string') out[name] = value;
    else findings.leftOut(['metadata', key, name], 'expected a string; not converted');
  }
  return out;
}

/** `spec.source`, or the only entry of `spec.sources`; several sources are left out. */
function convertSources(spec: Fields, findings: ObjectFindings): ApplicationSource | undefined {
  const sources = listField(spec, 'sources', ['spec'], findings);
  if (sources !== undefined && (sources.length !== 1 || spec['source'] !== undefined)) {
    findings.leftOut(
      ['spec', 'sources'],
      'several sources in one Application: a Capstan Application has one source; make one Application per source',
    );
    return undefined;
  }
  const at = sources === undefined ? ['spec', 'source'] : ['spec', 'sources', 0];
  const source = sources === undefined ? mapField(spec, 'source', ['spec'], findings) : fieldsOf(sources[0]);
  if (!source) {
    findings.leftOut(at, 'missing: an Application needs a source');
    return undefined;
  }
  return convertSource(source, at, findings);
}

const SOURCE_FIELDS = [
  'repoURL',
  'targetRevision',
  'path',
  'helm',
  'kustomize',
  'directory',
  'plugin',
  'chart',
  'ref',
  'name',
];

function convertSource(
  source: Fields,
  at: (string | number)[],
  findings: ObjectFindings,
): ApplicationSource | undefined {
  findings.unknownKeys(source, SOURCE_FIELDS, at);
  if (source['chart'] !== undefined) return convertChartSource(source, at, findings);
  if (source['plugin'] !== undefined) {
    findings.leftOut(
      [...at, 'plugin'],
      'config management plugins do not run in Capstan: render in CI and commit the output, or use Kustomize or Helm',
    );
    return undefined;
  }
  for (const key of ['ref', 'name'])
    if (source[key] !== undefined)
      findings.leftOut([...at, key], 'names a source among several; not used by Capstan');
  const repoURL = stringField(source, 'repoURL', at, findings);
  if (repoURL === undefined) {
    findings.leftOut([...at, 'repoURL'], 'missing: the git repository is required');
    return undefined;
  }
  const targetRevision = stringField(source, 'targetRevision', at, findings);
  const path = stringField(source, 'path', at, findings);
  const insecure = insecureHttp(repoURL, [...at, 'repoURL'], findings);
  return {
    repoURL,
    ...(targetRevision === undefined ? {} : { targetRevision }),
    ...(path === undefined || repositoryPath(path) === '.' ? {} : { path: repositoryPath(path) }),
    ...(insecure ? { insecureHttp: true } : {}),
    ...convertRenderer(source, at, findings),
  };
}

/**
 * A chart of a Helm repository: repoURL, chart and targetRevision mean the same in Capstan. Argo CD
 * writes an OCI registry without a scheme (`registry.example.com/charts`); Capstan with `oci://`.
 */
function convertChartSource(
  source: Fields,
  at: (string | number)[],
  findings: ObjectFindings,
): ApplicationSource | undefined {
  const chart = stringField(source, 'chart', at, findings);
  const written = stringField(source, 'repoURL', at, findings);
  if (chart === undefined || written === undefined) {
    if (written === undefined)
      findings.leftOut([...at, 'repoURL'], 'missing: the Helm repository is required');
    return undefined;
  }
  let repoURL = written;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(written)) {
    repoURL = `oci://${written}`;
    findings.note([...at, 'repoURL'], `an OCI registry without a scheme: converted to ${repoURL}`);
  }
  const targetRevision = stringField(source, 'targetRevision', at, findings);
  if (source['path'] !== undefined)
    findings.note([...at, 'path'], 'a chart of a Helm repository has no path (Argo CD ignores it too)');
  for (const key of ['kustomize', 'directory'])
    if (source[key] !== undefined) findings.leftOut([...at, key], 'a chart is rendered by helm');
  const helm = mapField(source, 'helm', at, findings);
  const insecure = insecureHttp(repoURL, [...at, 'repoURL'], findings);
  return {
    repoURL,
    chart,
    ...(targetRevision === undefined ? {} : { targetRevision }),
    ...(insecure ? { insecureHttp: true } : {}),
    ...(helm ? { helm: convertHelm(helm, [...at, 'helm'], findings) } : {}),
  };
}

function convertRenderer(
  source: Fields,
  at: (string | number)[],
  findings: ObjectFindings,
): Partial<ApplicationSource> {
  const helm = mapField(source, 'helm', at, findings);
  if (helm) return { type: 'helm', helm: convertHelm(helm, [...at, 'helm'], findings) };
  const kustomize = mapField(source, 'kustomize', at, findings);
  if (kustomize) {
    for (const key of Object.keys(kustomize))
      findings.leftOut(
        [...at, 'kustomize', key],
        'Capstan runs kustomize build on the folder as it is: write this in its kustomization.yaml',
      );
    return { type: 'kustomize' };
  }
  const directory = mapField(source, 'directory', at, findings);
  if (directory)
    return { type: 'directory', directory: convertDirectory(directory, [...at, 'directory'], findings) };
  return {};
}

const HELM_LEFT_OUT: Readonly<Record<string, string>> = {
  fileParameters: 'values read from files by name are not supported: put them in a values file',
  passCredentials: 'credentials go to the chart repositories their Secret url covers (repositorySecretRefs)',
  ignoreMissingValueFiles: 'a values file that is missing is an error in Capstan',
  version: 'the Helm version is the one Capstan pins',
  namespace: 'the release namespace is the destination namespace',
  kubeVersion: 'the Kubernetes version is the destination cluster’s',
  apiVersions: 'the API versions are the destination cluster’s',
  skipSchemaValidation: 'the chart’s values schema is always checked',
  skipTests: 'test hooks of the chart are rendered as Helm renders them',
};

function convertHelm(helm: Fields, at: (string | number)[], findings: ObjectFindings): HelmOptions {
  findings.unknownKeys(
    helm,
    [
      'valueFiles',
      'parameters',
      'releaseName',
      'skipCrds',
      'values',
      'valuesObject',
      ...Object.keys(HELM_LEFT_OUT),
    ],
    at,
  );
  for (const [key, reason] of Object.entries(HELM_LEFT_OUT))
    if (helm[key] !== undefined) findings.leftOut([...at, key], reason);
  const releaseName = stringField(helm, 'releaseName', at, findings);
  const skipCrds = booleanField(helm, 'skipCrds', at, findings);
  const valueFiles = helmValueFiles(helm, at, findings);
  const parameters = helmParameters(helm, at, findings);
  const values = helmValues(helm, at, findings);
  return {
    ...(releaseName === undefined ? {} : { releaseName }),
    ...(valueFiles.length === 0 ? {} : { valueFiles }),
    ...(values === undefined ? {} : { values }),
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(skipCrds === undefined ? {} : { skipCrds }),
  };
}

function helmValueFiles(helm: Fields, at: (string | number)[], findings: ObjectFindings): string[] {
  const files: string[] = [];
  for (const [index, file] of (listField(helm, 'valueFiles', at, findings) ?? []).entries()) {
    if (typeof file !== 'string') findings.leftOut([...at, 'valueFiles', index], 'expected a string');
    else if (/^[a-z]+:\/\//i.test(file) || file.startsWith('$'))
      findings.leftOut(
        [...at, 'valueFiles', index],
        `'${file}' is outside the chart's repository: copy it into it`,
      );
    else files.push(file);
  }
  return files;
}

function helmParameters(
  helm: Fields,
  at: (string | number)[],
  findings: ObjectFindings,
): NonNullable<HelmOptions['parameters']> {
  const parameters: NonNullable<HelmOptions['parameters']> = [];
  for (const [index, item] of (listField(helm, 'parameters', at, findings) ?? []).entries()) {
    const here = [...at, 'parameters', index];
    const parameter = fieldsOf(item);
    const name = parameter && stringField(parameter, 'name', here, findings);
    if (!parameter || name === undefined) {
      findings.leftOut(here, 'a parameter needs a name');
      continue;
    }
    const forceString = booleanField(parameter, 'forceString', here, findings);
    parameters.push({
      name,
      value: stringField(parameter, 'value', here, findings) ?? '',
      ...(forceString === true ? { forceString } : {}),
    });
  }
  return parameters;
}

/** Inline values: `values` (a YAML text) or `valuesObject` (a map, which Argo CD prefers when both are set). */
function helmValues(helm: Fields, at: (string | number)[], findings: ObjectFindings): string | undefined {
  const object = mapField(helm, 'valuesObject', at, findings);
  const text = helm['values'];
  if (object) {
    if (text !== undefined)
      findings.note([...at, 'values'], 'replaced by valuesObject, as Argo CD does when both are set');
    return stringify(object);
  }
  if (text === undefined || text === null) return undefined;
  if (typeof text === 'string') return text;
  const map = fieldsOf(text);
  if (map) return stringify(map);
  findings.leftOut([...at, 'values'], 'expected a YAML text or a map');
  return undefined;
}

function convertDirectory(
  directory: Fields,
  at: (string | number)[],
  findings: ObjectFindings,
): NonNullable<ApplicationSource['directory']> {
  findings.unknownKeys(directory, ['recurse', 'include', 'exclude', 'jsonnet'], at);
  const recurse = booleanField(directory, 'recurse', at, findings);
  const include = globList(directory, 'include', at, findings);
  const exclude = globList(directory, 'exclude', at, findings);
  const jsonnetFields = mapField(directory, 'jsonnet', at, findings);
  const jsonnet = jsonnetFields ? convertJsonnet(jsonnetFields, [...at, 'jsonnet'], findings) : undefined;
  // Argo CD does not descend into sub-folders unless asked; Capstan does by default.
  return {
    recurse: recurse ?? false,
    ...(include.length === 0 ? {} : { include }),
    ...(exclude.length === 0 ? {} : { exclude }),
    ...(jsonnet === undefined ? {} : { jsonnet }),
  };
}

type JsonnetFields = NonNullable<NonNullable<ApplicationSource['directory']>['jsonnet']>;
type JsonnetVariables = NonNullable<JsonnetFields['tlas']>;

/** Argo CD's directory.jsonnet has Capstan's shape: tlas and extVars ({name, value, code}) and libs (from the repository root). */
function convertJsonnet(
  jsonnet: Fields,
  at: (string | number)[],
  findings: ObjectFindings,
): JsonnetFields | undefined {
  findings.unknownKeys(jsonnet, ['tlas', 'extVars', 'libs'], at);
  const tlas = jsonnetVariables(jsonnet, 'tlas', at, findings);
  const extVars = jsonnetVariables(jsonnet, 'extVars', at, findings);
  const libs: string[] = [];
  for (const [index, lib] of (listField(jsonnet, 'libs', at, findings) ?? []).entries()) {
    if (typeof lib === 'string' && lib !== '') libs.push(lib);
    else findings.leftOut([...at, 'libs', index], 'expected a folder of the repository');
  }
  const converted: JsonnetFields = {
    ...(tlas.length === 0 ? {} : { tlas }),
    ...(extVars.length === 0 ? {} : { extVars }),
    ...(libs.length === 0 ? {} : { libs }),
  };
  return Object.keys(converted).length === 0 ? undefined : converted;
}

function jsonnetVariables(
  jsonnet: Fields,
  key: 'tlas' | 'extVars',
  at: (string | number)[],
  findings: ObjectFindings,
): JsonnetVariables {
  const variables: JsonnetVariables = [];
  for (const [index, item] of (listField(jsonnet, key, at, findings) ?? []).entries()) {
    const here = [...at, key, index];
    const variable = fieldsOf(item);
    const name = variable && stringField(variable, 'name', here, findings);
    if (!variable || name === undefined || name === '') {
      findings.leftOut(here, 'a variable needs a name');
      continue;
    }
    const code = booleanField(variable, 'code', here, findings);
    variables.push({
      name,
      value: stringField(variable, 'value', here, findings) ?? '',
      ...(code === true ? { code } : {}),
    });
  }
  return variables;
}

/**
 * Argo CD's one glob (`*.yaml`, or `{a.yaml,b/*.yaml}` for several) as Capstan's list of globs, which
 * have no braces; a brace anywhere else is left out.
 */
function globList(
  directory: Fields,
  key: string,
  at: (string | number)[],
  findings: ObjectFindings,
): string[] {
  const pattern = stringField(directory, key, at, findings);
  if (pattern === undefined || pattern === '') return [];
  const alternatives = /^\{([^{}]*)\}$/.exec(pattern)?.[1];
  const globs =
    alternatives === undefined ? [pattern] : alternatives.split(',').filter((glob) => glob !== '');
  if (globs.some((glob) => /[{}]/.test(glob))) {
    findings.leftOut(
      [...at, key],
      `'${pattern}': braces other than one list around the whole are not supported`,
    );
    return [];
  }
  return globs;
}

function convertDestination(spec: Fields, findings: ObjectFindings): ApplicationDestination | undefined {
  const at = ['spec', 'destination'];
  const destination = mapField(spec, 'destination', ['spec'], findings);
  if (!destination) return undefined;
  findings.unknownKeys(destination, ['server', 'name', 'namespace'], at);
  const server = stringField(destination, 'server', at, findings);
  const name = stringField(destination, 'name', at, findings);
  const namespace = stringField(destination, 'namespace', at, findings);
  const cluster = clusterName({ server, name }, findings);
  return {
    ...(cluster === undefined || cluster === IN_CLUSTER ? {} : { cluster }),
    ...(namespace === undefined || namespace === '' ? {} : { namespace }),
  };
}

/** The destination's cluster (argoCdCluster); any other than in-cluster must be registered in Capstan. */
function clusterName(
  destination: { server: string | undefined; name: string | undefined },
  findings: ObjectFindings,
): string | undefined {
  const cluster = argoCdCluster(destination.server, destination.name);
  if (cluster === undefined) return undefined;
  findings.note(
    ['spec', 'destination', destination.name === undefined ? 'server' : 'name'],
    `register the cluster in Capstan as '${cluster}' (capstan cluster add ${cluster} --kubeconfig FILE)`,
  );
  return cluster;
}

function convertProject(spec: Fields, findings: ObjectFindings): string | undefined {
  const project = stringField(spec, 'project', ['spec'], findings);
  if (project === undefined || project === '' || project === 'default') return undefined;
  findings.note(
    ['spec', 'project'],
    `a Capstan Project named '${project}' must exist (an AppProject in the input is converted to one)`,
  );
  return project;
}

function convertSyncPolicy(spec: Fields, findings: ObjectFindings): SyncPolicy | undefined {
  const at = ['spec', 'syncPolicy'];
  const policy = mapField(spec, 'syncPolicy', ['spec'], findings);
  if (!policy) return undefined;
  findings.unknownKeys(policy, ['automated', 'syncOptions', 'retry', 'managedNamespaceMetadata'], at);
  if (policy['managedNamespaceMetadata'] !== undefined)
    findings.leftOut(
      [...at, 'managedNamespaceMetadata'],
      'labels and annotations of a created namespace: put a Namespace object in the source',
    );
  const automated = convertAutomated(policy, at, findings);
  const syncOptions = convertSyncOptions(policy, at, findings);
  const retry = convertRetry(policy, at, findings);
  const result: SyncPolicy = {
    ...(automated === undefined ? {} : { automated }),
    ...(syncOptions.length === 0 ? {} : { syncOptions }),
    ...(retry === undefined ? {} : { retry }),
  };
  return Object.keys(result).length === 0 ? undefined : result;
}

function convertAutomated(policy: Fields, at: string[], findings: ObjectFindings): SyncPolicy['automated'] {
  const automated = mapField(policy, 'automated', at, findings);
  if (!automated) return undefined;
  const here = [...at, 'automated'];
  findings.unknownKeys(automated, ['prune', 'selfHeal', 'allowEmpty', 'enabled'], here);
  if (booleanField(automated, 'enabled', here, findings) === false) return undefined;
  const prune = booleanField(automated, 'prune', here, findings);
  const selfHeal = booleanField(automated, 'selfHeal', here, findings);
  const allowEmpty = booleanField(automated, 'allowEmpty', here, findings);
  return {
    ...(prune === undefined ? {} : { prune }),
    ...(selfHeal === undefined ? {} : { selfHeal }),
    ...(allowEmpty === undefined ? {} : { allowEmpty }),
  };
}

function convertSyncOptions(policy: Fields, at: string[], findings: ObjectFindings): SyncOption[] {
  const options: SyncOption[] = [];
  for (const [index, option] of (listField(policy, 'syncOptions', at, findings) ?? []).entries()) {
    const here = [...at, 'syncOptions', index];
    if (typeof option !== 'string') findings.leftOut(here, 'expected a string');
    else if ((SYNC_OPTIONS as readonly string[]).includes(option)) {
      if (!options.includes(option as SyncOption)) options.push(option as SyncOption);
    } else if (option === 'ServerSideApply=true') findings.note(here, 'Capstan always applies server-side');
    else if (/^(CreateNamespace|Replace|PruneLast)=false$/.test(option))
      continue; // the default
    else findings.leftOut(here, `'${option}' is not a sync option of a Capstan Application`);
  }
  return options;
}

function convertRetry(policy: Fields, at: string[], findings: ObjectFindings): SyncPolicy['retry'] {
  const retry = mapField(policy, 'retry', at, findings);
  if (!retry) return undefined;
  const here = [...at, 'retry'];
  findings.unknownKeys(retry, ['limit', 'backoff', 'refresh'], here);
  if (retry['refresh'] !== undefined)
    findings.leftOut([...here, 'refresh'], 'a retry always uses the newest revision');
  let limit = typeof retry['limit'] === 'number' ? Math.trunc(retry['limit']) : undefined;
  if (retry['limit'] !== undefined && limit === undefined)
    findings.leftOut([...here, 'limit'], 'expected a number');
  if (limit !== undefined && (limit < 0 || limit > 100)) {
    findings.leftOut([...here, 'limit'], `${limit} retries: Capstan retries at most 100 times; set to 100`);
    limit = 100;
  }
  const backoff = mapField(retry, 'backoff', here, findings);
  const backoffAt = [...here, 'backoff'];
  if (backoff) findings.unknownKeys(backoff, ['duration', 'factor', 'maxDuration'], backoffAt);
  const duration = backoff && durationField(backoff, 'duration', backoffAt, findings);
  const maxDuration = backoff && durationField(backoff, 'maxDuration', backoffAt, findings);
  const factor = typeof backoff?.['factor'] === 'number' ? backoff['factor'] : undefined;
  return {
    ...(limit === undefined ? {} : { limit }),
    ...(backoff === undefined
      ? {}
      : {
          backoff: {
            ...(duration === undefined ? {} : { duration }),
            ...(factor === undefined ? {} : { factor }),
            ...(maxDuration === undefined ? {} : { maxDuration }),
          },
        }),
  };
}

function convertIgnoreDifferences(spec: Fields, findings: ObjectFindings): IgnoreDifference[] | undefined {
  const entries = listField(spec, 'ignoreDifferences', ['spec'], findings);
  if (!entries) return undefined;
  const out: IgnoreDifference[] = [];
  for (const [index, item] of entries.entries()) {
    const at = ['spec', 'ignoreDifferences', index];
    const entry = fieldsOf(item);
    const kind = entry && stringField(entry, 'kind', at, findings);
    if (!entry || kind === undefined) {
      findings.leftOut(at, 'an entry needs a kind');
      continue;
    }
    findings.unknownKeys(
      entry,
      ['group', 'kind', 'name', 'namespace', 'jsonPointers', 'jqPathExpressions', 'managedFieldsManagers'],
      at,
    );
    if (entry['jqPathExpressions'] !== undefined)
      findings.leftOut([...at, 'jqPathExpressions'], 'jq expressions are not supported: write JSON pointers');
    const strings = (key: string) =>
      (listField(entry, key, at, findings) ?? []).filter(
        (value): value is string => typeof value === 'string',
      );
    const group = stringField(entry, 'group', at, findings);
    const name = stringField(entry, 'name', at, findings);
    const namespace = stringField(entry, 'namespace', at, findings);
    const jsonPointers = strings('jsonPointers');
    const managers = strings('managedFieldsManagers');
    out.push({
      ...(group === undefined ? {} : { group }),
      kind,
      ...(name === undefined ? {} : { name }),
      ...(namespace === undefined ? {} : { namespace }),
      ...(jsonPointers.length === 0 ? {} : { jsonPointers }),
      ...(managers.length === 0 ? {} : { managedFieldsManagers: managers }),
    });
  }
  return out.length === 0 ? undefined : out;
}
