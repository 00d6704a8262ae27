// The default install's rights on the real API server. The agent's identity may read, keep its own
// state and impersonate the named ServiceAccounts of the Application namespaces, and write nothing else
// (asked of the API server's authorizer with SubjectAccessReviews). Then `capstan agent` with that
// identity: an Application without a project syncs as its namespace's default ServiceAccount
// (capstan-deployer), and what that ServiceAccount, or the agent, may not do is refused by the API
// server with the identity named.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { AGENT_NAME, DEFAULT_SERVICE_ACCOUNT, installManifests } from '../../src/contracts/install.ts';
import { SERVER_NAME } from '../../src/contracts/install-server.ts';
import { installScopedName } from '../../src/contracts/install-parts.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../../src/contracts/project.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startAgentProcess } from '../../src/testing/agent-process.ts';
import {
  freshNamespace,
  installApplicationCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after);
let local: LocalCluster;
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let projectType: ResourceType;
const RBAC = 'rbac.authorization.k8s.io';
const LABEL_KEY = 'capstan.dev/test-install-rights';

before(async () => {
  local = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: local.adminKubeconfig }));
  kube = kubeClients(local.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  projectType = await installProjectCrd(admin);
});

after(() => {
  admin.close();
});

interface Question {
  verb: string;
  resource: string;
  group?: string;
  namespace?: string;
  subresource?: string;
  name?: string;
}

type Identity = { name: string; namespace: string };

async function allowed(user: Identity, q: Question): Promise<boolean> {
  const res = await admin.client.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${user.namespace}:${user.name}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${user.namespace}`,
          'system:authenticated',
        ],
        resourceAttributes: {
          verb: q.verb,
          resource: q.resource,
          group: q.group ?? '',
          ...(q.namespace ? { namespace: q.namespace } : {}),
          ...(q.subresource ? { subresource: q.subresource } : {}),
          ...(q.name ? { name: q.name } : {}),
        },
      },
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return (res.body as { status: { allowed: boolean } }).status.allowed;
}

async function expectRights(user: Identity, rights: { may: Question[]; mayNot: Question[] }): Promise<void> {
  // The API server's RBAC authorizer answers from its own watch of the bindings, so a binding just
  // applied may not count yet (seen once under load: a `may` answered false right after the install's
  // RoleBindings were applied). Each right granted is awaited (a positive signal); once they all hold,
  // the bindings are known, and each right withheld is asked once.
  for (const q of rights.may)
    await eventually(() => allowed(user, q), {
      what: `${user.name} may ${JSON.stringify(q)}`,
      timeoutMs: 20_000,
    });
  for (const q of rights.mayNot)
    assert.equal(await allowed(user, q), false, `${user.name} may not ${JSON.stringify(q)}`);
}

/**
 * The install's identities and RBAC applied for real, with the agent in `agentNamespace` and
 * `applicationNamespace` as the one Application namespace, which is also the one Pipeline namespace
 * (cluster-scoped objects removed after).
 */
async function applyInstall(
  t: { after: (fn: () => Promise<void>) => void },
  namespaces: { agentNamespace: string; applicationNamespace: string },
): Promise<void> {
  const objects = installManifests({
    image: 'registry.invalid/capstan:test',
    namespace: namespaces.agentNamespace,
    applicationNamespaces: [namespaces.applicationNamespace],
    // Its Pipelines' runs too: the server's run Pods there.
    pipelineNamespaces: [namespaces.applicationNamespace],
  });
  const kinds = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
  for (const object of objects.filter((o) => kinds.includes(o.kind))) {
    const type = await admin.resourceType(object.apiVersion, object.kind);
    assert.ok(type);
    await admin.apply(type, object, { fieldManager: 'capstan-test', force: true });
    if (!type.namespaced)
      t.after(async () => {
        await admin.delete(type, '', object.metadata.name ?? '').catch(() => undefined);
      });
  }
}

describe('the default install', () => {
  it('leaves the agent reading, keeping its state and impersonating capstan-deployer, and writing nothing else', async (t) => {
    const agentNamespace = await freshNamespace(t, kube);
    const apps = await freshNamespace(t, kube);
    const other = await freshNamespace(t, kube);
    await applyInstall(t, { agentNamespace, applicationNamespace: apps });
    const objects = installManifests({
      image: 'x',
      namespace: agentNamespace,
      applicationNamespaces: [apps],
    });
    assert.ok(!objects.some((o) => o.kind.startsWith('Cluster') && o.metadata.name === 'capstan-deployer'));
    const impersonate = (namespace: string, name?: string): Question => ({
      verb: 'impersonate',
      resource: 'serviceaccounts',
      namespace,
      ...(name ? { name } : {}),
    });
    await expectRights(
      { name: AGENT_NAME, namespace: agentNamespace },
      {
        may: [
          { verb: 'list', resource: 'pods' },
          { verb: 'watch', resource: 'deployments', group: 'apps', namespace: apps },
          {
            verb: 'patch',
            resource: 'applications',
            group: 'capstan.dev',
            subresource: 'status',
            namespace: apps,
          },
          { verb: 'list', resource: 'projects', group: 'capstan.dev' },
          // A webhook's push asks for runs: an annotation on the repository's Pipelines.
          { verb: 'patch', resource: 'pipelines', group: 'capstan.dev', namespace: apps },
          { verb: 'create', resource: 'configmaps', namespace: agentNamespace },
          { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: agentNamespace },
          { verb: 'get', resource: 'secrets', namespace: apps },
          impersonate(apps, DEFAULT_SERVICE_ACCOUNT),
        ],
        mayNot: [
          { verb: 'create', resource: 'clusterrolebindings', group: RBAC },
          { verb: 'create', resource: 'namespaces' },
          { verb: 'create', resource: 'secrets', namespace: apps },
          { verb: 'delete', resource: 'configmaps', namespace: apps },
          { verb: 'patch', resource: 'deployments', group: 'apps', namespace: apps },
          { verb: 'create', resource: 'pods', subresource: 'exec', namespace: apps },
          { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: apps },
          // Only the named ServiceAccount, only in the Application namespaces.
          impersonate(apps),
          impersonate(apps, 'deployer'),
          impersonate(other, DEFAULT_SERVICE_ACCOUNT),
          impersonate('kube-system', DEFAULT_SERVICE_ACCOUNT),
          { verb: 'impersonate', resource: 'users' },
          { verb: 'escalate', resource: 'clusterroles', group: RBAC },
          { verb: 'bind', resource: 'clusterroles', group: RBAC },
        ],
      },
    );
    // The default ServiceAccount edits its own namespace, and nothing else.
    await expectRights(
      { name: DEFAULT_SERVICE_ACCOUNT, namespace: apps },
      {
        may: [
          { verb: 'patch', resource: 'deployments', group: 'apps', namespace: apps },
          { verb: 'create', resource: 'configmaps', namespace: apps },
        ],
        mayNot: [
          { verb: 'create', resource: 'configmaps', namespace: other },
          { verb: 'create', resource: 'roles', group: RBAC, namespace: apps },
          { verb: 'create', resource: 'clusterrolebindings', group: RBAC },
          { verb: 'create', resource: 'namespaces' },
        ],
      },
    );
  });

  it('syncs an Application without a project as capstan-deployer; RBAC refuses the rest, naming who', async (t) => {
    const agentNamespace = await freshNamespace(t, kube);
    const apps = await freshNamespace(t, kube);
    await applyInstall(t, { agentNamespace, applicationNamespace: apps });
    const kubeconfig = await local.serviceAccountKubeconfig({
      namespace: agentNamespace,
      name: AGENT_NAME,
      clusterRole: installScopedName(AGENT_NAME, agentNamespace),
    });
    const bindings = await admin.resourceType(`${RBAC}/v1`, 'ClusterRoleBinding');
    assert.ok(bindings);
    t.after(async () => {
      await admin
        .delete(
          bindings,
          '',
          `${agentNamespace}-${AGENT_NAME}-${installScopedName(AGENT_NAME, agentNamespace)}`,
        )
        .catch(() => undefined);
    });
    const repo = `install-rights-${apps}`;
    await git.createRepository(repo, {
      files: {
        'web/settings.yaml':
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: "1"\n',
        'escalate/role.yaml': [
          'apiVersion: rbac.authorization.k8s.io/v1',
          'kind: Role',
          'metadata:',
          '  name: everything',
          'rules:',
          '  - { apiGroups: ["*"], resources: ["*"], verbs: ["*"] }',
          '',
        ].join('\n'),
      },
      message: 'a ConfigMap, and a Role granting everything in the namespace',
    });
    await kube.core.createNamespacedSecret({ namespace: apps, body: gitSecretBody(git) });
    // A project naming a ServiceAccount the install does not let the agent impersonate.
    const project = `named-sa-${apps}`.slice(0, 63);
    await admin.apply(
      projectType,
      {
        apiVersion: PROJECT_API_VERSION,
        kind: PROJECT_KIND,
        metadata: { name: project, labels: { 'capstan.dev/test': 'true' } },
        spec: {
          applicationNamespaces: [apps],
          destinations: [{ cluster: 'in-cluster', namespace: apps, serviceAccount: { name: 'deployer' } }],
        },
      },
      { fieldManager: 'capstan-test' },
    );
    t.after(async () => {
      await admin.delete(projectType, '', project).catch(() => undefined);
    });
    const label = `rights-${apps.slice(-6)}`;
    const agent = await startAgentProcess(t.after.bind(t), {
      kubeconfig,
      selector: `${LABEL_KEY}=${label}`,
      extraArgs: [
        '--namespace',
        agentNamespace,
        '--default-service-account',
        DEFAULT_SERVICE_ACCOUNT,
        '--inventory-namespace',
        agentNamespace,
      ],
    });
    // Its waits start once it runs, not while Node.js loads it (tens of seconds on a busy machine).
    await agent.started();
    const applications: [string, string, Record<string, unknown>][] = [
      ['web', 'web', {}],
      ['escalate', 'escalate', {}],
      ['named', 'web', { project }],
    ];
    for (const [name, path, spec] of applications)
      await admin.apply(
        appType,
        {
          apiVersion: APPLICATION_API_VERSION,
          kind: 'Application',
          metadata: { name, namespace: apps, labels: { [LABEL_KEY]: label } },
          spec: {
            source: { repoURL: git.url(repo), path, insecureHttp: true, secretRef: { name: 'git' } },
            syncPolicy: { automated: { prune: true } },
            ...spec,
          },
        } satisfies KubeObject,
        { fieldManager: 'capstan-test' },
      );
    t.after(async () =>
      removeApplications(
        apps,
        applications.map(([name]) => name),
      ),
    );
    const ready = async (name: string) => {
      const app = (await admin.get(appType, apps, name)) as unknown as Application | undefined;
      return app?.status?.conditions?.find((c) => c.type === 'Ready');
    };
    // The last sync failed (status.operation), and why; Ready says so until a later reconcile finds
    // the Application merely out of sync.
    const refused = (name: string, words: string) =>
      eventually(
        async () => {
          const app = (await admin.get(appType, apps, name)) as unknown as Application | undefined;
          const operation = app?.status?.operation;
          if (operation?.phase === 'Failed' && operation.message?.includes(words) === true)
            return operation.message;
          throw new Error(`the last operation: ${JSON.stringify(operation)}`);
        },
        { what: `Application ${name} refused (${words})`, timeoutMs: 90_000 },
      );

    // Without a project: applied as capstan-deployer (the agent itself may not create ConfigMaps there).
    await eventually(async () => (await ready('web'))?.status === 'True', {
      what: 'Application web Ready',
      timeoutMs: 90_000,
    });
    const configMaps = await admin.resourceType('v1', 'ConfigMap');
    assert.ok(configMaps);
    assert.ok(await admin.get(configMaps, apps, 'settings'));

    // A Role its project allows, which capstan-deployer may not write: refused, the ServiceAccount named.
    const escalate = await refused('escalate', 'forbidden');
    assert.match(escalate, new RegExp(`system:serviceaccount:${apps}:${DEFAULT_SERVICE_ACCOUNT}`));
    assert.match(escalate, /nothing was changed: Role\/.*\/everything: .*cannot patch resource "roles"/);
    const roles = await admin.resourceType(`${RBAC}/v1`, 'Role');
    assert.ok(roles);
    assert.equal(await admin.get(roles, apps, 'everything'), undefined);

    // A ServiceAccount the project names but the install does not: the agent may not impersonate it.
    const named = await refused('named', 'impersonate');
    assert.match(named, new RegExp(`system:serviceaccount:${agentNamespace}:${AGENT_NAME}`));
    // Since Kubernetes 1.34 (constrained impersonation) the API server says `cannot impersonate-on:...`.
    assert.match(named, /cannot impersonate/);
    assert.match(named, /nothing was changed/);
  });
});

describe('two installs in one cluster', () => {
  it('keep their own rights: the second re-binds none of the first’s cluster-wide rights', async (t) => {
    const [first, firstApps, second, secondApps] = [
      await freshNamespace(t, kube),
      await freshNamespace(t, kube),
      await freshNamespace(t, kube),
      await freshNamespace(t, kube),
    ];
    await applyInstall(t, { agentNamespace: first, applicationNamespace: firstApps });
    await applyInstall(t, { agentNamespace: second, applicationNamespace: secondApps });
    const impersonate = (namespace: string): Question => ({
      verb: 'impersonate',
      resource: 'serviceaccounts',
      namespace,
      name: DEFAULT_SERVICE_ACCOUNT,
    });
    const cluster = (agentNamespace: string): Question[] => [
      { verb: 'list', resource: 'pods' },
      { verb: 'list', resource: 'projects', group: 'capstan.dev' },
      { verb: 'patch', resource: 'applications', group: 'capstan.dev', subresource: 'status' },
      { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: agentNamespace },
    ];
    await expectRights(
      { name: AGENT_NAME, namespace: first },
      { may: [...cluster(first), impersonate(firstApps)], mayNot: [impersonate(secondApps)] },
    );
    await expectRights(
      { name: AGENT_NAME, namespace: second },
      { may: [...cluster(second), impersonate(secondApps)], mayNot: [impersonate(firstApps)] },
    );
    for (const namespace of [first, second])
      await expectRights(
        { name: SERVER_NAME, namespace },
        { may: [{ verb: 'list', resource: 'applications', group: 'capstan.dev' }], mayNot: [] },
      );
    // Each install's cluster-wide objects are its own: none of the second's names is the first's.
    const clusterScoped = (namespace: string) =>
      installManifests({ image: 'x', namespace, applicationNamespaces: [] })
        .filter((o) => o.kind.startsWith('Cluster'))
        .map((o) => o.metadata.name);
    const shared = clusterScoped(first).filter((n) => clusterScoped(second).includes(n));
    assert.deepEqual(shared, []);
  });
});

const SECURITY_DOC = join(import.meta.dirname, '../../docs/security.md');

/** `kubectl auth can-i --list` as `user` in `namespace`, with the real kubectl against the real API server. */
async function canIList(user: Identity, namespace: string): Promise<string> {
  const kubectl = join(await ensureBinaries(), 'kubectl');
  const as = `system:serviceaccount:${user.namespace}:${user.name}`;
  const args = [
    '--kubeconfig',
    local.adminKubeconfig,
    '--as',
    as,
    'auth',
    'can-i',
    '--list',
    '-n',
    namespace,
  ];
  const { stdout } = await promisify(execFile)(kubectl, args, { maxBuffer: 1 << 20 });
  // The rows in a fixed order: the API server lists them in the order of the bindings it visits.
  const [header = '', ...rows] = stdout.trimEnd().split('\n');
  return [header, ...rows.sort()].join('\n');
}

/** The block after `<!-- can-i NAME -->` in docs/security.md: compared, or written with CAPSTAN_UPDATE_DOCS=1. */
async function checkDocBlock(name: string, text: string): Promise<void> {
  const doc = await readFile(SECURITY_DOC, 'utf8');
  const block = new RegExp(`(<!-- can-i ${name} -->\\n\`\`\`text\\n)([\\s\\S]*?)(\\n\`\`\`)`);
  const found = block.exec(doc);
  assert.ok(found, `docs/security.md has no block <!-- can-i ${name} --> followed by a text fence`);
  if (process.env['CAPSTAN_UPDATE_DOCS'] === '1') {
    await writeFile(
      SECURITY_DOC,
      doc.replace(block, (_all, open: string) => `${open}${text}\n\`\`\``),
    );
    return;
  }
  assert.equal(
    found[2],
    text,
    `docs/security.md block '${name}' drifted from the API server's answer: run this test with CAPSTAN_UPDATE_DOCS=1`,
  );
}

describe('the server driving pipeline runs', () => {
  it('makes and deletes run Pods in the Pipeline namespaces only, writes Pipeline status, and holds its own Lease by name', async (t) => {
    const serverNamespace = await freshNamespace(t, kube);
    const team = await freshNamespace(t, kube);
    const other = await freshNamespace(t, kube);
    await applyInstall(t, { agentNamespace: serverNamespace, applicationNamespace: team });
    const lease = (verb: string, name?: string): Question => ({
      verb,
      resource: 'leases',
      group: 'coordination.k8s.io',
      namespace: serverNamespace,
      ...(name ? { name } : {}),
    });
    await expectRights(
      { name: SERVER_NAME, namespace: serverNamespace },
      {
        may: [
          { verb: 'create', resource: 'pods', namespace: team },
          { verb: 'get', resource: 'pods', namespace: team },
          { verb: 'delete', resource: 'pods', namespace: team },
          { verb: 'get', resource: 'pods', subresource: 'log', namespace: team },
          {
            verb: 'patch',
            resource: 'pipelines',
            group: 'capstan.dev',
            subresource: 'status',
            namespace: team,
          },
          { verb: 'get', resource: 'secrets', namespace: team, name: 'git' },
          lease('create'),
          lease('get', 'capstan-pipelines'),
          lease('update', 'capstan-pipelines'),
          lease('get', 'capstan-promotions'),
          lease('update', 'capstan-promotions'),
        ],
        mayNot: [
          { verb: 'create', resource: 'pods', namespace: other },
          { verb: 'delete', resource: 'pods', namespace: other },
          { verb: 'create', resource: 'pods', namespace: serverNamespace },
          { verb: 'update', resource: 'pods', namespace: team },
          { verb: 'create', resource: 'pods', subresource: 'exec', namespace: team },
          { verb: 'list', resource: 'secrets', namespace: team },
          {
            verb: 'update',
            resource: 'pipelines',
            group: 'capstan.dev',
            subresource: 'status',
            namespace: team,
          },
          lease('update', 'capstan-agent'),
          lease('delete', 'capstan-pipelines'),
          lease('delete', 'capstan-promotions'),
          { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: other },
        ],
      },
    );
    // Another Pipeline namespace, bound by hand as docs/pipelines.md ("As installed") says.
    const kubectl = join(await ensureBinaries(), 'kubectl');
    await promisify(execFile)(kubectl, [
      '--kubeconfig',
      local.adminKubeconfig,
      'create',
      'rolebinding',
      'capstan-pipeline-runner',
      '--namespace',
      other,
      '--clusterrole',
      // The default install's is capstan-pipeline-runner; this one's namespace is not capstan-system.
      installScopedName('capstan-pipeline-runner', serverNamespace),
      '--serviceaccount',
      `${serverNamespace}:${SERVER_NAME}`,
    ]);
    await expectRights(
      { name: SERVER_NAME, namespace: serverNamespace },
      {
        may: [
          { verb: 'create', resource: 'pods', namespace: other },
          { verb: 'delete', resource: 'pods', namespace: other },
          { verb: 'get', resource: 'pods', subresource: 'log', namespace: other },
        ],
        mayNot: [{ verb: 'create', resource: 'pods', subresource: 'exec', namespace: other }],
      },
    );
  });
});

describe('docs/security.md says what the install grants', () => {
  it('shows `kubectl auth can-i --list` of the agent and the server as the API server answers it', async (t) => {
    const agentNamespace = await freshNamespace(t, kube);
    const apps = await freshNamespace(t, kube);
    await applyInstall(t, { agentNamespace, applicationNamespace: apps });
    const agent = { name: AGENT_NAME, namespace: agentNamespace };
    const server = { name: SERVER_NAME, namespace: agentNamespace };
    const other = await freshNamespace(t, kube);
    await checkDocBlock('agent application-namespace', await canIList(agent, apps));
    await checkDocBlock('agent own-namespace', await canIList(agent, agentNamespace));
    await checkDocBlock('agent other-namespace', await canIList(agent, other));
    await checkDocBlock('server application-namespace', await canIList(server, apps));
    await checkDocBlock('server own-namespace', await canIList(server, agentNamespace));
  });
});

/** Deletes the Applications, taking their finalizers off if the agent has already stopped. */
async function removeApplications(namespace: string, names: readonly string[]): Promise<void> {
  for (const name of names) await admin.delete(appType, namespace, name).catch(() => undefined);
  await eventually(async () => (await admin.list(appType, namespace)).length === 0, {
    what: 'the Applications deleted',
    timeoutMs: 30_000,
  }).catch(async () => {
    for (const name of names)
      await admin.client
        .call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`, {
          body: { metadata: { finalizers: null } },
          contentType: 'application/merge-patch+json',
        })
        .catch(() => undefined);
  });
}
