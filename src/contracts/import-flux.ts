/**
 * Flux objects → Capstan Applications, for `capstan import flux`. Pure. A Kustomization
 * (kustomize.toolkit.fluxcd.io) or a HelmRelease (helm.toolkit.fluxcd.io) together with the GitRepository
 * it names (source.toolkit.fluxcd.io) becomes one Application; a source that nothing converted uses, a
 * HelmRepository or any field without a Capstan equivalent is left out with the field and the reason.
 */
import { posix } from 'node:path';
import { stringify } from 'yaml';
import type { ParsedObject } from '../core/manifest.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  type Application,
  type ApplicationReference,
  type ApplicationSource,
  type HelmOptions,
  type SyncOption,
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
import { parseDuration } from '../core/duration.ts';

const SOURCE_GROUP = 'source.toolkit.fluxcd.io';
const KUSTOMIZE_GROUP = 'kustomize.toolkit.fluxcd.io';
const HELM_GROUP = 'helm.toolkit.fluxcd.io';
/** Flux's default when a GitRepository names no ref. */
const FLUX_DEFAULT_BRANCH = 'master';

/**
 * A GitRepository (or a HelmRepository, an OCIRepository) as far as it converts: the source of an
 * Application, its interval and suspension.
 */
interface GitSource {
  readonly source: ApplicationSource;
  readonly interval?: string;
  readonly suspend?: boolean;
}

interface FluxObject {
  readonly parsed: ParsedObject;
  readonly findings: ObjectFindings;
  readonly namespace: string;
  readonly spec: Fields;
}

/** Converts the Flux objects among `objects`; any other object is reported as left out. */
export function importFlux(objects: readonly ParsedObject[], options: ImportOptions = {}): ImportResult {
  const result: ImportResult = { applications: [], projects: [], leftOut: [], notes: [] };
  const sources = new Map<string, FluxObject>();
  const consumers: FluxObject[] = [];
  for (const parsed of objects) {
    const { object } = parsed;
    const findings = new ObjectFindings(object, parsed.source, result);
    const group = object.apiVersion.split('/')[0] ?? '';
    const spec = fieldsOf((object as unknown as Fields)['spec']);
    const flux: FluxObject | undefined = spec && {
      parsed,
      findings,
      namespace: object.metadata.namespace ?? '',
      spec,
    };
    if (![SOURCE_GROUP, KUSTOMIZE_GROUP, HELM_GROUP].includes(group))
      findings.leftOut([], `not a Flux object (apiVersion ${object.apiVersion}); nothing converted`);
    else if (!flux) findings.leftOut(['spec'], 'missing or not a map; nothing converted');
    else if (group === SOURCE_GROUP)
      sources.set(sourceKey(object.kind, flux.namespace, object.metadata.name ?? ''), flux);
    else if (object.kind === 'Kustomization' || object.kind === 'HelmRelease') consumers.push(flux);
    else findings.leftOut([], `${object.kind} is not a Flux kind this importer converts`);
  }
  const used = new Set<string>();
  const gitSources = new Map<string, GitSource | undefined>();
  const gitSource = (key: string, flux: FluxObject) => {
    if (!gitSources.has(key)) gitSources.set(key, convertGitRepository(flux));
    return gitSources.get(key);
  };
  // The namespace each converted object's Application got, by the object's Flux namespace and name.
  const converted = new Map<string, string>();
  for (const consumer of consumers) {
    const application = convertConsumer(consumer, { sources, used, gitSource, options });
    if (!application) continue;
    result.applications.push(application);
    converted.set(`${consumer.namespace}/${application.metadata.name}`, application.metadata.namespace ?? '');
  }
  for (const application of result.applications) pointDependencies(application, converted);
  for (const [key, flux] of sources) {
    if (!used.has(key))
      flux.findings.leftOut(
        [],
        'no Kustomization or HelmRelease among the input uses this source; nothing converted',
      );
  }
  return result;
}

interface Lookup {
  readonly sources: ReadonlyMap<string, FluxObject>;
  readonly used: Set<string>;
  readonly gitSource: (key: string, flux: FluxObject) => GitSource | undefined;
  readonly options: ImportOptions;
}

const sourceKey = (kind: string, namespace: string, name: string) => `${kind}/${namespace}/${name}`;

function convertConsumer(consumer: FluxObject, lookup: Lookup): Application | undefined {
  const { object } = consumer.parsed;
  const isKustomization = object.kind === 'Kustomization';
  if (!isKustomization && consumer.spec['chartRef'] !== undefined) return convertChartRef(consumer, lookup);
  const refAt = isKustomization ? ['spec', 'sourceRef'] : ['spec', 'chart', 'spec', 'sourceRef'];
  const chart = isKustomization ? undefined : chartSpec(consumer);
  const ref = fieldsOf(isKustomization ? consumer.spec['sourceRef'] : chart?.['sourceRef']);
  if (!ref) {
    consumer.findings.leftOut(refAt, 'missing: the source is required; nothing converted');
    return undefined;
  }
  const kind = stringField(ref, 'kind', refAt, consumer.findings) ?? '';
  const name = stringField(ref, 'name', refAt, consumer.findings) ?? '';
  const key = sourceKey(
    kind,
    stringField(ref, 'namespace', refAt, consumer.findings) ?? consumer.namespace,
    name,
  );
  const source = lookup.sources.get(key);
  if (!isKustomization && kind === 'HelmRepository' && source) {
    lookup.used.add(key);
    const repository = convertHelmRepository(source);
    return repository && convertHelmRelease(consumer, repository, chart ?? {}, lookup.options);
  }
  if (kind !== 'GitRepository') {
    if (source) lookup.used.add(key);
    consumer.findings.leftOut(refAt, unsupportedSource(kind, key, source));
    return undefined;
  }
  if (!source) {
    consumer.findings.leftOut(refAt, `${key} is not among the input: give it in the same file or stream`);
    return undefined;
  }
  lookup.used.add(key);
  if (isKustomization && appliesItsOwnFolder(consumer)) {
    consumer.findings.leftOut(
      ['spec', 'path'],
      "it applies the folder that holds it (Flux's own sync, as flux bootstrap writes it): the Applications " +
        'imported from that folder take its place; apply them, or keep them in git under an Application of their own',
    );
    return undefined;
  }
  const git = lookup.gitSource(key, source);
  if (!git) {
    consumer.findings.leftOut(refAt, `${key} could not be converted (see its own lines)`);
    return undefined;
  }
  return isKustomization
    ? convertKustomization(consumer, git, lookup.options)
    : convertHelmRelease(consumer, git, chart ?? {}, lookup.options);
}

/**
 * True when a Kustomization's path is a folder that holds its own file (read from a checkout): the
 * cluster folder of a fleet repository, which Flux applies to itself. Its Flux objects are what the
 * import converts; an Application applying them would apply kinds that Capstan replaces.
 */
function appliesItsOwnFolder(consumer: FluxObject): boolean {
  const path = consumer.spec['path'];
  if (typeof path !== 'string') return false;
  const folder = posix.normalize(path).replace(/^\.?\/+|\/+$/g, '');
  if (folder === '' || folder === '.' || folder.startsWith('..')) return false;
  return `/${posix.dirname(consumer.parsed.source.file)}/`.includes(`/${folder}/`);
}

function unsupportedSource(kind: string, key: string, source: FluxObject | undefined): string {
  const charts = kind === 'HelmRepository' || kind === 'OCIRepository';
  if (charts && source === undefined)
    return `${key} is not among the input: give it in the same file or stream`;
  if (charts) return `a ${kind} holds charts: a HelmRelease uses it, not a Kustomization; nothing converted`;
  return `a ${kind || 'source of no kind'}: Capstan sources are git repositories, and Helm repositories of charts for a HelmRelease; nothing converted`;
}

// ── GitRepository ───────────────────────────────────────────────────────────────────────────────

const GIT_LEFT_OUT: Readonly<Record<string, string>> = {
  ignore: 'Capstan reads the whole folder: move what should be ignored out of it',
  include: 'other repositories included in this one are not fetched',
  recurseSubmodules: 'submodules are not fetched',
  verify: 'commit signatures are not verified by this version',
  proxySecretRef: 'the agent uses its own proxy settings',
  provider: 'cloud-provider authentication is not supported: use a credentials Secret',
  sparseCheckout: 'Capstan fetches the whole repository',
  timeout: 'git operations use the agent’s timeout',
};

/**
 * A source object's spec.url, once its keys are checked: those Capstan converts (`known`), those it
 * reports as left out with the reason (`leftOut`), and any other as unknown.
 */
function sourceUrl(
  flux: FluxObject,
  known: readonly string[],
  leftOut: Readonly<Record<string, string>>,
): string | undefined {
  const { spec, findings } = flux;
  findings.unknownKeys(spec, [...known, ...Object.keys(leftOut)], ['spec']);
  for (const [key, reason] of Object.entries(leftOut))
    if (spec[key] !== undefined) findings.leftOut(['spec', key], reason);
  return stringField(spec, 'url', ['spec'], findings);
}

function convertGitRepository(flux: FluxObject): GitSource | undefined {
  const { findings } = flux;
  const url = sourceUrl(flux, ['url', 'ref', 'interval', 'secretRef', 'suspend'], GIT_LEFT_OUT);
  if (url === undefined) {
    findings.leftOut(['spec', 'url'], 'missing: the repository is required');
    return undefined;
  }
  return repositorySource(flux, url, { targetRevision: targetRevision(flux) });
}

/** The ref as Capstan's targetRevision: commit, then name, semver, tag, branch (Flux's precedence). */
function targetRevision(flux: FluxObject): string {
  const at = ['spec', 'ref'];
  const ref = mapField(flux.spec, 'ref', ['spec'], flux.findings);
  if (!ref) {
    flux.findings.note(['spec', 'ref'], `none given: Flux's default branch '${FLUX_DEFAULT_BRANCH}' is used`);
    return FLUX_DEFAULT_BRANCH;
  }
  flux.findings.unknownKeys(ref, ['commit', 'name', 'semver', 'tag', 'branch'], at);
  const read = (key: string) => stringField(ref, key, at, flux.findings);
  const commit = read('commit');
  const name = read('name')?.replace(/^refs\/(heads|tags)\//, '');
  const chosen = commit ?? name ?? read('semver') ?? read('tag') ?? read('branch');
  if (commit !== undefined && read('branch') !== undefined)
    flux.findings.note(
      [...at, 'branch'],
      'the commit is used; Capstan does not check that it is on the branch',
    );
  return chosen ?? FLUX_DEFAULT_BRANCH;
}

function credentials(flux: FluxObject): { name: string } | undefined {
  const ref = mapField(flux.spec, 'secretRef', ['spec'], flux.findings);
  const name = ref && stringField(ref, 'name', ['spec', 'secretRef'], flux.findings);
  if (name === undefined) return undefined;
  flux.findings.note(
    ['spec', 'secretRef'],
    `Secret '${name}' must be of type capstan.dev/repository-credentials, in the namespace of the Application, ` +
      'with a url key (the repository URL or a prefix) and username and password, or token (Flux: bearerToken), ' +
      'or sshPrivateKey (Flux: identity) with knownHosts (Flux: known_hosts)',
  );
  return { name };
}

// ── Kustomization ───────────────────────────────────────────────────────────────────────────────

const KUSTOMIZATION_LEFT_OUT: Readonly<Record<string, string>> = {
  postBuild: 'variable substitution after the build is not supported: write the values in the files',
  patches: 'Capstan runs kustomize build on the folder as it is: put the patches in its kustomization.yaml',
  images: 'Capstan runs kustomize build on the folder as it is: put the images in its kustomization.yaml',
  namePrefix: 'Capstan runs kustomize build on the folder as it is: put the prefix in its kustomization.yaml',
  nameSuffix: 'Capstan runs kustomize build on the folder as it is: put the suffix in its kustomization.yaml',
  components:
    'Capstan runs kustomize build on the folder as it is: list the components in its kustomization.yaml',
  commonMetadata:
    'Capstan runs kustomize build on the folder as it is: put the labels in its kustomization.yaml',
  decryption: 'decryption of SOPS files is not supported: keep Secrets out of git or use a secrets operator',
  kubeConfig:
    'a destination by kubeconfig: register the cluster (capstan cluster add) and set the destination cluster',
  serviceAccountName: 'impersonation is set per Project in Capstan',
  healthChecks: 'Capstan checks the health of every object it applies',
  healthCheckExprs: 'custom health expressions are not supported',
  retryInterval: 'retries follow the Application’s retry backoff',
  timeout: 'a sync has the agent’s timeout',
  force: 'recreating objects on immutable changes is per object in Capstan (the Replace=true sync option)',
  deletionPolicy: 'deleting the Application deletes its objects when it has the resources finalizer',
};

function convertKustomization(
  flux: FluxObject,
  git: GitSource,
  options: ImportOptions,
): Application | undefined {
  const { spec, findings } = flux;
  findings.unknownKeys(
    spec,
    [
      'sourceRef',
      'path',
      'prune',
      'targetNamespace',
      'interval',
      'suspend',
      'dependsOn',
      'wait',
      ...Object.keys(KUSTOMIZATION_LEFT_OUT),
    ],
    ['spec'],
  );
  for (const [key, reason] of Object.entries(KUSTOMIZATION_LEFT_OUT))
    if (spec[key] !== undefined) findings.leftOut(['spec', key], reason);
  if (spec['wait'] !== undefined)
    findings.note(['spec', 'wait'], 'Capstan reports the health of every object it applies');
  const path = stringField(spec, 'path', ['spec'], findings);
  const prune = booleanField(spec, 'prune', ['spec'], findings) ?? false;
  findings.note([], 'Flux corrects drift on every interval: converted with automated sync and selfHeal');
  return application(flux, options, {
    source: {
      ...git.source,
      ...(path === undefined || repositoryPath(path) === '.' ? {} : { path: repositoryPath(path) }),
    },
    automated: { prune, selfHeal: true },
    git,
  });
}

// ── HelmRelease ─────────────────────────────────────────────────────────────────────────────────

const HELM_RELEASE_LEFT_OUT: Readonly<Record<string, string>> = {
  valuesFrom: 'values from ConfigMaps and Secrets are not supported: put them in a values file in git',
  storageNamespace: 'Capstan keeps no Helm release storage: it applies the rendered objects',
  upgrade: 'Capstan applies the rendered objects; there is no Helm upgrade to configure',
  rollback: 'roll back with capstan app rollback',
  uninstall: 'deleting the Application deletes its objects when it has the resources finalizer',
  test: 'Helm tests are not run',
  timeout: 'a sync has the agent’s timeout',
  maxHistory: 'Capstan keeps the last 20 syncs of every Application',
  serviceAccountName: 'impersonation is set per Project in Capstan',
  kubeConfig:
    'a destination by kubeconfig: register the cluster (capstan cluster add) and set the destination cluster',
  postRenderers: 'post-renderers are not supported: use a Kustomize folder over the chart',
  persistentClient: 'no Helm client is kept',
};

function chartSpec(flux: FluxObject): Fields | undefined {
  const chart = mapField(flux.spec, 'chart', ['spec'], flux.findings);
  return chart && mapField(chart, 'spec', ['spec', 'chart'], flux.findings);
}

function convertHelmRelease(
  flux: FluxObject,
  git: GitSource,
  chart: Fields,
  options: ImportOptions,
): Application | undefined {
  const fromRepository = git.source.chart !== undefined;
  const { spec, findings } = flux;
  findings.unknownKeys(
    spec,
    [
      'chart',
      'chartRef',
      'releaseName',
      'targetNamespace',
      'values',
      'interval',
      'suspend',
      'dependsOn',
      'install',
      'driftDetection',
      ...Object.keys(HELM_RELEASE_LEFT_OUT),
    ],
    ['spec'],
  );
  for (const [key, reason] of Object.entries(HELM_RELEASE_LEFT_OUT))
    if (spec[key] !== undefined) findings.leftOut(['spec', key], reason);
  const chartAt = ['spec', 'chart', 'spec'];
  findings.unknownKeys(
    chart,
    ['chart', 'version', 'sourceRef', 'valuesFiles', 'reconcileStrategy', 'interval'],
    chartAt,
  );
  const version = stringField(chart, 'version', chartAt, findings);
  if (version !== undefined && !fromRepository)
    findings.note([...chartAt, 'version'], 'a chart from git: the revision decides the version');
  const chartName = stringField(chart, 'chart', chartAt, findings);
  if (fromRepository && chartName === undefined) {
    findings.leftOut([...chartAt, 'chart'], 'missing: the name of the chart in the repository is required');
    return undefined;
  }
  // A chart of a Helm repository is unpacked in a folder of its name; its values files are in it, as Flux reads them.
  const chartPath = fromRepository ? '.' : repositoryPath(chartName ?? '.');
  const helm = helmOptions(flux, chart, chartPath);
  const install = installOptions(flux);
  const drift = mapField(spec, 'driftDetection', ['spec'], findings);
  const selfHeal = drift?.['mode'] === 'enabled';
  findings.note(
    [],
    `a Helm release: converted with automated sync and prune${selfHeal ? ' and selfHeal' : ''}`,
  );
  return application(flux, options, {
    source: {
      ...git.source,
      ...(fromRepository
        ? {
            // Flux's default version is `*`: the newest.
            ...(chartName === undefined ? {} : { chart: chartName }),
            ...(version === undefined ? {} : { targetRevision: version }),
          }
        : { ...(chartPath === '.' ? {} : { path: chartPath }), type: 'helm' as const }),
      helm: { ...helm, ...install.helm },
    },
    automated: { prune: true, selfHeal },
    git,
    syncOptions: install.syncOptions,
  });
}

function helmOptions(flux: FluxObject, chart: Fields, chartPath: string): HelmOptions {
  const { spec, findings } = flux;
  const chartAt = ['spec', 'chart', 'spec'];
  const releaseName = stringField(spec, 'releaseName', ['spec'], findings) ?? defaultReleaseName(flux);
  // Flux reads valuesFiles from the source's root; Capstan from the chart folder.
  const valueFiles: string[] = [];
  for (const [index, file] of (listField(chart, 'valuesFiles', chartAt, findings) ?? []).entries()) {
    if (typeof file === 'string') valueFiles.push(posix.relative(chartPath, repositoryPath(file)) || '.');
    else findings.leftOut([...chartAt, 'valuesFiles', index], 'expected a string');
  }
  const values = mapField(spec, 'values', ['spec'], findings);
  return {
    ...(releaseName === undefined ? {} : { releaseName }),
    ...(valueFiles.length === 0 ? {} : { valueFiles }),
    ...(values === undefined ? {} : { values: stringify(values) }),
  };
}

/**
 * Flux names a release `<targetNamespace>-<name>` when it has a target namespace (Capstan: the
 * Application's name); the same name keeps the rendered objects' names. Flux shortens names longer than
 * 53 characters with a hash; those are left to Capstan's default, with a note.
 */
function defaultReleaseName(flux: FluxObject): string | undefined {
  const target = flux.spec['targetNamespace'];
  if (typeof target !== 'string' || target === '') return undefined;
  const name = `${target}-${flux.parsed.object.metadata.name ?? ''}`;
  if (name.length <= 53) return name;
  flux.findings.note(
    ['spec', 'releaseName'],
    `'${name}' is longer than 53 characters: set releaseName to the name Flux used`,
  );
  return undefined;
}

function installOptions(flux: FluxObject): { helm: HelmOptions; syncOptions: SyncOption[] } {
  const at = ['spec', 'install'];
  const install = mapField(flux.spec, 'install', ['spec'], flux.findings);
  if (!install) return { helm: {}, syncOptions: [] };
  flux.findings.unknownKeys(install, ['createNamespace', 'crds'], at);
  const createNamespace = booleanField(install, 'createNamespace', at, flux.findings) === true;
  const crds = stringField(install, 'crds', at, flux.findings);
  return {
    helm: crds === 'Skip' ? { skipCrds: true } : {},
    syncOptions: createNamespace ? ['CreateNamespace=true'] : [],
  };
}

// ── HelmRepository and OCIRepository ────────────────────────────────────────────────────────────

const HELM_REPOSITORY_LEFT_OUT: Readonly<Record<string, string>> = {
  certSecretRef: 'a private CA is trusted by the agent (its CA bundle), not per repository',
  provider: 'cloud-provider authentication is not supported: use a credentials Secret',
  passCredentials: 'credentials go to the repositories their Secret url covers',
  accessFrom: 'Capstan Projects decide who may use what',
  timeout: 'downloads use the agent’s time limit',
  insecure: 'a registry over plain http is not supported for charts: use https',
  proxySecretRef: 'the agent uses its own proxy settings',
};

/** A HelmRepository (an HTTP index, or `type: oci`): the repoURL of Applications that name a chart in it. */
function convertHelmRepository(flux: FluxObject): GitSource | undefined {
  const url = sourceUrl(flux, ['url', 'type', 'interval', 'secretRef', 'suspend'], HELM_REPOSITORY_LEFT_OUT);
  if (url === undefined) {
    flux.findings.leftOut(['spec', 'url'], 'missing: the Helm repository is required');
    return undefined;
  }
  return repositorySource(flux, url, { chart: '' });
}

const OCI_REPOSITORY_LEFT_OUT: Readonly<Record<string, string>> = {
  ...HELM_REPOSITORY_LEFT_OUT,
  layerSelector:
    'the chart layer of a Helm chart is read (application/vnd.cncf.helm.chart.content.v1.tar+gzip)',
  verify: 'signatures are not verified by this version; the archive is checked against the manifest digest',
  ignore: 'a chart is rendered whole',
  serviceAccountName: 'credentials come from a Secret',
};

/**
 * A HelmRelease whose chartRef names an OCIRepository (`oci://host/path/<chart>` at a tag or semver):
 * the registry path is the repoURL, its last segment the chart.
 */
function convertChartRef(consumer: FluxObject, lookup: Lookup): Application | undefined {
  const at = ['spec', 'chartRef'];
  const { findings } = consumer;
  const ref = mapField(consumer.spec, 'chartRef', ['spec'], findings);
  const kind = ref && stringField(ref, 'kind', at, findings);
  const name = ref && stringField(ref, 'name', at, findings);
  if (kind !== 'OCIRepository' || name === undefined) {
    findings.leftOut(
      at,
      kind === 'HelmChart'
        ? "a HelmChart object: name the chart and its HelmRepository in the HelmRelease's chart.spec instead, then import again"
        : 'a chartRef needs kind OCIRepository and a name',
    );
    return undefined;
  }
  const key = sourceKey(kind, stringField(ref ?? {}, 'namespace', at, findings) ?? consumer.namespace, name);
  const source = lookup.sources.get(key);
  if (!source) {
    findings.leftOut(at, `${key} is not among the input: give it in the same file or stream`);
    return undefined;
  }
  lookup.used.add(key);
  const url = sourceUrl(source, ['url', 'ref', 'interval', 'secretRef', 'suspend'], OCI_REPOSITORY_LEFT_OUT);
  const slash = url?.lastIndexOf('/') ?? -1;
  if (url === undefined || !url.startsWith('oci://') || slash <= 'oci://'.length) {
    source.findings.leftOut(['spec', 'url'], 'expected oci://<registry>/<path>/<chart>');
    return undefined;
  }
  const repository = repositorySource(source, url.slice(0, slash), { chart: '' });
  const chart: Fields = { chart: url.slice(slash + 1), ...ociVersion(source) };
  return convertHelmRelease(consumer, repository, chart, lookup.options);
}

/** An OCIRepository's ref as a version: semver, then tag (a digest pins bytes, not a version: reported). */
function ociVersion(flux: FluxObject): { version?: string } {
  const at = ['spec', 'ref'];
  const ref = mapField(flux.spec, 'ref', ['spec'], flux.findings);
  if (!ref) return {};
  flux.findings.unknownKeys(ref, ['semver', 'tag', 'digest', 'semverFilter'], at);
  if (ref['digest'] !== undefined)
    flux.findings.leftOut(
      [...at, 'digest'],
      'a chart is chosen by version; its digest is checked against the registry and recorded',
    );
  if (ref['semverFilter'] !== undefined) flux.findings.leftOut([...at, 'semverFilter'], 'not supported');
  const version = stringField(ref, 'semver', at, flux.findings) ?? stringField(ref, 'tag', at, flux.findings);
  return version === undefined ? {} : { version };
}

/**
 * repoURL, credentials, interval and suspension of a source object; `pick` says what of it the
 * Application takes (a git revision, or a chart named later by the HelmRelease).
 */
function repositorySource(
  flux: FluxObject,
  url: string,
  pick: { readonly targetRevision: string } | { readonly chart: '' },
): GitSource {
  const { spec, findings } = flux;
  const insecure = insecureHttp(url, ['spec', 'url'], findings);
  const secretRef = credentials(flux);
  const interval = durationField(spec, 'interval', ['spec'], findings);
  const suspend = booleanField(spec, 'suspend', ['spec'], findings);
  return {
    source: {
      repoURL: url,
      ...pick,
      ...(insecure ? { insecureHttp: true } : {}),
      ...(secretRef === undefined ? {} : { secretRef }),
    },
    ...(interval === undefined ? {} : { interval }),
    ...(suspend === undefined ? {} : { suspend }),
  };
}

// ── The Application ─────────────────────────────────────────────────────────────────────────────

interface Parts {
  readonly source: ApplicationSource;
  readonly automated: { prune: boolean; selfHeal: boolean };
  readonly git: GitSource;
  readonly syncOptions?: SyncOption[];
}

function application(flux: FluxObject, options: ImportOptions, parts: Parts): Application | undefined {
  const { spec, findings, parsed } = flux;
  const targetNamespace = stringField(spec, 'targetNamespace', ['spec'], findings);
  if (targetNamespace !== undefined)
    findings.note(
      ['spec', 'targetNamespace'],
      'the destination namespace: Capstan sets it on objects that name no namespace and keeps the others’',
    );
  const interval = shorterInterval(durationField(spec, 'interval', ['spec'], findings), parts.git.interval);
  const suspend = (booleanField(spec, 'suspend', ['spec'], findings) ?? false) || parts.git.suspend === true;
  const dependsOn = dependencies(flux);
  const namespace = options.namespace ?? targetNamespace ?? (flux.namespace || 'default');
  return checked(
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: { name: parsed.object.metadata.name ?? '', namespace },
      spec: {
        source: parts.source,
        ...(targetNamespace === undefined ? {} : { destination: { namespace: targetNamespace } }),
        syncPolicy: {
          automated: parts.automated,
          ...(parts.syncOptions === undefined || parts.syncOptions.length === 0
            ? {}
            : { syncOptions: parts.syncOptions }),
        },
        ...(interval === undefined ? {} : { interval }),
        ...(suspend ? { suspend } : {}),
        ...(dependsOn.length === 0 ? {} : { dependsOn }),
      },
    },
    findings,
  );
}

/**
 * dependsOn entries name Flux objects (by their Flux namespace); an Application may live elsewhere
 * (targetNamespace, --namespace): each entry is pointed at the Application converted from that object.
 */
function pointDependencies(application: Application, converted: ReadonlyMap<string, string>): void {
  const dependsOn = application.spec.dependsOn;
  if (!dependsOn) return;
  application.spec.dependsOn = dependsOn.map((ref) => {
    const namespace = converted.get(`${ref.namespace ?? ''}/${ref.name}`) ?? ref.namespace;
    return namespace === undefined || namespace === application.metadata.namespace
      ? { name: ref.name }
      : { name: ref.name, namespace };
  });
}

/** Capstan has one interval for the source and the objects: the shorter of Flux's two. */
function shorterInterval(own: string | undefined, source: string | undefined): string | undefined {
  if (own === undefined || source === undefined) return own ?? source;
  return parseDuration(own) <= parseDuration(source) ? own : source;
}

/** dependsOn names other Kustomizations or HelmReleases: the Applications they become have their names. */
function dependencies(flux: FluxObject): ApplicationReference[] {
  const out: ApplicationReference[] = [];
  for (const [index, item] of (listField(flux.spec, 'dependsOn', ['spec'], flux.findings) ?? []).entries()) {
    const at = ['spec', 'dependsOn', index];
    const entry = fieldsOf(item);
    const name = entry && stringField(entry, 'name', at, flux.findings);
    if (!entry || name === undefined) flux.findings.leftOut(at, 'a dependency needs a name');
    else {
      // Flux's namespace for now (the default is the object's own); pointDependencies makes it Capstan's.
      const namespace = stringField(entry, 'namespace', at, flux.findings) ?? flux.namespace;
      out.push({ name, ...(namespace === '' ? {} : { namespace }) });
    }
  }
  if (out.length > 0)
    flux.findings.note(
      ['spec', 'dependsOn'],
      'each names the Application imported from the object of that name; import them together',
    );
  return out;
}
