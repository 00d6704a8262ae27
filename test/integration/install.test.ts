// The install manifests against the real API server: the CRD for real (its schema, CEL rules, status
// subresource and printer columns), everything else through a server-side dry run (dryRun=All), and
// the agent's pod template under the restricted Pod Security Standard.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { CapstanError } from '../../src/core/errors.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationCrd,
  validateApplication,
  type Application,
  type ApplicationStatus,
} from '../../src/contracts/application.ts';
import { installManifests } from '../../src/contracts/install.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

const FIELD_MANAGER = 'capstan-install-test';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';
const SHA = 'a'.repeat(40);

let cluster: KubeCluster;
let kube: KubeClients;
let applications: ResourceType;

async function typeOf(object: KubeObject): Promise<ResourceType> {
  const type = await cluster.resourceType(object.apiVersion, object.kind);
  assert.ok(type, `the API server serves ${object.apiVersion} ${object.kind}`);
  return type;
}

before(async () => {
  const path = (await testCluster()).adminKubeconfig;
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: path }));
  kube = kubeClients(path);
  // The CRD is applied for real (and left installed: other test files use it too); force, because the
  // agent's own tests may have applied it under another field manager.
  const crd = applicationCrd();
  await cluster.apply(await typeOf(crd), crd, { fieldManager: FIELD_MANAGER, force: true });
  applications = await eventually(
    async () => {
      const live = await kube.extensions.readCustomResourceDefinition({ name: crd.metadata.name ?? '' });
      const established = live.status?.conditions?.some(
        (c) => c.type === 'Established' && c.status === 'True',
      );
      if (established !== true) return false;
      const type = await cluster.resourceType(APPLICATION_API_VERSION, APPLICATION_KIND, { refresh: true });
      return type ?? false;
    },
    { what: 'the Application CRD established and served', timeoutMs: 30_000 },
  );
});

const sample = (name: string, namespace: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: APPLICATION_API_VERSION,
  kind: APPLICATION_KIND,
  metadata: { name, namespace },
  spec: {
    source: { repoURL: 'https://git.example.com/team/config.git', path: 'apps/web', targetRevision: 'main' },
    destination: { namespace: 'web' },
    syncPolicy: {
      automated: { prune: true, selfHeal: true },
      retry: { limit: 3, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
      syncOptions: ['CreateNamespace=true'],
    },
    interval: '5m',
    dependsOn: [{ name: 'database' }],
    ignoreDifferences: [{ group: 'apps', kind: 'Deployment', jsonPointers: ['/spec/replicas'] }],
    ...spec,
  },
});

/** The message of the API server's refusal of `object` (a real create, which must fail). */
async function refusal(object: KubeObject): Promise<string> {
  try {
    await cluster.apply(applications, object, { fieldManager: FIELD_MANAGER });
  } catch (error) {
    assert.ok(error instanceof CapstanError, String(error));
    assert.equal(error.code, 'KUBE_INVALID', error.message);
    return error.message;
  }
  assert.fail(`the API server accepted ${object.metadata.name ?? ''}`);
}

describe('install manifests', () => {
  it('pass a server-side dry run of every object, in order', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const objects = installManifests({ image: 'registry.invalid/capstan:test', namespace });
    // The namespace (this test's own) is applied for real, so that its Pod Security labels take effect.
    const [ns] = objects.filter((o) => o.kind === 'Namespace');
    assert.ok(ns);
    await cluster.apply(await typeOf(ns), ns, { fieldManager: FIELD_MANAGER });
    const kinds: string[] = [];
    for (const object of objects) {
      // force: the install's cluster-scoped objects have fixed names (ClusterRoleBinding capstan-agent),
      // and install-rights.test.ts applies them for real meanwhile, as another field manager, in the
      // same cluster. A dry run that takes their fields over changes nothing and still validates each.
      const result = await cluster.apply(await typeOf(object), object, {
        fieldManager: FIELD_MANAGER,
        dryRun: true,
        force: true,
      });
      assert.equal(result.object.metadata.name, object.metadata.name);
      kinds.push(object.kind);
    }
    assert.deepEqual([...new Set(kinds)].sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'Deployment',
      'Namespace',
      'NetworkPolicy',
      'PersistentVolumeClaim',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
  });

  it("run the agent's and the server's pods under the restricted Pod Security Standard", async (t) => {
    const namespace = await freshNamespace(t, kube);
    const objects = installManifests({ image: 'registry.invalid/capstan:test', namespace });
    const [ns] = objects.filter((o) => o.kind === 'Namespace');
    const accounts = objects.filter((o) => o.kind === 'ServiceAccount');
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    assert.ok(ns);
    assert.deepEqual(
      deployments.map((d) => d.metadata.name),
      ['capstan-agent', 'capstan-server'],
    );
    // The namespace (with its Pod Security labels) and the pods' ServiceAccounts for real, in this test's namespace.
    for (const object of [ns, ...accounts])
      await cluster.apply(await typeOf(object), object, { fieldManager: FIELD_MANAGER });
    let pod: KubeObject | undefined;
    for (const deployment of deployments) {
      const template = (deployment['spec'] as { template: { spec: Record<string, unknown> } }).template;
      pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${deployment.metadata.name ?? ''}-probe`, namespace },
        spec: template.spec,
      };
      await cluster.apply(await typeOf(pod), pod, { fieldManager: FIELD_MANAGER, dryRun: true });
    }
    assert.ok(pod);
    const podType = await typeOf(pod);
    // The check means something: a pod without the security context is refused in that namespace.
    const loose: KubeObject = {
      ...pod,
      metadata: { name: 'loose', namespace },
      spec: { containers: [{ name: 'main', image: 'registry.invalid/x:1' }] },
    };
    await assert.rejects(
      cluster.apply(podType, loose, { fieldManager: FIELD_MANAGER, dryRun: true }),
      /violates PodSecurity "restricted/,
    );
  });
});

describe('the Application CRD', () => {
  it('stores a sample as written (no defaults added), and it reads back valid', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const app = sample('web', namespace);
    const { object, created } = await cluster.apply(applications, app, { fieldManager: FIELD_MANAGER });
    assert.equal(created, true);
    const live = await cluster.get(applications, namespace, 'web');
    assert.ok(live);
    assert.deepEqual(live['spec'], app['spec']);
    assert.deepEqual(object['spec'], app['spec']);
    const checked = validateApplication(live);
    assert.ok(checked.ok, checked.ok ? '' : checked.errors.join('\n'));
  });

  it('takes a full status through the status subresource and shows it in the printer columns', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = `app-${randomBytes(3).toString('hex')}`;
    await cluster.apply(applications, sample(name, namespace), { fieldManager: FIELD_MANAGER });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status: ApplicationStatus = {
      observedGeneration: 1,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Synced',
          message: 'synced and healthy',
          lastTransitionTime: now,
          observedGeneration: 1,
        },
        { type: 'Stalled', status: 'False', reason: 'Progressing', message: '', lastTransitionTime: now },
      ],
      sync: { status: 'Synced', revision: SHA, digest: 'sha256:abc' },
      health: { status: 'Healthy', message: '' },
      resources: [
        {
          group: 'apps',
          version: 'v1',
          kind: 'Deployment',
          namespace: 'web',
          name: 'web',
          syncStatus: 'Synced',
          health: { status: 'Healthy', message: '2/2 replicas ready' },
        },
      ],
      operation: { phase: 'Succeeded', type: 'sync', revision: SHA, startedAt: now, finishedAt: now },
      history: [
        {
          id: 1,
          revision: SHA,
          digest: 'sha256:abc',
          author: 'Ada <ada@example.com>',
          message: 'web: two replicas',
          startedAt: now,
          finishedAt: now,
          result: 'Succeeded',
          summary: '1 created',
        },
      ],
      hold: { revision: SHA, fromRevision: 'b'.repeat(40), reason: 'rolled back', since: now },
    };
    const path = `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`;
    const patched = await cluster.client.call('PATCH', `${path}/status`, {
      body: { status },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const live = await cluster.get(applications, namespace, name);
    assert.deepEqual(live?.['status'], status);
    const checked = validateApplication(live);
    assert.ok(checked.ok, checked.ok ? '' : checked.errors.join('\n'));

    // A status written through the main resource is ignored (status is a subresource).
    await cluster.client.call('PATCH', path, {
      body: { status: { sync: { status: 'OutOfSync' } } },
      contentType: 'application/merge-patch+json',
    });
    const after = (await cluster.get(applications, namespace, name)) as Application | undefined;
    assert.deepEqual(after?.status?.sync, {
      status: 'Synced',
      revision: SHA,
      digest: 'sha256:abc',
    });

    const table = await cluster.client.call(
      'GET',
      `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications`,
      {
        accept: TABLE,
      },
    );
    assert.equal(table.status, 200);
    const body = table.body as {
      kind: string;
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[] }[];
    };
    assert.equal(body.kind, 'Table');
    const columns = body.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name);
    assert.deepEqual(columns, ['Name', 'Sync', 'Health', 'Revision', 'Age']);
    const [row] = body.rows;
    assert.deepEqual(row?.cells.slice(0, 4), [name, 'Synced', 'Healthy', SHA]);
  });

  it('refuses what the contract refuses, naming the field, as validateApplication does', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const cases: { name: string; spec: Record<string, unknown>; api: RegExp; ours: string }[] = [
      {
        name: 'no-repo',
        spec: { source: { path: 'x' } },
        api: /spec\.source\.repoURL: Required value/,
        ours: 'spec.source.repoURL: required',
      },
      {
        name: 'bad-option',
        spec: { syncPolicy: { syncOptions: ['Prune=false'] } },
        api: /spec\.syncPolicy\.syncOptions\[0\]: Unsupported value: "Prune=false"/,
        ours: 'spec.syncPolicy.syncOptions[0]: must be one of',
      },
      {
        name: 'bad-interval',
        spec: { interval: '3 minutes' },
        api: /spec\.interval: Invalid value: "3 minutes"/,
        ours: 'spec.interval: must be a duration',
      },
      {
        name: 'escapes',
        spec: { source: { repoURL: 'https://git.example.com/x.git', path: 'apps/../../etc' } },
        api: /spec\.source\.path: Invalid value: .*must stay inside the repository/,
        ours: 'spec.source.path: must stay inside the repository',
      },
      {
        name: 'two-renderers',
        spec: { source: { repoURL: 'https://git.example.com/x.git', helm: {}, directory: {} } },
        api: /spec\.source: Invalid value: .*set at most one of directory, helm and kustomize/,
        ours: 'spec.source: set at most one of directory, helm and kustomize',
      },
      {
        name: 'plain-http',
        spec: { source: { repoURL: 'http://git.example.com/x.git' } },
        api: /spec\.source\.repoURL: Invalid value: .*needs insecureHttp: true/,
        ours: 'spec.source.repoURL: a plain http:// URL needs insecureHttp: true',
      },
      {
        name: 'short-interval',
        spec: { interval: '500ms' },
        api: /spec\.interval: Invalid value: .*must be at least 1s/,
        ours: 'spec.interval: must be at least 1s',
      },
      {
        name: 'backoff',
        spec: { syncPolicy: { retry: { backoff: { duration: '10m' } } } },
        api: /spec\.syncPolicy\.retry\.backoff\.maxDuration: Invalid value: .*must not be shorter than duration/,
        ours: 'spec.syncPolicy.retry.backoff.maxDuration: must not be shorter than duration',
      },
    ];
    for (const c of cases) {
      const app = sample(c.name, namespace, c.spec);
      assert.match(await refusal(app), c.api, c.name);
      const ours = validateApplication(app);
      assert.equal(ours.ok, false, c.name);
      assert.ok(
        ours.errors.some((e) => e.startsWith(c.ours)),
        `${c.name}: ${ours.errors.join('; ')}`,
      );
    }
  });

  it('refuses a history longer than the bound', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await cluster.apply(applications, sample('bounded', namespace), { fieldManager: FIELD_MANAGER });
    const now = new Date().toISOString();
    const history = Array.from({ length: 21 }, (_, i) => ({
      id: i + 1,
      revision: SHA,
      startedAt: now,
      result: 'Succeeded',
    }));
    const res = await cluster.client.call(
      'PATCH',
      `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/bounded/status`,
      { body: { status: { history } }, contentType: 'application/merge-patch+json' },
    );
    assert.equal(res.status, 422);
    assert.match(JSON.stringify(res.body), /status\.history: Too many: 21: must have at most 20 items/);
  });
});
