import { createHash } from 'node:crypto';
/**
 * The `Application` resource (capstan.dev/v1alpha1): one definition gives its TypeScript types
 * (`Application`, `ApplicationSpec`, …), its runtime validation (`validateApplication`) and the
 * OpenAPI v3 schema of its CustomResourceDefinition (`applicationCrd`).
 *
 * Defaults are not written into stored objects (the CRD has no `default`s): what a user applied is
 * what `kubectl get -o yaml` shows, and the defaults live in one place, `APPLICATION_DEFAULTS`, which
 * the descriptions quote and `resolveSpec` applies. Some cannot be static anyway (the Application's own
 * namespace, the detected renderer).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DURATION_PATTERN, parseDuration } from '../core/duration.ts';
import { HEALTH_STATUSES } from '../core/health.ts';
import type { OwnerRef } from '../core/ownership.ts';
import type { KubeObject, ObjectMeta } from '../core/resource.ts';
import { decodeSelection, encodeSelection, type ResourceSelector } from '../core/resource-selection.ts';
import type { SyncPhase } from '../core/sync-result.ts';
import { crdRootSchema, customResourceDefinition, type CrdDescription } from './crd.ts';
import type { JsonSchemaProps } from './structural.ts';
import { oneOf, validate, withHint, withRules, type Validation } from './validate.ts';

// ── Identity ────────────────────────────────────────────────────────────────────────────────────

export const APPLICATION_GROUP = 'capstan.dev';
export const APPLICATION_VERSION = 'v1alpha1';
export const APPLICATION_API_VERSION = `${APPLICATION_GROUP}/${APPLICATION_VERSION}`;
export const APPLICATION_KIND = 'Application';
export const APPLICATION_PLURAL = 'applications';
export const APPLICATION_SINGULAR = 'application';
export const APPLICATION_SHORT_NAMES = ['app'] as const;

// ── Vocabulary ──────────────────────────────────────────────────────────────────────────────────

/** How the files at the source path become objects (the renderers of src/adapters/render). */
export const RENDERER_TYPES = ['directory', 'kustomize', 'helm'] as const;
export type RendererTypeName = (typeof RENDERER_TYPES)[number];

/** Sync options a user may set; each changes how the engine applies. */
export const SYNC_OPTIONS = [
  'CreateNamespace=true',
  'Replace=true',
  'ForceConflicts=true',
  'PruneLast=true',
] as const;
export type SyncOption = (typeof SYNC_OPTIONS)[number];

/** Whether the live objects equal the desired state (DESIGN.md, "Vocabulary"). */
export const SYNC_STATUS_CODES = ['Synced', 'OutOfSync', 'Unknown'] as const;
export type SyncStatusCode = (typeof SYNC_STATUS_CODES)[number];

/** The conditions the agent keeps, after Kubernetes conventions (kstatus): generic tools read them. */
export const CONDITION_TYPES = ['Ready', 'Reconciling', 'Stalled'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];
export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

export const OPERATION_PHASES = ['Running', 'Succeeded', 'Failed'] as const;
export type OperationPhase = (typeof OPERATION_PHASES)[number];
export const OPERATION_TYPES = ['sync', 'rollback', 'refresh'] as const;
export type OperationType = (typeof OPERATION_TYPES)[number];

/** The result of a finished sync: the SyncPhase of src/core/sync-result.ts. */
export const SYNC_RESULTS = ['Succeeded', 'Failed'] as const satisfies readonly SyncPhase[];

/** The name of the cluster the agent runs in; other clusters are registered as Secrets. */
export const IN_CLUSTER = 'in-cluster';

/**
 * Requests that kubectl, the CLI and the API make of the agent by annotating an Application (the value
 * is a request id, e.g. a timestamp; a new value is a new request). The agent handles a request once
 * and records its id in `status.handledRequests`, so a re-applied manifest does not repeat it.
 *   kubectl annotate application web capstan.dev/refresh="$(date +%s)" --overwrite
 */
export const REQUEST_ANNOTATIONS = {
  /** Resolve the source again now (a webhook does the same). */
  refresh: 'capstan.dev/refresh',
  /** Sync now, even without automated sync: `<id>`, or `<id>;prune` / `<id>;prune=false` (syncRequestValue). */
  sync: 'capstan.dev/sync',
  /** Roll back: the value is `<request id>:<history id or revision>`. */
  rollback: 'capstan.dev/rollback',
  /** Release a rollback hold: automated sync follows the source again. */
  releaseHold: 'capstan.dev/release-hold',
} as const;
export type RequestKind = keyof typeof REQUEST_ANNOTATIONS;

/**
 * When a request was made, if its id says so: ids that start with a Unix time in milliseconds (13
 * digits, as the CLI and webhooks write them) or seconds (10 digits, `$(date +%s)`). The agent re-uses
 * a git resolution only if it started after the request.
 */
export function requestTime(value: string): number | undefined {
  const match = /^(\d{13}|\d{10})(?!\d)/.exec(value);
  if (!match?.[1]) return undefined;
  return match[1].length === 13 ? Number(match[1]) : Number(match[1]) * 1000;
}

/**
 * What a sync request asks beyond "sync now": prune in this sync (or not), whatever spec.syncPolicy says;
 * and, for a sync of part of the application, which resources (Argo CD's selective sync).
 */
export interface SyncRequestValue {
  /** The request id (a timestamp); a new id is a new request. */
  readonly id: string;
  /** Undefined: as spec.syncPolicy.automated.prune (off without automated sync). */
  readonly prune?: boolean;
  /**
   * Only these resources of the render: nothing else is applied or pruned, no hook runs, and the sync
   * status is left to the next comparison. With `prune: true` (only then, whatever the spec says), the
   * selected resources the application owns that left the render are pruned. Undefined: the whole
   * application.
   */
  readonly resources?: readonly ResourceSelector[];
}

/** The longest sync request the agent records (status.handledRequests.sync): about 300 selected resources. */
export const SYNC_REQUEST_MAX_LENGTH = 32_768;

const SYNC_OPTION = /^(?:prune(?:=(true|false))?|resources=(.+))$/;

/**
 * The value of the sync annotation: `<id>`, then `;prune` or `;prune=false`, then
 * `;resources=<group>/<Kind>/<namespace>/<name>,…` (encodeSelection). Throws RangeError when it would be
 * longer than SYNC_REQUEST_MAX_LENGTH.
 */
export function syncRequestValue(request: SyncRequestValue): string {
  if (request.id.includes(';')) throw new RangeError(`a request id has no ';': '${request.id}'`);
  const options = [
    ...(request.prune === undefined ? [] : [request.prune ? 'prune' : 'prune=false']),
    ...(request.resources === undefined ? [] : [`resources=${encodeSelection(request.resources)}`]),
  ];
  if (request.resources !== undefined && request.resources.length === 0)
    throw new RangeError('a sync of a selection of resources names one resource at least');
  const value = [request.id, ...options].join(';');
  if (value.length > SYNC_REQUEST_MAX_LENGTH)
    throw new RangeError(
      `the sync request is ${value.length} characters long, more than ${SYNC_REQUEST_MAX_LENGTH}: select fewer resources, or sync the whole application`,
    );
  return value;
}

/** The sync annotation's value read back; an unknown option is part of the id (asked as a plain sync). */
export function parseSyncRequest(value: string): SyncRequestValue {
  const parts = value.split(';');
  let prune: boolean | undefined;
  let resources: ResourceSelector[] | undefined;
  // Options are read from the end, each known one once; the rest is the id.
  while (parts.length > 1) {
    const match = SYNC_OPTION.exec(parts[parts.length - 1] ?? '');
    if (!match) break;
    if (match[2] !== undefined) {
      const decoded = decodeSelection(match[2]);
      if (decoded === undefined || resources !== undefined || prune !== undefined) break;
      resources = decoded;
    } else {
      if (prune !== undefined) break;
      prune = match[1] !== 'false';
    }
    parts.pop();
  }
  return {
    id: parts.join(';'),
    ...(prune === undefined ? {} : { prune }),
    ...(resources === undefined ? {} : { resources }),
  };
}

/**
 * The name under which an Application owns its resources (ownership marks, inventory): a DNS label of at
 * most 45 characters, `<namespace>-<name>` cut to 32 characters for people to read, then 12 hex digits
 * of the SHA-256 of `namespace/name`. The hash makes it one-to-one: `a/b-c` and `a-b/c` (or `web.prod`
 * and `web-prod`) read alike but own nothing in common; and since the namespace and name are also
 * written beside the marks and in the inventory, and checked when read, even a hash collision shares
 * nothing.
 */
export function applicationOwnerName(namespace: string, name: string): string {
  const readable = `${namespace}-${name}`
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 32)
    .replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 12);
  return readable === '' ? hash : `${readable}-${hash}`;
}

/**
 * The owner name of releases up to 0.1.0: `namespace.name` with every other character turned into `-`
 * (a hash for long ones). Not one-to-one (`a/b-c` and `a-b/c` share it); kept only to take over in place
 * what those releases marked (see `applicationOwner`).
 */
export function legacyOwnerName(namespace: string, name: string): string {
  const full = `${namespace}.${name}`;
  const clean = (s: string) => s.replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  if (full.length <= 45) return clean(full);
  return `${clean(full.slice(0, 36))}-${createHash('sha256').update(full).digest('hex').slice(0, 8)}`;
}

/**
 * Who owns what an Application applies, as the sync options name it: its owner name, the Application
 * itself (written beside the marks and in the inventory) and its legacy name (taken over in place).
 */
export function applicationOwner(
  namespace: string,
  name: string,
): { application: string; ownerRef: OwnerRef; legacyOwners: string[] } {
  return {
    application: applicationOwnerName(namespace, name),
    ownerRef: { namespace, name },
    legacyOwners: [legacyOwnerName(namespace, name)],
  };
}

/** Finalizer that makes deleting an Application also delete its resources (prune everything it owns). */
export const RESOURCES_FINALIZER = 'capstan.dev/resources';

/** Entries kept in `status.history`; the oldest go first (`appendHistory`). */
export const HISTORY_LIMIT = 20;
/** Resources named at most in one history entry of a partial sync (the summary counts them all). */
export const HISTORY_RESOURCES_LIMIT = 50;
/** Entries at most in `status.resources` (the render limit's default object count). */
export const RESOURCES_LIMIT = 5000;
/** The shortest `spec.interval` taken: a shorter one would turn polling into load. */
export const MIN_INTERVAL = '1s';

export const APPLICATION_DEFAULTS = {
  project: 'default',
  targetRevision: 'HEAD',
  /** The targetRevision of a chart: its newest version. */
  chartVersion: '*',
  path: '.',
  insecureHttp: false,
  cluster: IN_CLUSTER,
  automated: { prune: false, selfHeal: false, allowEmpty: false },
  retry: { limit: 5, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
  interval: '3m',
  suspend: false,
} as const;
const D = APPLICATION_DEFAULTS;

// ── Building blocks ─────────────────────────────────────────────────────────────────────────────

/** A Helm chart's name, as helm accepts it in a repository (no slashes: the repository is repoURL). */
const CHART_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const objectName = (description: string) =>
  withHint(
    Type.String({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN, description }),
    'a Kubernetes object name (lower-case letters, digits, - and .)',
  );
const namespaceName = (description: string) =>
  withHint(
    Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL, description }),
    'a namespace name (lower-case letters, digits and -, at most 63)',
  );
const duration = (description: string) =>
  withHint(
    Type.String({ maxLength: 64, pattern: DURATION_PATTERN, description }),
    'a duration such as 30s, 5m or 1h30m',
  );
const time = (description: string) => Type.String({ format: 'date-time', description });
const text = (description: string, maxLength = 1024) => Type.String({ maxLength, description });
const list = <T extends TSchema>(items: T, maxItems: number, description: string) =>
  Type.Array(items, { maxItems, description });
/** Objects are closed: a misspelt field is an error here (the API server prunes it, and says so to strict clients). */
const object = <P extends Parameters<typeof Type.Object>[0]>(properties: P, description: string) =>
  Type.Object(properties, { additionalProperties: false, description });

/** `true` when a duration text (already checked against DURATION_PATTERN) is at least `min`. */
const atLeast = (value: string, min: string) => parseDuration(value) >= parseDuration(min);

// ── Spec ────────────────────────────────────────────────────────────────────────────────────────

const jsonnetVariables = (description: string) =>
  list(
    object(
      {
        name: withHint(
          Type.String({
            minLength: 1,
            maxLength: 256,
            pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
            description: 'The name, a Jsonnet identifier.',
          }),
          'a Jsonnet identifier (letters, digits and _, not starting with a digit)',
        ),
        value: text('The value: a string, or Jsonnet code when code is true.', 64 * 1024),
        code: Type.Optional(
          Type.Boolean({ description: 'The value is Jsonnet code, not a string. Default false.' }),
        ),
      },
      'One name and its value.',
    ),
    100,
    description,
  );

export const JsonnetOptionsSchema = object(
  {
    tlas: Type.Optional(
      jsonnetVariables(
        'Top-level arguments (--tla-str, --tla-code): the parameters of a program that is a function.',
      ),
    ),
    extVars: Type.Optional(
      jsonnetVariables('External variables (--ext-str, --ext-code), which programs read by name.'),
    ),
    libs: Type.Optional(
      list(
        Type.String({ minLength: 1, maxLength: 1024 }),
        20,
        'Library folders (-J), relative to the repository root and inside it; the last one wins. ' +
          'Files inside them are not read as manifests or programs by themselves.',
      ),
    ),
  },
  'How the *.jsonnet files of the folder are evaluated (as Argo CD directory.jsonnet); *.libsonnet files are only imported.',
);

export const DirectoryOptionsSchema = object(
  {
    recurse: Type.Optional(Type.Boolean({ description: 'Descend into sub-folders. Default true.' })),
    include: Type.Optional(
      list(
        Type.String({ minLength: 1, maxLength: 256 }),
        100,
        'Glob patterns, relative to the path, of the files to read. Default: *.yaml, *.yml, *.json and *.jsonnet.',
      ),
    ),
    exclude: Type.Optional(
      list(Type.String({ minLength: 1, maxLength: 256 }), 100, 'Glob patterns of files to leave out.'),
    ),
    jsonnet: Type.Optional(JsonnetOptionsSchema),
  },
  'Options of the directory renderer: plain YAML and JSON manifests, and *.jsonnet programs evaluated by jsonnet.',
);

export const HelmOptionsSchema = object(
  {
    releaseName: Type.Optional(
      withHint(
        Type.String({
          minLength: 1,
          maxLength: 53,
          pattern: DNS_SUBDOMAIN,
          description: 'Helm release name. Default: the Application name.',
        }),
        'a Helm release name (lower-case letters, digits, - and ., at most 53)',
      ),
    ),
    valueFiles: Type.Optional(
      list(
        Type.String({ minLength: 1, maxLength: 1024 }),
        50,
        'Values files, relative to the chart folder and inside the repository, applied in order.',
      ),
    ),
    values: Type.Optional(
      text('Inline values: a YAML document, applied after the values files.', 256 * 1024),
    ),
    parameters: Type.Optional(
      list(
        object(
          {
            name: withHint(
              Type.String({
                minLength: 1,
                maxLength: 1024,
                pattern: '^[^=\\s]+$',
                description: "The value's path, as `helm --set` writes it: image.tag, ingress.hosts[0].",
              }),
              'a value path such as image.tag (no = and no spaces)',
            ),
            value: text('The value (commas and backslashes are passed as they are).', 64 * 1024),
            forceString: Type.Optional(
              Type.Boolean({ description: 'Pass the value as a string (--set-string). Default false.' }),
            ),
          },
          'One value set on the command line (helm template --set NAME=VALUE).',
        ),
        200,
        'Single values, applied after the values files and the inline values, in order.',
      ),
    ),
    skipCrds: Type.Optional(
      Type.Boolean({ description: "Leave out the chart's crds/ folder (--skip-crds). Default false." }),
    ),
    repositorySecretRefs: Type.Optional(
      list(
        object(
          { name: objectName('Name of the Secret.') },
          'A Secret in the namespace of the Application with credentials for Helm chart repositories.',
        ),
        20,
        "Credentials for the Helm repositories (https://, oci://) that the chart's dependencies name: " +
          'Secrets of type capstan.dev/repository-credentials with `username` and `password` (or ' +
          '`token`) and a `url` key; each is sent only to the repositories its url covers.',
      ),
    ),
  },
  'Options of the Helm renderer (helm template).',
);

export const KustomizeOptionsSchema = object({}, 'Options of the Kustomize renderer (kustomize build).');

export const SecretReferenceSchema = object(
  { name: objectName('Name of the Secret.') },
  'A Secret in the namespace of the Application holding git credentials: `username` and `password`, ' +
    'or `token`, or `sshPrivateKey` with `knownHosts`; of type capstan.dev/repository-credentials (or ' +
    'labelled capstan.dev/credentials=repository), with a `url` key naming the repository or the URL ' +
    'prefix of the repositories the credentials may be sent to.',
);

const SourceBase = object(
  {
    repoURL: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'The git repository: https://host/path, ssh://user@host/path or user@host:path ' +
        '(http:// only with insecureHttp). With chart: the Helm repository, an HTTP chart repository ' +
        '(https://host/path, where index.yaml is) or an OCI registry (oci://host/path). ' +
        'Credentials never go in the URL: use secretRef.',
    }),
    chart: Type.Optional(
      withHint(
        Type.String({
          minLength: 1,
          maxLength: 250,
          pattern: CHART_NAME,
          description:
            "A chart of the Helm repository repoURL (as Argo CD's spec.source.chart), rendered by helm " +
            'template with the helm options; targetRevision is then its version or a semver range. ' +
            'Without it, repoURL is a git repository and path a folder of it.',
        }),
        'a chart name (letters, digits, ., _ and -)',
      ),
    ),
    targetRevision: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description:
          'A branch, a tag, a semver range over tags (">=1.2 <2", "^1.4") or a full commit SHA. ' +
          `Default ${D.targetRevision} (the default branch). With chart: the chart's version or a semver ` +
          `range over its versions ("1.2.3", "^1.2", "1.x"), the highest match taken; default ${D.chartVersion} (the newest).`,
      }),
    ),
    path: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: `Folder inside the repository; it may not leave the repository. Default '${D.path}'.`,
      }),
    ),
    type: Type.Optional(
      oneOf(RENDERER_TYPES, {
        description:
          'How the folder is rendered. Default: detected (kustomize when there is a kustomization ' +
          'file, helm when there is a Chart.yaml, else directory).',
      }),
    ),
    directory: Type.Optional(DirectoryOptionsSchema),
    helm: Type.Optional(HelmOptionsSchema),
    kustomize: Type.Optional(KustomizeOptionsSchema),
    secretRef: Type.Optional(SecretReferenceSchema),
    insecureHttp: Type.Optional(
      Type.Boolean({
        description: `Allow a plain http:// repository URL (for local test servers). Default ${D.insecureHttp}.`,
      }),
    ),
  },
  'Where the desired state comes from: a folder of a git repository at a revision, or a chart of a Helm repository at a version.',
);
type SourceShape = Static<typeof SourceBase>;
const dotDot = /(^|\/)\.\.(\/|$)/;

export const ApplicationSourceSchema = withRules(SourceBase, [
  {
    message: 'set at most one of directory, helm and kustomize',
    cel: '(has(self.directory) ? 1 : 0) + (has(self.helm) ? 1 : 0) + (has(self.kustomize) ? 1 : 0) <= 1',
    check: (s: SourceShape) =>
      [s.directory, s.helm, s.kustomize].filter((options) => options !== undefined).length <= 1,
  },
  {
    message: 'the options (directory, helm or kustomize) must be those of the type',
    field: 'type',
    cel:
      "!has(self.type) || ((!has(self.directory) || self.type == 'directory') && " +
      "(!has(self.helm) || self.type == 'helm') && (!has(self.kustomize) || self.type == 'kustomize'))",
    check: (s: SourceShape) =>
      s.type === undefined ||
      ((s.directory === undefined || s.type === 'directory') &&
        (s.helm === undefined || s.type === 'helm') &&
        (s.kustomize === undefined || s.type === 'kustomize')),
  },
  {
    message: 'must stay inside the repository: no leading / and no .. segment',
    field: 'path',
    cel: "!has(self.path) || (!self.path.startsWith('/') && !self.path.matches('(^|/)[.][.](/|$)'))",
    check: (s: SourceShape) => s.path === undefined || (!s.path.startsWith('/') && !dotDot.test(s.path)),
  },
  {
    message:
      'set either path (a folder of a git repository) or chart (a chart of a Helm repository), not both',
    field: 'chart',
    cel: '!has(self.chart) || !has(self.path)',
    check: (s: SourceShape) => s.chart === undefined || s.path === undefined,
  },
  {
    message: 'a chart is rendered by helm: type helm (or none), and no directory or kustomize options',
    field: 'chart',
    cel:
      "!has(self.chart) || ((!has(self.type) || self.type == 'helm') && !has(self.directory) && " +
      '!has(self.kustomize))',
    check: (s: SourceShape) =>
      s.chart === undefined ||
      ((s.type === undefined || s.type === 'helm') && s.directory === undefined && s.kustomize === undefined),
  },
  {
    message: 'an oci:// repoURL is a Helm registry: name the chart (chart)',
    field: 'repoURL',
    cel: "has(self.chart) || !self.repoURL.lowerAscii().startsWith('oci://')",
    check: (s: SourceShape) => s.chart !== undefined || !s.repoURL.toLowerCase().startsWith('oci://'),
  },
  {
    message: 'a plain http:// URL needs insecureHttp: true (prefer https)',
    field: 'repoURL',
    cel: "!self.repoURL.lowerAscii().startsWith('http://') || (has(self.insecureHttp) && self.insecureHttp)",
    check: (s: SourceShape) => !s.repoURL.toLowerCase().startsWith('http://') || s.insecureHttp === true,
  },
]);

export const ApplicationDestinationSchema = object(
  {
    cluster: Type.Optional(
      objectName(
        'Name of a registered cluster (a cluster Secret in the agent namespace). ' +
          `Default '${D.cluster}': the cluster the agent runs in.`,
      ),
    ),
    namespace: Type.Optional(
      namespaceName(
        'Namespace for objects that name none. Default: the namespace of the Application. ' +
          'Objects that name their own namespace keep it.',
      ),
    ),
  },
  'Where the objects go.',
);

export const AutomatedSyncSchema = object(
  {
    prune: Type.Optional(
      Type.Boolean({
        description: `Delete objects that left the desired state (only those this Application created). Default ${D.automated.prune}.`,
      }),
    ),
    selfHeal: Type.Optional(
      Type.Boolean({
        description: `Put back objects changed in the cluster (drift), as soon as it is seen. Default ${D.automated.selfHeal}.`,
      }),
    ),
    allowEmpty: Type.Optional(
      Type.Boolean({
        description:
          'Allow a sync whose desired state is empty, which with prune deletes everything. ' +
          `Default ${D.automated.allowEmpty}.`,
      }),
    ),
  },
  'Sync on every new revision and on drift, without a person asking. Absent: sync only on request.',
);

const BackoffBase = object(
  {
    duration: Type.Optional(duration(`Wait before the first retry. Default ${D.retry.backoff.duration}.`)),
    factor: Type.Optional(
      Type.Number({
        minimum: 1,
        maximum: 10,
        description: `Each wait is the previous one times this. Default ${D.retry.backoff.factor}.`,
      }),
    ),
    maxDuration: Type.Optional(duration(`The longest wait. Default ${D.retry.backoff.maxDuration}.`)),
  },
  'Exponential backoff between retries.',
);

export const BackoffSchema = withRules(BackoffBase, [
  {
    message: 'must not be shorter than duration',
    field: 'maxDuration',
    cel:
      `duration(has(self.maxDuration) ? self.maxDuration : '${D.retry.backoff.maxDuration}') >= ` +
      `duration(has(self.duration) ? self.duration : '${D.retry.backoff.duration}')`,
    check: (b: Static<typeof BackoffBase>) =>
      atLeast(b.maxDuration ?? D.retry.backoff.maxDuration, b.duration ?? D.retry.backoff.duration),
  },
]);

export const RetrySchema = object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        description: `Retries of a failed sync before giving up until the next change; 0 never retries. Default ${D.retry.limit}.`,
      }),
    ),
    backoff: Type.Optional(BackoffSchema),
  },
  'Retries of a failed sync.',
);

export const SyncPolicySchema = object(
  {
    automated: Type.Optional(AutomatedSyncSchema),
    retry: Type.Optional(RetrySchema),
    syncOptions: Type.Optional(
      Type.Array(oneOf(SYNC_OPTIONS), {
        uniqueItems: true,
        maxItems: SYNC_OPTIONS.length,
        description:
          'CreateNamespace=true creates the destination namespace; Replace=true replaces objects ' +
          'instead of applying them; ForceConflicts=true takes over fields other managers own; ' +
          'PruneLast=true prunes after every other object is applied and healthy.',
      }),
    ),
  },
  'When and how to sync.',
);

export const ApplicationReferenceSchema = object(
  {
    name: objectName('Name of the Application.'),
    namespace: Type.Optional(namespaceName('Its namespace. Default: the namespace of this Application.')),
  },
  'Another Application.',
);

export const IgnoreDifferenceSchema = object(
  {
    group: Type.Optional(Type.String({ maxLength: 253, description: "API group; '' for the core group." })),
    kind: Type.String({ minLength: 1, maxLength: 63, description: 'Kind of the objects concerned.' }),
    name: Type.Optional(Type.String({ maxLength: 253, description: 'Only the object of this name.' })),
    namespace: Type.Optional(Type.String({ maxLength: 63, description: 'Only objects of this namespace.' })),
    jsonPointers: Type.Optional(
      list(
        withHint(
          Type.String({ maxLength: 1024, pattern: '^(/([^/~]|~[01])*)+$' }),
          'a JSON pointer such as /spec/replicas',
        ),
        100,
        'Fields to ignore, as JSON pointers (RFC 6901): /spec/replicas.',
      ),
    ),
    managedFieldsManagers: Type.Optional(
      list(
        Type.String({ minLength: 1, maxLength: 128 }),
        20,
        'Ignore the fields these field managers own (e.g. kube-controller-manager, an autoscaler).',
      ),
    ),
  },
  'Differences that are not drift: fields other actors own.',
);

const SpecBase = object(
  {
    project: Type.Optional(
      objectName(
        `The Project (capstan.dev) that bounds what this Application may deploy, where and as whom. Default '${D.project}': ` +
          'when no Project of that name exists, only the namespace of the Application on the agent’s cluster, ' +
          'no cluster-scoped objects, no adoption of existing objects.',
      ),
    ),
    source: ApplicationSourceSchema,
    destination: Type.Optional(ApplicationDestinationSchema),
    syncPolicy: Type.Optional(SyncPolicySchema),
    interval: Type.Optional(
      duration(
        `How often the source is checked without a webhook, and drift without a watch event. Default ${D.interval}; ` +
          `at least ${MIN_INTERVAL}.`,
      ),
    ),
    suspend: Type.Optional(
      Type.Boolean({
        description: `Stop reconciling (nothing is fetched, applied or pruned) until set back. Default ${D.suspend}.`,
      }),
    ),
    dependsOn: Type.Optional(
      list(
        ApplicationReferenceSchema,
        50,
        'Applications that must be Ready (synced and healthy) before this one syncs.',
      ),
    ),
    ignoreDifferences: Type.Optional(list(IgnoreDifferenceSchema, 100, 'Differences to ignore.')),
  },
  'The desired state: where it comes from, where it goes, and how to sync.',
);

export const ApplicationSpecSchema = withRules(SpecBase, [
  {
    message: `must be at least ${MIN_INTERVAL}`,
    field: 'interval',
    cel: `!has(self.interval) || duration(self.interval) >= duration('${MIN_INTERVAL}')`,
    check: (spec: Static<typeof SpecBase>) =>
      spec.interval === undefined || atLeast(spec.interval, MIN_INTERVAL),
  },
]);

// ── Status ──────────────────────────────────────────────────────────────────────────────────────

const generation = (description: string) => Type.Integer({ minimum: 0, format: 'int64', description });

/** metav1.Condition, with the validation Kubernetes gives it. */
export const ConditionSchema = object(
  {
    type: Type.String({
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      description: `Type of condition: ${CONDITION_TYPES.join(', ')}.`,
    }),
    status: oneOf(CONDITION_STATUSES, { description: 'True, False or Unknown.' }),
    observedGeneration: Type.Optional(generation('The .metadata.generation the condition was set for.')),
    lastTransitionTime: time('When the status last changed.'),
    reason: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      description: 'Why, in CamelCase, for programs.',
    }),
    message: text('Why, for people.', 32768),
  },
  'A condition in Kubernetes conventions.',
);

export const HealthStateSchema = object(
  {
    status: oneOf(HEALTH_STATUSES, { description: HEALTH_STATUSES.join(', ') }),
    message: Type.Optional(text('Why, in a few words: 2/3 replicas ready.')),
  },
  'Health.',
);

/** How many render warnings the status keeps (the first ones). */
export const SYNC_WARNINGS_LIMIT = 20;

export const SyncStatusSchema = object(
  {
    status: oneOf(SYNC_STATUS_CODES, { description: SYNC_STATUS_CODES.join(', ') }),
    revision: Type.Optional(text('The commit the desired state was compared at (full SHA).', 256)),
    digest: Type.Optional(text('Digest of the rendered desired state at that revision.', 256)),
    warnings: Type.Optional(
      list(
        text('One warning.', 1024),
        SYNC_WARNINGS_LIMIT,
        "What the render of that revision warned about though it succeeded: the tools' own warnings " +
          "(kustomize's deprecated fields), Argo CD annotations Capstan does not honour, an empty render.",
      ),
    ),
  },
  'Whether the live objects equal the desired state.',
);

export const ResourceStatusSchema = object(
  {
    group: Type.String({ maxLength: 253, description: "API group; '' for the core group." }),
    version: Type.Optional(Type.String({ maxLength: 63, description: 'API version it is applied with.' })),
    kind: Type.String({ minLength: 1, maxLength: 63 }),
    namespace: Type.Optional(
      Type.String({ maxLength: 63, description: "'' or absent when cluster-scoped." }),
    ),
    name: Type.String({ minLength: 1, maxLength: 253 }),
    syncStatus: Type.Optional(oneOf(SYNC_STATUS_CODES)),
    health: Type.Optional(HealthStateSchema),
    message: Type.Optional(text('What the last sync did or why it failed.')),
  },
  'One managed object.',
);

export const OperationSchema = object(
  {
    phase: oneOf(OPERATION_PHASES),
    type: oneOf(OPERATION_TYPES),
    revision: Type.Optional(text('The commit it works on.', 256)),
    startedAt: time('When it began.'),
    finishedAt: Type.Optional(time('When it ended.')),
    message: Type.Optional(text('Progress, or what failed.', 4096)),
  },
  'The operation running now, or the last one.',
);

export const HistoryEntrySchema = object(
  {
    id: Type.Integer({ minimum: 1, format: 'int64', description: 'Increases by one per sync.' }),
    revision: text('The commit synced.', 256),
    digest: Type.Optional(text('Digest of the rendered desired state.', 256)),
    author: Type.Optional(text('Commit author.', 256)),
    message: Type.Optional(text('Commit subject.', 1024)),
    startedAt: time('When the sync began.'),
    finishedAt: Type.Optional(time('When it ended.')),
    result: oneOf(SYNC_RESULTS),
    summary: Type.Optional(text('What it did: 3 created, 1 configured, 12 unchanged.', 4096)),
    resources: Type.Optional(
      list(
        text('Kind/namespace/name (Kind/name when cluster-scoped).', 400),
        HISTORY_RESOURCES_LIMIT,
        'A sync of part of the application: the resources it synced (absent: the whole application).',
      ),
    ),
  },
  'One sync.',
);

export const RollbackHoldSchema = object(
  {
    revision: text('The commit held on (what a rollback put back).', 256),
    fromRevision: Type.Optional(
      text('The commit rolled back from: a source revision other than this one releases the hold.', 256),
    ),
    reason: Type.Optional(text('Why, for people.', 1024)),
    since: Type.Optional(time('When the hold began.')),
  },
  'Automated sync holds on this revision after a rollback, until a newer commit arrives or a person releases it.',
);

export const ApplicationStatusSchema = object(
  {
    observedGeneration: Type.Optional(generation('The .metadata.generation last reconciled.')),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, {
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        description: `${CONDITION_TYPES.join(', ')}.`,
      }),
    ),
    sync: Type.Optional(SyncStatusSchema),
    health: Type.Optional(HealthStateSchema),
    resources: Type.Optional(list(ResourceStatusSchema, RESOURCES_LIMIT, 'The managed objects.')),
    operation: Type.Optional(OperationSchema),
    history: Type.Optional(list(HistoryEntrySchema, HISTORY_LIMIT, 'The last syncs, oldest first.')),
    hold: Type.Optional(RollbackHoldSchema),
    handledRequests: Type.Optional(
      object(
        {
          refresh: Type.Optional(Type.String({ maxLength: 253 })),
          sync: Type.Optional(Type.String({ maxLength: SYNC_REQUEST_MAX_LENGTH })),
          rollback: Type.Optional(Type.String({ maxLength: 253 })),
          releaseHold: Type.Optional(Type.String({ maxLength: 253 })),
        },
        'The id of the last request of each kind the agent handled (see REQUEST_ANNOTATIONS).',
      ),
    ),
  },
  'What the agent observed and did; written by the agent only.',
);

// ── The object ──────────────────────────────────────────────────────────────────────────────────

/** Only what validation needs of metadata; the CRD leaves metadata to the API server. */
const MetadataSchema = Type.Unsafe<ObjectMeta & { name: string }>(
  Type.Object({
    name: objectName('Name of the Application.'),
    namespace: Type.Optional(namespaceName('Namespace of the Application.')),
  }),
);

const ApplicationBase = Type.Object(
  {
    apiVersion: Type.Literal(APPLICATION_API_VERSION),
    kind: Type.Literal(APPLICATION_KIND),
    metadata: MetadataSchema,
    spec: ApplicationSpecSchema,
    status: Type.Optional(ApplicationStatusSchema),
  },
  {
    additionalProperties: false,
    description: 'An application: a folder of a git repository kept equal to what runs in a cluster.',
  },
);

export const ApplicationSchema = withRules(ApplicationBase, [
  {
    // The API server cannot check this one: a CRD's rules see only the name of metadata.
    message: 'an Application cannot depend on itself',
    field: 'spec.dependsOn',
    check: (app: Static<typeof ApplicationBase>) =>
      !(app.spec.dependsOn ?? []).some(
        (d) =>
          d.name === app.metadata.name && (d.namespace ?? app.metadata.namespace) === app.metadata.namespace,
      ),
  },
]);

export type Application = Static<typeof ApplicationSchema>;
export type ApplicationSpec = Static<typeof ApplicationSpecSchema>;
export type ApplicationStatus = Static<typeof ApplicationStatusSchema>;
export type ApplicationSource = Static<typeof ApplicationSourceSchema>;
export type ApplicationDestination = Static<typeof ApplicationDestinationSchema>;
export type DirectoryOptions = Static<typeof DirectoryOptionsSchema>;
export type HelmOptions = Static<typeof HelmOptionsSchema>;
export type SyncPolicy = Static<typeof SyncPolicySchema>;
export type AutomatedSync = Static<typeof AutomatedSyncSchema>;
export type RetryPolicy = Static<typeof RetrySchema>;
export type ApplicationReference = Static<typeof ApplicationReferenceSchema>;
export type IgnoreDifference = Static<typeof IgnoreDifferenceSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type HealthState = Static<typeof HealthStateSchema>;
export type SyncStatus = Static<typeof SyncStatusSchema>;
export type ResourceStatus = Static<typeof ResourceStatusSchema>;
export type Operation = Static<typeof OperationSchema>;
export type HistoryEntry = Static<typeof HistoryEntrySchema>;
export type RollbackHold = Static<typeof RollbackHoldSchema>;

/**
 * Checks an object (from the API server, a file or a request) against the contract: the schema, then
 * the rules across fields. Errors name the field: `spec.source.repoURL: required`.
 */
export function validateApplication(object: unknown): Validation<Application> {
  return validate(ApplicationSchema, object);
}

// ── Defaults ────────────────────────────────────────────────────────────────────────────────────

/** The spec with every default applied (`APPLICATION_DEFAULTS`), durations in milliseconds. */
export interface ResolvedSpec {
  readonly project: string;
  readonly source: {
    readonly repoURL: string;
    /** A chart of the Helm repository repoURL; then targetRevision is its version (range) and path its folder. */
    readonly chart?: string;
    readonly targetRevision: string;
    readonly path: string;
    /** Undefined: detected by the renderer. */
    readonly type?: RendererTypeName;
    readonly directory?: DirectoryOptions;
    readonly helm?: HelmOptions;
    readonly secretRef?: { readonly name: string };
    readonly insecureHttp: boolean;
  };
  readonly destination: { readonly cluster: string; readonly namespace: string };
  /** Undefined: sync only on request. */
  readonly automated?: { readonly prune: boolean; readonly selfHeal: boolean; readonly allowEmpty: boolean };
  readonly retry: {
    readonly limit: number;
    readonly backoffMs: number;
    readonly factor: number;
    readonly maxBackoffMs: number;
  };
  readonly syncOptions: {
    readonly createNamespace: boolean;
    readonly replace: boolean;
    readonly forceConflicts: boolean;
    readonly pruneLast: boolean;
  };
  readonly intervalMs: number;
  readonly suspend: boolean;
  /** Every reference with its namespace filled in. */
  readonly dependsOn: readonly { readonly name: string; readonly namespace: string }[];
  readonly ignoreDifferences: readonly IgnoreDifference[];
}

/** Defaults applied to a validated Application. Its namespace defaults to `default`, as kubectl's does. */
export function resolveSpec(app: Application): ResolvedSpec {
  const { spec } = app;
  const namespace = app.metadata.namespace ?? 'default';
  const { source } = spec;
  const automated = spec.syncPolicy?.automated;
  const retry = spec.syncPolicy?.retry;
  const options = new Set<string>(spec.syncPolicy?.syncOptions ?? []);
  return {
    project: spec.project ?? D.project,
    source: {
      repoURL: source.repoURL,
      ...(source.chart === undefined ? {} : { chart: source.chart }),
      targetRevision:
        source.targetRevision ?? (source.chart === undefined ? D.targetRevision : D.chartVersion),
      // A chart's files are unpacked into a folder of its name (src/adapters/render/chart-source.ts).
      path: source.path ?? source.chart ?? D.path,
      ...(source.type === undefined
        ? source.chart === undefined
          ? {}
          : { type: 'helm' as const }
        : { type: source.type }),
      ...(source.directory === undefined ? {} : { directory: source.directory }),
      ...(source.helm === undefined ? {} : { helm: source.helm }),
      ...(source.secretRef === undefined ? {} : { secretRef: source.secretRef }),
      insecureHttp: source.insecureHttp ?? D.insecureHttp,
    },
    destination: {
      cluster: spec.destination?.cluster ?? D.cluster,
      namespace: spec.destination?.namespace ?? namespace,
    },
    ...(automated === undefined
      ? {}
      : {
          automated: {
            prune: automated.prune ?? D.automated.prune,
            selfHeal: automated.selfHeal ?? D.automated.selfHeal,
            allowEmpty: automated.allowEmpty ?? D.automated.allowEmpty,
          },
        }),
    retry: {
      limit: retry?.limit ?? D.retry.limit,
      backoffMs: parseDuration(retry?.backoff?.duration ?? D.retry.backoff.duration),
      factor: retry?.backoff?.factor ?? D.retry.backoff.factor,
      maxBackoffMs: parseDuration(retry?.backoff?.maxDuration ?? D.retry.backoff.maxDuration),
    },
    syncOptions: {
      createNamespace: options.has('CreateNamespace=true'),
      replace: options.has('Replace=true'),
      forceConflicts: options.has('ForceConflicts=true'),
      pruneLast: options.has('PruneLast=true'),
    },
    intervalMs: parseDuration(spec.interval ?? D.interval),
    suspend: spec.suspend ?? D.suspend,
    dependsOn: (spec.dependsOn ?? []).map((d) => ({ name: d.name, namespace: d.namespace ?? namespace })),
    ignoreDifferences: spec.ignoreDifferences ?? [],
  };
}

/**
 * The history with `entry` added under the next id, bounded to HISTORY_LIMIT entries (the oldest go),
 * as the CRD requires.
 */
export function appendHistory(
  history: readonly HistoryEntry[] | undefined,
  entry: Omit<HistoryEntry, 'id'>,
): HistoryEntry[] {
  const previous = history ?? [];
  const id = previous.reduce((max, e) => Math.max(max, e.id), 0) + 1;
  return [...previous, { ...entry, id }].slice(-HISTORY_LIMIT);
}

// ── The CustomResourceDefinition ────────────────────────────────────────────────────────────────

const PRINTER_COLUMNS = [
  { name: 'Sync', type: 'string', jsonPath: '.status.sync.status' },
  { name: 'Health', type: 'string', jsonPath: '.status.health.status' },
  { name: 'Revision', type: 'string', jsonPath: '.status.sync.revision' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Repository', type: 'string', jsonPath: '.spec.source.repoURL', priority: 1 },
  { name: 'Path', type: 'string', jsonPath: '.spec.source.path', priority: 1 },
  { name: 'Chart', type: 'string', jsonPath: '.spec.source.chart', priority: 1 },
  {
    name: 'Message',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].message',
    priority: 1,
  },
];

/** The OpenAPI v3 schema of the CRD: the contract's schema in Kubernetes' structural subset. */
const APPLICATION_CRD: CrdDescription = {
  group: APPLICATION_GROUP,
  version: APPLICATION_VERSION,
  kind: APPLICATION_KIND,
  plural: APPLICATION_PLURAL,
  singular: APPLICATION_SINGULAR,
  shortNames: APPLICATION_SHORT_NAMES,
  scope: 'Namespaced',
  schema: ApplicationSchema,
  printerColumns: PRINTER_COLUMNS,
  statusSubresource: true,
};

/** The schema of the CRD's one version (crd.ts). */
export function applicationOpenApiSchema(): JsonSchemaProps {
  return crdRootSchema(APPLICATION_CRD);
}

export function applicationCrd(): KubeObject {
  return customResourceDefinition(APPLICATION_CRD);
}
