/**
 * The objects that install `capstan server` beside the agent (src/contracts/install.ts adds them to
 * deploy/install.yaml): its ServiceAccount and least-privilege RBAC, its Deployment and Service.
 *
 * RBAC, rule by rule (what the server needs and why):
 * - ClusterRole `capstan-server`: Applications get/list/watch (the watch cache answers every read),
 *   create/patch (create and change by server-side apply; request annotations and finalizers by merge
 *   patch), delete (delete an Application; its resources are pruned by the agent, not the server).
 *   Projects: get/list/watch (their roles decide who may do what). Pipelines: get/list/watch (the
 *   API lists them) and patch (a run by hand or a re-run is a sealed request annotation). Events: get/list, to show an
 *   Application's Events and its resources' Events. `get` (no list, no watch, no write) on every
 *   resource of every group: the live manifest and the diff of one resource an Application manages,
 *   of any kind it deploys, and the git credentials its `spec.source.secretRef` names (to render its
 *   desired state). The server reads only resources an Application manages or renders (checked
 *   before the read), and a Secret's values never leave it (src/core/diff.ts redacts them); RBAC
 *   cannot subtract Secrets from `*`, so this includes `get` of every Secret by name. Nothing else: the
 *   server never changes the resources Applications deploy.
 *   Driving pipeline runs (`--pipeline-image`, docs/pipelines.md): `pipelines/status` patch (the
 *   Pipeline's latest run). The Secrets runs name (git credentials, steps' secrets to mask) are read
 *   by `get` through the rule above; the run Pods' logs through `pods/log` get.
 * - Role `capstan-server` in its namespace: Secrets get/list/watch (the registered clusters, of which
 *   it shows names and servers, never credentials; its own key Secret); create (its two Secrets at
 *   first start; RBAC cannot bound create by name); update/patch of those two Secrets only
 *   (resourceNames). Leases: create, and get/update of `capstan-pipelines` and `capstan-promotions`
 *   only (one replica drives runs at a time, one promotions).
 * - ClusterRole `capstan-pipeline-runner`, bound by a RoleBinding in each Pipeline namespace
 *   (`pipelineNamespaces`; none by default), never cluster-wide: Pods create/get/delete, the run Pods there (made at a
 *   run's start, read for the steps' states, deleted at its end or cancel); PersistentVolumeClaims
 *   get/create (each Pipeline's cache claim, made at its first run with caches; never deleted).
 *
 * One replica by default: the embedded SQLite store is a file on the PersistentVolumeClaim
 * capstan-server-data (ReadWriteOnce, the cluster's default StorageClass), so sessions, the audit trail
 * and pipeline runs outlive the pod, and the pod that replaces it adopts the runs in flight; Recreate,
 * so that one pod at a time opens the file. Several replicas need a shared store: PostgreSQL, named by
 * the Secret capstan-server-store (its `url` reaches the server as CAPSTAN_STORE_URL), then
 * `kubectl scale deployment capstan-server --replicas N` (the store `postgres` has no claim).
 */
import type { KubeObject } from '../core/resource.ts';
import { APPLICATION_GROUP, APPLICATION_PLURAL } from './application.ts';
import { BUILDKIT_DEFAULTS, buildkitServerName } from './buildkit-install.ts';
import { ENVIRONMENT_PLURAL } from './environment.ts';
import { NOTIFICATION_PLURAL } from './notification.ts';
import { PIPELINE_PLURAL } from './pipeline.ts';
import {
  CONTAINER_SECURITY_CONTEXT,
  healthProbes,
  installScopedName,
  labelsOf,
  metaOf,
  podSecurityContext,
  RBAC,
  RBAC_V1,
  READ,
} from './install-parts.ts';
import { PROJECT_PLURAL } from './project.ts';

export const SERVER_NAME = 'capstan-server';
/** The HTTP port of the API (and /healthz, /readyz). */
export const SERVER_PORT = 8080;
/** The Secrets the server writes: its shared keys, and the initial admin password (once). */
export const SERVER_SECRETS = ['capstan-server', 'capstan-initial-admin'] as const;
/**
 * The Secret an operator creates to put the server on PostgreSQL (key `url`); absent: SQLite. Not
 * written by the server, so not in SERVER_SECRETS.
 */
export const SERVER_STORE_SECRET = 'capstan-server-store';
/** The claim that holds the SQLite file (store `sqlite`), in the server's namespace. */
export const SERVER_DATA_CLAIM = 'capstan-server-data';
/** Its size: the Store's records (runs' logs included, within their retention). */
export const SERVER_DATA_SIZE = '1Gi';
/** The labels that select the API server's pods. */
export const SERVER_SELECTOR = {
  'app.kubernetes.io/name': 'capstan',
  'app.kubernetes.io/component': 'server',
};

/** The Lease over which one replica drives pipeline runs (src/main/pipelines.ts PIPELINE_LEASE). */
export const PIPELINES_LEASE = 'capstan-pipelines';
/** The Lease over which one replica drives promotions (src/main/promotions.ts, `--promotions`). */
export const PROMOTIONS_LEASE = 'capstan-promotions';
/** The Lease of the replica that delivers notifications (docs/notifications.md). */
export const NOTIFICATIONS_LEASE = 'capstan-notifications';
export const PIPELINE_RUNNER_NAME = 'capstan-pipeline-runner';

export interface ServerInstallOptions {
  readonly image: string;
  readonly namespace: string;
  /** Default 1 (see above). */
  readonly replicas?: number;
  /** Namespaces whose Pipelines' runs the server may start (run Pods there). Default: none. */
  readonly pipelineNamespaces?: readonly string[];
  /** buildkitd for image steps (`--buildkit-*`); absent: image steps fail PIPELINE_BUILDKIT_MISSING. */
  readonly buildkit?: BuildkitFlags;
  /**
   * Where the server keeps its records. `sqlite` (default): a file in the pod, one replica, replaced by
   * Recreate (a PostgreSQL URL in the Secret SERVER_STORE_SECRET, optional, still takes its place).
   * `postgres`: the URL from that Secret, required (the pods wait for it); several replicas (default 2)
   * share the database, replaced by a rolling update that keeps every replica serving.
   */
  readonly store?: ServerStore;
  /** The SQLite store's claim (store `sqlite`): its size and StorageClass. Default: 1Gi, the cluster's default class. */
  readonly data?: ServerDataOptions;
}

export const SERVER_STORES = ['sqlite', 'postgres'] as const;
export type ServerStore = (typeof SERVER_STORES)[number];

/** The server's `--buildkit-*` flags; all but the image default to the BuildKit install's (buildkit-install.ts). */
export interface BuildkitFlags {
  readonly image: string;
  readonly address?: string;
  readonly serverName?: string;
  readonly clientSecret?: string;
}

const meta = (name: string, namespace?: string) => metaOf(name, 'server', namespace);

/** The server's objects, in apply order. */
export function serverManifests(options: ServerInstallOptions): KubeObject[] {
  return [
    ...serverRbac(options.namespace, options.pipelineNamespaces ?? []),
    ...(options.store === 'postgres' ? [] : [serverDataClaim(options.namespace, options.data)]),
    serverDeployment(options),
    serverService(options.namespace),
  ];
}

export function serverRbac(namespace: string, pipelineNamespaces: readonly string[] = []): KubeObject[] {
  const subjects = [{ kind: 'ServiceAccount', name: SERVER_NAME, namespace }];
  const clusterName = installScopedName(SERVER_NAME, namespace);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(SERVER_NAME, namespace) },
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRole',
      metadata: meta(clusterName),
      rules: [
        {
          apiGroups: [APPLICATION_GROUP],
          resources: [APPLICATION_PLURAL],
          verbs: [...READ, 'create', 'patch', 'delete'],
        },
        { apiGroups: [APPLICATION_GROUP], resources: [PROJECT_PLURAL], verbs: READ },
        // Pipelines: listed by the API; a run by hand or a re-run is a request annotation on one.
        { apiGroups: [APPLICATION_GROUP], resources: [PIPELINE_PLURAL], verbs: [...READ, 'patch'] },
        // The Pipeline's latest run, written by the replica that drives runs.
        { apiGroups: [APPLICATION_GROUP], resources: [`${PIPELINE_PLURAL}/status`], verbs: ['patch'] },
        // Environments (docs/promotions.md): listed by the API; their status written by the promotion driver.
        { apiGroups: [APPLICATION_GROUP], resources: [ENVIRONMENT_PLURAL], verbs: READ },
        { apiGroups: [APPLICATION_GROUP], resources: [`${ENVIRONMENT_PLURAL}/status`], verbs: ['patch'] },
        // Notifications (docs/notifications.md): watched by the replica that delivers them, which writes their last delivery.
        { apiGroups: [APPLICATION_GROUP], resources: [NOTIFICATION_PLURAL], verbs: READ },
        { apiGroups: [APPLICATION_GROUP], resources: [`${NOTIFICATION_PLURAL}/status`], verbs: ['patch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['get', 'list'] },
        // What the Applications' workloads own (…/children) and their Pods' logs (…/resource/logs).
        { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
        { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list'] },
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['list'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
        { apiGroups: ['*'], resources: ['*'], verbs: ['get'] },
      ],
    },
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRoleBinding',
      metadata: meta(clusterName),
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: clusterName },
      subjects,
    },
    {
      apiVersion: RBAC_V1,
      kind: 'Role',
      metadata: meta(SERVER_NAME, namespace),
      rules: [
        { apiGroups: [''], resources: ['secrets'], verbs: [...READ, 'create'] },
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: [...SERVER_SECRETS],
          verbs: ['update', 'patch'],
        },
        // One replica drives pipeline runs, one promotions: the Leases they hold (create cannot be bounded by name).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: [PIPELINES_LEASE, PROMOTIONS_LEASE, NOTIFICATIONS_LEASE],
          verbs: ['get', 'update'],
        },
      ],
    },
    {
      apiVersion: RBAC_V1,
      kind: 'RoleBinding',
      metadata: meta(SERVER_NAME, namespace),
      roleRef: { apiGroup: RBAC, kind: 'Role', name: SERVER_NAME },
      subjects,
    },
    ...pipelineRunnerRbac(
      [...new Set(pipelineNamespaces)],
      subjects,
      installScopedName(PIPELINE_RUNNER_NAME, namespace),
    ),
  ];
}

/**
 * The run Pods of each Pipeline namespace: a ClusterRole bound there only (never cluster-wide). The
 * ClusterRole is always installed, so that a namespace added later needs only its RoleBinding.
 */
function pipelineRunnerRbac(
  namespaces: readonly string[],
  subjects: readonly { kind: string; name: string; namespace: string }[],
  name: string,
): KubeObject[] {
  return [
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRole',
      metadata: meta(name),
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'delete'] },
        // A Pipeline's cache: its own claim, made at its first run with caches (docs/pipelines.md).
        { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['get', 'create'] },
      ],
    },
    ...namespaces.map((ns): KubeObject => ({
      apiVersion: RBAC_V1,
      kind: 'RoleBinding',
      metadata: meta(name, ns),
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name },
      subjects: [...subjects],
    })),
  ];
}

/**
 * The server's arguments: its database and port, promotions driven (by the replica that holds the
 * Lease capstan-promotions), and pipeline runs driven with its own image (the run Pods' checkout),
 * with BuildKit for image steps when given.
 */
function serverArgs(options: ServerInstallOptions): string[] {
  const buildkit = options.buildkit;
  return [
    'server',
    ...(options.store === 'postgres' ? [] : ['--database', '/var/lib/capstan/server.db']),
    '--port',
    String(SERVER_PORT),
    '--promotions',
    '--pipeline-image',
    options.image,
    ...(buildkit === undefined
      ? []
      : [
          '--buildkit-image',
          buildkit.image,
          '--buildkit-address',
          buildkit.address ?? `tcp://${buildkitServerName()}:${String(BUILDKIT_DEFAULTS.port)}`,
          '--buildkit-server-name',
          buildkit.serverName ?? buildkitServerName(),
          '--buildkit-client-secret',
          buildkit.clientSecret ?? BUILDKIT_DEFAULTS.clientSecret,
        ]),
  ];
}

export function serverDeployment(options: ServerInstallOptions): KubeObject {
  const postgres = options.store === 'postgres';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(SERVER_NAME, options.namespace),
    spec: {
      replicas: options.replicas ?? (postgres ? 2 : 1),
      revisionHistoryLimit: 5,
      selector: { matchLabels: SERVER_SELECTOR },
      strategy: postgres
        ? // Replicas share the database: a new pod starts (and is ready) before an old one stops.
          { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } }
        : // One pod owns the SQLite file: the old one stops before the new one starts.
          { type: 'Recreate' },
      template: {
        metadata: { labels: labelsOf('server') },
        spec: {
          serviceAccountName: SERVER_NAME,
          terminationGracePeriodSeconds: 30,
          securityContext: podSecurityContext({ type: 'RuntimeDefault' }),
          containers: [
            {
              name: 'server',
              image: options.image,
              imagePullPolicy: 'IfNotPresent',
              args: serverArgs(options),
              env: [
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                // A shared PostgreSQL store, when the Secret capstan-server-store exists (its key
                // url: postgres://user:password@host/db); it then takes the place of the SQLite file.
                // With store postgres it is required: a pod waits for the Secret rather than start on SQLite.
                {
                  name: 'CAPSTAN_STORE_URL',
                  valueFrom: { secretKeyRef: { name: SERVER_STORE_SECRET, key: 'url', optional: !postgres } },
                },
                // The git cache of pipeline files (the commits runs read their file at).
                { name: 'CAPSTAN_CACHE_DIR', value: '/var/cache/capstan' },
                { name: 'TMPDIR', value: '/tmp' },
                { name: 'HOME', value: '/tmp' },
              ],
              ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
              ...healthProbes('http'),
              resources: {
                requests: { cpu: '50m', memory: '128Mi' },
                limits: { memory: '512Mi' },
              },
              securityContext: CONTAINER_SECURITY_CONTEXT,
              volumeMounts: [
                ...(postgres ? [] : [{ name: 'data', mountPath: '/var/lib/capstan' }]),
                { name: 'cache', mountPath: '/var/cache/capstan' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            ...(postgres ? [] : [{ name: 'data', persistentVolumeClaim: { claimName: SERVER_DATA_CLAIM } }]),
            { name: 'cache', emptyDir: { sizeLimit: '2Gi' } },
            { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
          ],
        },
      },
    },
  };
}

/**
 * The SQLite store's volume: ReadWriteOnce (one pod opens the file), SERVER_DATA_SIZE unless `data.size`
 * says otherwise, the cluster's default StorageClass unless `data.storageClass` names one
 * (`scripts/generate-install.ts --server-data-size --server-storage-class`). A claim's class and size
 * are fixed once it is bound (a bigger size only where its class allows expansion).
 */
export function serverDataClaim(namespace: string, data: ServerDataOptions = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: meta(SERVER_DATA_CLAIM, namespace),
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(data.storageClass === undefined ? {} : { storageClassName: data.storageClass }),
      resources: { requests: { storage: data.size ?? SERVER_DATA_SIZE } },
    },
  };
}

/** The SQLite store's claim: its size (a Kubernetes quantity) and StorageClass. */
export interface ServerDataOptions {
  readonly size?: string;
  readonly storageClass?: string;
}

/** Why `data` cannot be the claim's (a size that is no quantity, a class that is no object name); undefined if it can. */
export function serverDataProblem(data: ServerDataOptions): string | undefined {
  if (data.size !== undefined && !/^[1-9][0-9]*(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(data.size))
    return `size ${JSON.stringify(data.size)}: give a quantity such as 1Gi or 500Mi`;
  if (
    data.storageClass !== undefined &&
    (data.storageClass.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(data.storageClass))
  )
    return `StorageClass ${JSON.stringify(data.storageClass)}: give an object name (lower-case letters, digits, '-' and '.')`;
  return undefined;
}

export function serverService(namespace: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(SERVER_NAME, namespace),
    spec: { selector: SERVER_SELECTOR, ports: [{ name: 'http', port: SERVER_PORT, targetPort: 'http' }] },
  };
}
