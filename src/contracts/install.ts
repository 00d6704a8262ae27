/**
 * The objects that install Capstan into a cluster: the CRDs, the agent's namespace, its identity and
 * least-privilege RBAC, and the agent Deployment. `scripts/generate-install.ts` writes them to
 * deploy/install.yaml; tests apply them to a real API server.
 *
 * RBAC, rule by rule (what the agent needs and why):
 *
 * - ClusterRole `capstan-agent` — the agent's own work, in every namespace:
 *   Applications: get/list/watch (the controller watches them all), update/patch (finalizers and
 *   request annotations on the object); `applications/status`: get/update/patch (it writes status);
 *   `applications/finalizers`: update (owner references with blockOwnerDeletion to an Application are
 *   refused without it). Projects: get/list/watch (what each Application may do). Events (core and
 *   events.k8s.io): create/patch, one per sync, in the Application's namespace. No delete: Applications are deleted by people or by Git.
 *   Pipelines: patch (a webhook's push or pull request becomes a run-request annotation on each
 *   Pipeline of the repository, for the server's pipeline driver).
 * - Role `capstan-agent` in the agent namespace: Leases (leader election, later sharding): get, list,
 *   watch, create, update, patch. Secrets: get, list, watch — the registered clusters (a kubeconfig per
 *   Secret) live there, and nowhere else.
 * - ClusterRole `capstan-repository-credentials`, bound by a RoleBinding in each Application namespace
 *   (`applicationNamespaces`): Secrets get/list/watch, for the git credentials `spec.source.secretRef`
 *   names. A RoleBinding per namespace, never a ClusterRoleBinding: these rights say which namespaces
 *   hold Applications whose credentials the agent may read.
 * - ClusterRole `capstan-reader`, bound cluster-wide: get, list, watch on every resource. The agent
 *   compares what it applies with what is live, assesses health and watches for drift, of any kind,
 *   including CRDs that do not exist yet at install time. RBAC cannot subtract, so this includes
 *   Secrets of every namespace; it grants no write.
 * - Role `capstan-agent` also holds ConfigMaps in the agent namespace: the inventories (what each
 *   Application owns), written with the agent's own identity. That is all the agent writes itself.
 * - ClusterRole `capstan-impersonator`: `impersonate` on `serviceaccounts`, limited by resourceNames to
 *   the default ServiceAccount (`capstan-deployer`) and the names given in `impersonate` (those that
 *   projects name), bound by a RoleBinding in each Application namespace only. Every apply, dry run
 *   and prune is made as that ServiceAccount (src/core/policy.ts `applyingServiceAccount`), so the API
 *   server bounds each Application by that ServiceAccount's RBAC: there is no wide write permission.
 * - In each Application namespace (but the agent's own), the default ServiceAccount
 *   `capstan-deployer` with a RoleBinding to the ClusterRole `edit` there: an Application that names
 *   no project (or whose project's destination names no ServiceAccount) deploys into its own namespace
 *   and nowhere else. The agent runs with `--default-service-account capstan-deployer`.
 *   Nothing is granted `escalate`, `bind`, `deletecollection`, or a write to cluster-scoped kinds.
 */
import type { KubeObject } from '../core/resource.ts';
import { APPLICATION_GROUP, APPLICATION_PLURAL, applicationCrd } from './application.ts';
import {
  CONTAINER_SECURITY_CONTEXT,
  healthProbes,
  INSTALL_DEFAULT_NAMESPACE,
  installScopedName,
  labelsOf,
  type Meta,
  metaOf,
  podSecurityContext,
  RBAC,
  RBAC_V1,
  READ,
} from './install-parts.ts';
import {
  type BuildkitFlags,
  type ServerDataOptions,
  serverManifests,
  type ServerStore,
} from './install-server.ts';
import { environmentCrd } from './environment.ts';
import { notificationCrd } from './notification.ts';
import { PIPELINE_PLURAL, pipelineCrd } from './pipeline.ts';
import { PROJECT_PLURAL, projectCrd } from './project.ts';

export interface InstallOptions {
  /** The agent image, e.g. `ghcr.io/capstan-dev/capstan:0.1.0` (a digest is better still). */
  readonly image: string;
  /** The agent's namespace: its Lease and the registered clusters' Secrets. Default `capstan-system`. */
  readonly namespace?: string;
  /** Namespaces whose Applications' git credentials the agent reads. Default: the agent's namespace. */
  readonly applicationNamespaces?: readonly string[];
  /** Agent replicas; one leads, the others wait on the Lease. Default 2. */
  readonly replicas?: number;
  /**
   * ServiceAccount names the agent may impersonate in the Application namespaces besides the default
   * one (`capstan-deployer`): those the projects' destinations name. Default: none.
   */
  readonly impersonate?: readonly string[];
  /**
   * Optional. Run the agent under the Localhost seccomp profile RENDER_SANDBOX_SECCOMP_PROFILE instead
   * of RuntimeDefault, so that its render sandbox can be bubblewrap (user namespaces) in the pod. Each
   * node that may run the agent must hold deploy/seccomp/render-sandbox.json at
   * `<kubelet root>/seccomp/capstan/render-sandbox.json`, or the pods do not start. Default false:
   * RuntimeDefault, under which bubblewrap cannot start and the agent's `auto` sandbox renders
   * Kustomize and Helm in the Landlock sandbox (capstan-confine, in the image) instead; only a kernel
   * without Landlock (ABI 3, Linux 6.2) then refuses those renders with RENDER_SANDBOX_UNAVAILABLE.
   * docs/security.md compares the two sandboxes.
   */
  readonly renderSandboxProfile?: boolean;
  /**
   * Namespaces whose Pipelines' runs the server starts: there it may create, read and delete Pods (the
   * run Pods; src/contracts/install-server.ts). Default: none (a run elsewhere fails, Forbidden).
   */
  readonly pipelineNamespaces?: readonly string[];
  /** buildkitd for pipeline image steps (the server's `--buildkit-*`). Default: none. */
  readonly buildkit?: BuildkitFlags;
  /** The server's store (ServerInstallOptions.store): `sqlite` (default) or `postgres` (several replicas). */
  readonly serverStore?: ServerStore;
  /** The server's SQLite claim (install-server.ts ServerDataOptions): its size and StorageClass. */
  readonly serverData?: ServerDataOptions;
}

export const AGENT_NAME = 'capstan-agent';
/** The ServiceAccount, in each Application namespace, that applies when a project names none. */
export const DEFAULT_SERVICE_ACCOUNT = 'capstan-deployer';
export const CREDENTIALS_READER_NAME = 'capstan-repository-credentials';
export const READER_NAME = 'capstan-reader';
export const IMPERSONATOR_NAME = 'capstan-impersonator';
export const DEFAULT_NAMESPACE = INSTALL_DEFAULT_NAMESPACE;
/** Liveness (/healthz) and readiness (/readyz). */
export const HEALTH_PORT = 8080;
/** Prometheus metrics (/metrics). */
export const METRICS_PORT = 8081;
/** The webhook receiver (/api/v1/webhooks/…), alone on its port: the one exposed to git providers. */
export const WEBHOOK_PORT = 8082;
/** The Localhost seccomp profile of `renderSandboxProfile`, relative to the kubelet's seccomp folder. */
export const RENDER_SANDBOX_SECCOMP_PROFILE = 'capstan/render-sandbox.json';

/** The labels that select the agent's pods (a subset of their labels; a Deployment's selector never changes). */
export const AGENT_SELECTOR = { 'app.kubernetes.io/name': 'capstan', 'app.kubernetes.io/component': 'agent' };
const WRITE = ['create', 'update', 'patch', 'delete'];

/** Every object of an install, in the order to apply them. */
export function installManifests(options: InstallOptions): KubeObject[] {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const applicationNamespaces = [...new Set(options.applicationNamespaces ?? [namespace])];
  const parts = { meta: metaOf, subjects: [{ kind: 'ServiceAccount', name: AGENT_NAME, namespace }] };
  return [
    // The resource types first: everything else may refer to them.
    applicationCrd(),
    projectCrd(),
    pipelineCrd(),
    environmentCrd(),
    notificationCrd(),
    agentNamespace(namespace),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metaOf(AGENT_NAME, 'agent', namespace) },
    ...agentOwnRbac(namespace, parts),
    ...credentialsRbac(applicationNamespaces, { ...parts, namespace }),
    ...applyRbac({ namespace, applicationNamespaces, impersonate: options.impersonate ?? [] }, parts),
    agentDeployment(options.image, namespace, options.replicas ?? 2, labelsOf('agent'), {
      seccompProfile:
        options.renderSandboxProfile === true
          ? { type: 'Localhost', localhostProfile: RENDER_SANDBOX_SECCOMP_PROFILE }
          : { type: 'RuntimeDefault' },
    }),
    ...agentAvailability(namespace),
    ...agentNetworkObjects(namespace, metaOf),
    // The API server: its own identity, RBAC, Deployment and Service (src/contracts/install-server.ts).
    ...serverManifests({
      image: options.image,
      namespace,
      ...(options.pipelineNamespaces ? { pipelineNamespaces: options.pipelineNamespaces } : {}),
      ...(options.buildkit ? { buildkit: options.buildkit } : {}),
      ...(options.serverStore ? { store: options.serverStore } : {}),
      ...(options.serverData ? { data: options.serverData } : {}),
    }),
  ];
}

/** The agent's namespace, enforcing the restricted Pod Security Standard its pods meet. */
function agentNamespace(namespace: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: {
        ...labelsOf('agent'),
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/warn': 'restricted',
      },
    },
  };
}

/** The agent's own work: Applications and their status, Projects, Events; its Lease, cluster Secrets and inventories. */
function agentOwnRbac(namespace: string, parts: { meta: Meta; subjects: Subjects }): KubeObject[] {
  const { meta, subjects } = parts;
  const clusterName = installScopedName(AGENT_NAME, namespace);
  return [
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRole',
      metadata: meta(clusterName, 'agent'),
      rules: [
        {
          apiGroups: [APPLICATION_GROUP],
          resources: [APPLICATION_PLURAL],
          verbs: [...READ, 'update', 'patch'],
        },
        {
          apiGroups: [APPLICATION_GROUP],
          resources: [`${APPLICATION_PLURAL}/status`],
          verbs: ['get', 'update', 'patch'],
        },
        {
          apiGroups: [APPLICATION_GROUP],
          resources: [`${APPLICATION_PLURAL}/finalizers`],
          verbs: ['update'],
        },
        // Projects bound what each Application may do: read, never written by the agent.
        { apiGroups: [APPLICATION_GROUP], resources: [PROJECT_PLURAL], verbs: READ },
        // A webhook's push or pull request asks the pipeline driver for runs: an annotation on each
        // Pipeline of the repository (src/main/pipeline-requests.ts). Pipelines are read as every kind is.
        { apiGroups: [APPLICATION_GROUP], resources: [PIPELINE_PLURAL], verbs: ['patch'] },
        { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRoleBinding',
      metadata: meta(clusterName, 'agent'),
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: clusterName },
      subjects,
    },
    {
      apiVersion: RBAC_V1,
      kind: 'Role',
      metadata: meta(AGENT_NAME, 'agent', namespace),
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: [...READ, 'create', 'update', 'patch'],
        },
        { apiGroups: [''], resources: ['secrets'], verbs: READ },
        // The inventories (what each Application owns), written with the agent's own identity.
        { apiGroups: [''], resources: ['configmaps'], verbs: [...READ, ...WRITE] },
      ],
    },
    {
      apiVersion: RBAC_V1,
      kind: 'RoleBinding',
      metadata: meta(AGENT_NAME, 'agent', namespace),
      roleRef: { apiGroup: RBAC, kind: 'Role', name: AGENT_NAME },
      subjects,
    },
  ];
}

/** Reading the git credentials Secrets of each Application namespace (a RoleBinding there, never cluster-wide). */
function credentialsRbac(
  applicationNamespaces: readonly string[],
  parts: { meta: Meta; subjects: Subjects; namespace: string },
): KubeObject[] {
  const name = installScopedName(CREDENTIALS_READER_NAME, parts.namespace);
  return [
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRole',
      metadata: parts.meta(name, 'agent'),
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: READ }],
    },
    ...applicationNamespaces.map((ns): KubeObject => ({
      apiVersion: RBAC_V1,
      kind: 'RoleBinding',
      metadata: parts.meta(name, 'agent', ns),
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name },
      subjects: parts.subjects,
    })),
  ];
}

/** The metrics Service and a PodDisruptionBudget: one replica may go at a time. */
function agentAvailability(namespace: string): KubeObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metaOf(`${AGENT_NAME}-metrics`, 'agent', namespace),
      spec: {
        selector: AGENT_SELECTOR,
        ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics' }],
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: metaOf(AGENT_NAME, 'agent', namespace),
      spec: { maxUnavailable: 1, selector: { matchLabels: AGENT_SELECTOR } },
    },
  ];
}

/**
 * The agent's network: a Service for the webhook port (the one to expose to git providers, through an
 * Ingress of the cluster's choosing), and a NetworkPolicy. Ingress reaches only the health, metrics and
 * webhook ports. Egress goes anywhere (git hosts, registries, the API servers of registered clusters)
 * but link-local addresses, the clouds' metadata services; DNS is allowed everywhere (node-local DNS
 * caches listen on link-local addresses).
 */
function agentNetworkObjects(
  namespace: string,
  meta: (name: string, component: string, ns?: string) => KubeObject['metadata'],
): KubeObject[] {
  const tcp = (port: number | string) => ({ port, protocol: 'TCP' });
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(`${AGENT_NAME}-webhooks`, 'agent', namespace),
      spec: {
        selector: AGENT_SELECTOR,
        ports: [{ name: 'webhooks', port: 80, targetPort: 'webhooks' }],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(AGENT_NAME, 'agent', namespace),
      spec: {
        podSelector: { matchLabels: AGENT_SELECTOR },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ ports: [tcp(HEALTH_PORT), tcp(METRICS_PORT), tcp(WEBHOOK_PORT)] }],
        egress: [
          { ports: [{ port: 53, protocol: 'UDP' }, tcp(53)] },
          {
            to: [
              { ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } },
              { ipBlock: { cidr: '::/0', except: ['fe80::/10'] } },
            ],
          },
        ],
      },
    },
  ];
}

type Subjects = { kind: string; name: string; namespace: string }[];

/**
 * How Applications are applied: the agent reads every kind (health and drift; RBAC cannot leave Secrets
 * out) and impersonates only the named ServiceAccounts of each Application namespace (a RoleBinding
 * there), as which every apply and prune is made; each of those namespaces gets the default
 * ServiceAccount, which may edit that namespace. See the comment at the top of this file.
 */
function applyRbac(
  install: { namespace: string; applicationNamespaces: readonly string[]; impersonate: readonly string[] },
  parts: { meta: Meta; subjects: Subjects },
): KubeObject[] {
  const tenantNamespaces = install.applicationNamespaces.filter((ns) => ns !== install.namespace);
  const reader = installScopedName(READER_NAME, install.namespace);
  const impersonator = installScopedName(IMPERSONATOR_NAME, install.namespace);
  return [
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRole',
      metadata: parts.meta(reader, 'agent'),
      rules: [{ apiGroups: ['*'], resources: ['*'], verbs: READ }],
    },
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRoleBinding',
      metadata: parts.meta(reader, 'agent'),
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: reader },
      subjects: parts.subjects,
    },
    {
      apiVersion: RBAC_V1,
      kind: 'ClusterRole',
      metadata: parts.meta(impersonator, 'agent'),
      rules: [
        {
          apiGroups: [''],
          resources: ['serviceaccounts'],
          verbs: ['impersonate'],
          resourceNames: [...new Set([DEFAULT_SERVICE_ACCOUNT, ...install.impersonate])],
        },
      ],
    },
    ...tenantNamespaces.flatMap((ns): KubeObject[] => [
      {
        apiVersion: RBAC_V1,
        kind: 'RoleBinding',
        metadata: parts.meta(impersonator, 'agent', ns),
        roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: impersonator },
        subjects: parts.subjects,
      },
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: parts.meta(DEFAULT_SERVICE_ACCOUNT, 'deployer', ns),
      },
      {
        apiVersion: RBAC_V1,
        kind: 'RoleBinding',
        metadata: parts.meta(DEFAULT_SERVICE_ACCOUNT, 'deployer', ns),
        roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'edit' },
        subjects: [{ kind: 'ServiceAccount', name: DEFAULT_SERVICE_ACCOUNT, namespace: ns }],
      },
    ]),
  ];
}

function agentDeployment(
  image: string,
  namespace: string,
  replicas: number,
  labels: Record<string, string>,
  pod: { readonly seccompProfile: Record<string, string> },
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: AGENT_NAME, namespace, labels },
    spec: {
      // Two replicas: one leads (the Lease), the other takes over within the lease duration.
      replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: AGENT_SELECTOR },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: AGENT_NAME,
          // Long enough to finish the apply in progress on shutdown (SIGTERM), or abandon it safely.
          terminationGracePeriodSeconds: 60,
          securityContext: podSecurityContext(pod.seccompProfile),
          affinity: {
            podAntiAffinity: {
              // Spread the replicas, so that losing a node never loses both.
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: AGENT_SELECTOR },
                  },
                },
              ],
            },
          },
          containers: [agentContainer(image, namespace)],
          volumes: [
            { name: 'cache', emptyDir: { sizeLimit: '8Gi' } },
            { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
          ],
        },
      },
    },
  };
}

/** The agent's container: `capstan agent`, its probes, ports, bounds and a read-only root file system. */
function agentContainer(image: string, namespace: string): Record<string, unknown> {
  return {
    name: 'agent',
    image,
    imagePullPolicy: 'IfNotPresent',
    args: [
      'agent',
      '--default-service-account',
      DEFAULT_SERVICE_ACCOUNT,
      // The inventories beside the agent, where its Role lets it write ConfigMaps.
      ...(namespace === DEFAULT_NAMESPACE ? [] : ['--inventory-namespace', namespace]),
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      // The git and render cache, on the writable volume below.
      { name: 'CAPSTAN_CACHE_DIR', value: '/var/cache/capstan' },
      { name: 'TMPDIR', value: '/tmp' },
      { name: 'HOME', value: '/tmp' },
    ],
    ports: [
      { name: 'health', containerPort: HEALTH_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
      { name: 'webhooks', containerPort: WEBHOOK_PORT, protocol: 'TCP' },
    ],
    ...healthProbes('health'),
    resources: {
      requests: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
      // No CPU limit: throttling a controller only delays it; memory is bounded.
      limits: { memory: '1Gi', 'ephemeral-storage': '10Gi' },
    },
    securityContext: CONTAINER_SECURITY_CONTEXT,
    volumeMounts: [
      { name: 'cache', mountPath: '/var/cache/capstan' },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}
