import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND, environmentCrd } from '../contracts/environment.ts';
import { NOTIFICATION_API_VERSION, NOTIFICATION_KIND, notificationCrd } from '../contracts/notification.ts';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND, applicationCrd } from '../contracts/application.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND, pipelineCrd } from '../contracts/pipeline.ts';
import { PROJECT_API_VERSION, PROJECT_KIND, projectCrd } from '../contracts/project.ts';
import { attach, up, type LocalCluster } from '../devcluster/cluster.ts';
import type { ResourceType } from '../ports/cluster.ts';
import { eventually } from './eventually.ts';

/** The cluster shared by one test run; scripts/test.ts starts it and names it in CAPSTAN_TEST_CLUSTER. */
export const TEST_CLUSTER_ENV = 'CAPSTAN_TEST_CLUSTER';
export const DEFAULT_TEST_CLUSTER = 'capstan-test';

let shared: Promise<LocalCluster> | undefined;

/**
 * The run's cluster: attaches to the running one, or starts it when a test file runs on its own.
 * Never skips: if no cluster can be had, this rejects with the reason and the test fails.
 */
export function testCluster(): Promise<LocalCluster> {
  shared ??= (async () => {
    const name = process.env[TEST_CLUSTER_ENV] ?? DEFAULT_TEST_CLUSTER;
    const running = await attach(name);
    if (running) return running;
    return up({ name, progress: (line) => process.stderr.write(`[test-cluster] ${line}\n`) });
  })();
  return shared;
}

export interface KubeClients {
  readonly config: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly objects: k8s.KubernetesObjectApi;
  readonly extensions: k8s.ApiextensionsV1Api;
}

export function kubeClients(kubeconfigPath: string): KubeClients {
  const config = new k8s.KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(config),
    extensions: config.makeApiClient(k8s.ApiextensionsV1Api),
  };
}

/** The identity Capstan's agent has in tests: a ServiceAccount, so RBAC and priority and fairness apply. */
export async function agentKubeconfig(cluster: LocalCluster): Promise<string> {
  return cluster.serviceAccountKubeconfig({
    namespace: 'capstan-system',
    name: 'capstan-agent',
    clusterRole: 'cluster-admin',
  });
}

interface TestContextLike {
  readonly name: string;
  after(fn: () => Promise<void>): void;
}

/** A namespace of its own for one test, deleted after it. */
export async function freshNamespace(t: TestContextLike, clients: KubeClients): Promise<string> {
  const slug = t.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40)
    .replace(/-$/, '');
  const name = `t-${slug}-${randomBytes(3).toString('hex')}`;
  await clients.core.createNamespace({
    body: { metadata: { name, labels: { 'capstan.dev/test': 'true' } } },
  });
  t.after(async () => {
    await clients.core.deleteNamespace({ name }).catch(() => undefined);
  });
  return name;
}

/**
 * Deletes the Applications `labelSelector` selects and waits (at most a minute) until they are gone: a
 * file that runs its own agent calls it before stopping that agent, since its Applications carry the
 * agent's finalizer and would otherwise stay, with their namespaces Terminating, in a cluster later
 * files reuse (and list). A wait that times out is reported on stderr, not failed: it is cleanup.
 */
export async function untilApplicationsGone(
  admin: KubeCluster,
  applications: ResourceType,
  labelSelector: string,
): Promise<void> {
  const left = await admin.list(applications, '', { labelSelector });
  await Promise.all(
    left.map((app) =>
      admin
        .delete(applications, app.metadata.namespace ?? '', app.metadata.name ?? '')
        .catch(() => undefined),
    ),
  );
  await eventually(async () => (await admin.list(applications, '', { labelSelector })).length === 0, {
    what: `the Applications ${labelSelector} deleted`,
    timeoutMs: 60_000,
  }).catch((error: unknown) => {
    console.error(String(error));
  });
}

/** Installs (or updates) the Application CRD and returns its type once the API server serves it. */
export async function installApplicationCrd(admin: KubeCluster): Promise<ResourceType> {
  const crdType = await admin.resourceType('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  if (!crdType) throw new Error('the cluster serves no CustomResourceDefinitions');
  await admin.apply(crdType, applicationCrd(), { fieldManager: 'capstan-test', force: true });
  return eventually(
    async () =>
      (await admin.resourceType(APPLICATION_API_VERSION, APPLICATION_KIND, { refresh: true })) ?? false,
    { what: 'the Application CRD served' },
  );
}

/** Installs (or updates) the Project CRD and returns its type once the API server serves it. */
export async function installProjectCrd(admin: KubeCluster): Promise<ResourceType> {
  const crdType = await admin.resourceType('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  if (!crdType) throw new Error('the cluster serves no CustomResourceDefinitions');
  await admin.apply(crdType, projectCrd(), { fieldManager: 'capstan-test', force: true });
  return eventually(
    async () => (await admin.resourceType(PROJECT_API_VERSION, PROJECT_KIND, { refresh: true })) ?? false,
    { what: 'the Project CRD served' },
  );
}

/** Installs (or updates) the Pipeline CRD and returns its type once the API server serves it. */
export async function installPipelineCrd(admin: KubeCluster): Promise<ResourceType> {
  const crdType = await admin.resourceType('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  if (!crdType) throw new Error('the cluster serves no CustomResourceDefinitions');
  await admin.apply(crdType, pipelineCrd(), { fieldManager: 'capstan-test', force: true });
  return eventually(
    async () => (await admin.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND, { refresh: true })) ?? false,
    { what: 'the Pipeline CRD served' },
  );
}

/** Installs the Notification CRD (docs/notifications.md) and waits until it is served. */
export async function installNotificationCrd(admin: KubeCluster): Promise<ResourceType> {
  const crdType = await admin.resourceType('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  if (!crdType) throw new Error('the cluster serves no CustomResourceDefinitions');
  await admin.apply(crdType, notificationCrd(), { fieldManager: 'capstan-test', force: true });
  return eventually(
    async () =>
      (await admin.resourceType(NOTIFICATION_API_VERSION, NOTIFICATION_KIND, { refresh: true })) ?? false,
    { what: 'the Notification CRD served' },
  );
}

/** Installs the Environment CRD (environments and promotions, docs/promotions.md) and waits until it is served. */
export async function installEnvironmentCrd(admin: KubeCluster): Promise<ResourceType> {
  const crdType = await admin.resourceType('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  if (!crdType) throw new Error('the cluster serves no CustomResourceDefinitions');
  await admin.apply(crdType, environmentCrd(), { fieldManager: 'capstan-test', force: true });
  return eventually(
    async () =>
      (await admin.resourceType(ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND, { refresh: true })) ?? false,
    { what: 'the Environment CRD served' },
  );
}

/**
 * A Project that lets the Applications of `namespace` deploy to any cluster and namespace, any kind,
 * adopting what exists (all but the agent's own namespaces, which no project can open): for tests of
 * other features than tenancy, whose Applications reach beyond their namespace. Returns its name.
 */
export async function openProject(admin: KubeCluster, namespace: string): Promise<string> {
  const type = await installProjectCrd(admin);
  const name = `open-${namespace}`.slice(0, 253);
  await admin.apply(
    type,
    {
      apiVersion: PROJECT_API_VERSION,
      kind: PROJECT_KIND,
      metadata: { name, labels: { 'capstan.dev/test': 'true' } },
      spec: {
        applicationNamespaces: [namespace],
        destinations: [{ cluster: '*', namespace: '*' }],
        clusterResources: [{ group: '*', kind: '*' }],
        allowAdoption: true,
      },
    },
    { fieldManager: 'capstan-test', force: true },
  );
  return name;
}

/**
 * Waits until the cluster's controllers work end to end, and says how long that took: a Job whose pod
 * the controller-manager creates, the scheduler places and kwok completes, and which the job controller
 * then marks succeeded. After API server restarts, client-go's watches in those components back off
 * (up to ~30 s each) before they list again; a test that needs pods to come and go calls this first
 * rather than count that wait against its own time limit.
 */
export async function controllersWork(
  clients: KubeClients,
  namespace: string,
  timeoutMs = 180_000,
): Promise<number> {
  const batch = clients.config.makeApiClient(k8s.BatchV1Api);
  const name = `probe-${randomBytes(3).toString('hex')}`;
  const started = Date.now();
  await batch.createNamespacedJob({
    namespace,
    body: {
      metadata: { name },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'probe', image: 'registry.example/probe:1' }],
          },
        },
      },
    },
  });
  try {
    await eventually(
      async () => (await batch.readNamespacedJob({ namespace, name })).status?.succeeded === 1,
      {
        what: `the probe Job ${namespace}/${name} to succeed (controllers, scheduler and kwok at work)`,
        timeoutMs,
        intervalMs: 250,
      },
    );
    return Date.now() - started;
  } finally {
    await batch
      .deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' })
      .catch(() => undefined);
  }
}
