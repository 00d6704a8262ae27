// Tenancy on the real API server and git server: an Application of team-a tries, through the agent,
// what its project does not allow. Each attempt is refused with the object (or field), the rule and the
// project named, the Application is Stalled, and nothing in the cluster changes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../../src/contracts/project.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  untilApplicationsGone,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after);
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let projectType: ResourceType;
const stop = new AbortController();
let agent: Promise<void> | undefined;
const logs: Record<string, unknown>[] = [];
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}`;
const AGENT_NAMESPACE = 'capstan-system';

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  projectType = await installProjectCrd(admin);
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      concurrency: 4,
      labelSelector: AGENT_LABEL,
      namespace: AGENT_NAMESPACE,
      repositoryHosts: ['127.0.0.1'], // the test git server is on loopback
      log: (line) => logs.push(line),
      http: false,
    },
    stop.signal,
  );
  agent.catch((error: unknown) => {
    logs.push({ level: 'fatal', error: String(error) });
  });
});

after(async () => {
  // Its Applications carry the agent's finalizer: the agent stays until they are gone.
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stop.abort();
  await agent;
  admin.close();
});

const yaml = {
  configMap: (name: string, namespace?: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ''}data:\n  a: "1"\n`,
  namespace: (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`,
  clusterAdminBinding: (name: string, subjectNamespace: string) =>
    `apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: ${name}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n  - kind: ServiceAccount\n    name: default\n    namespace: ${subjectNamespace}\n`,
  secret: (name: string, namespace: string) =>
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\nstringData:\n  server: https://attacker.invalid\n`,
};

async function createApp(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name, namespace, labels: { 'capstan.dev/test-agent': String(process.pid) } },
      spec,
    },
    { fieldManager: 'capstan-test' },
  );
}

async function createProject(t: { after: (fn: () => Promise<void>) => void }, spec: Record<string, unknown>) {
  const name = `p-${randomBytes(4).toString('hex')}`;
  await admin.apply(
    projectType,
    { apiVersion: PROJECT_API_VERSION, kind: PROJECT_KIND, metadata: { name }, spec },
    { fieldManager: 'capstan-test' },
  );
  t.after(async () => {
    // Its Applications go first: without their Project the agent cannot delete what they deployed (it
    // would not know as whom), so their finalizer would wait for the Project to come back.
    await untilApplicationsGone(admin, appType, AGENT_LABEL);
    await admin.delete(projectType, '', name).catch(() => undefined);
  });
  return name;
}

/** A repository holding `files` under app/, and an automated Application of it in `namespace`. */
async function appOf(
  namespace: string,
  files: Record<string, string>,
  spec: Record<string, unknown> = {},
): Promise<string> {
  const repo = `tenancy-${namespace}`;
  await git.createRepository(repo, { files });
  await kube.core.createNamespacedSecret({
    namespace,
    body: gitSecretBody(git),
  });
  await createApp(namespace, 'web', {
    source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
    syncPolicy: { automated: { prune: true, selfHeal: true } },
    interval: '2s',
    ...spec,
  });
  return repo;
}

/** Waits until the Application is Stalled by its project, and returns the message. */
async function refusal(namespace: string, name = 'web'): Promise<string> {
  const app = await eventually(
    async () => {
      const live = (await admin.get(appType, namespace, name)) as unknown as Application;
      const stalled = live.status?.conditions?.find((c) => c.type === 'Stalled');
      if (stalled?.status === 'True' && stalled.reason === 'PolicyViolation') return live;
      throw new Error(`conditions: ${JSON.stringify(live.status?.conditions ?? [])}`);
    },
    { what: `Application ${namespace}/${name} Stalled by its project`, timeoutMs: 60_000 },
  );
  const stalled = app.status?.conditions?.find((c) => c.type === 'Stalled');
  assert.ok(stalled);
  assert.equal(app.status?.sync?.revision, undefined, 'nothing was synced');
  return stalled.message;
}

const configMaps = async (namespace: string) =>
  (await kube.core.listNamespacedConfigMap({ namespace })).items
    .map((c) => c.metadata?.name ?? '')
    .filter((n) => n !== 'kube-root-ca.crt');

describe('tenancy: what an Application of team-a may not do', () => {
  it('renders into another namespace: refused, nothing applied (the default project)', async (t) => {
    const teamA = await freshNamespace(t, kube);
    const teamB = await freshNamespace(t, kube);
    await appOf(teamA, {
      'app/mine.yaml': yaml.configMap('mine'),
      'app/theirs.yaml': yaml.configMap('theirs', teamB),
    });
    const message = await refusal(teamA);
    assert.match(message, /refused by project 'default', nothing was changed/);
    assert.match(
      message,
      new RegExp(`ConfigMap/${teamB}/theirs: the namespace '${teamB}'.*\\[destination-namespace\\]`),
    );
    assert.deepEqual(await configMaps(teamB), []);
    assert.deepEqual(await configMaps(teamA), [], 'not even the allowed object is applied');
  });

  it('creates a ClusterRoleBinding to cluster-admin: refused, none created', async (t) => {
    const teamA = await freshNamespace(t, kube);
    const binding = `pwn-${teamA}`;
    await appOf(teamA, { 'app/binding.yaml': yaml.clusterAdminBinding(binding, teamA) });
    const message = await refusal(teamA);
    assert.match(
      message,
      new RegExp(`ClusterRoleBinding/${binding}: cluster-scoped ClusterRoleBinding .*\\[cluster-resource\\]`),
    );
    const bindings = await admin.resourceType('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding');
    assert.ok(bindings);
    assert.equal(await admin.get(bindings, '', binding), undefined);
  });

  it('adopts an unowned Namespace, then would prune it: refused, the Namespace untouched', async (t) => {
    const teamA = await freshNamespace(t, kube);
    const teamB = await freshNamespace(t, kube);
    // A project that allows Namespaces and team-b as a destination, but not adoption.
    const project = await createProject(t, {
      applicationNamespaces: [teamA],
      destinations: [
        { cluster: 'in-cluster', namespace: teamA },
        { cluster: 'in-cluster', namespace: teamB },
      ],
      clusterResources: [{ group: '', kind: 'Namespace' }],
    });
    const before = await kube.core.readNamespace({ name: teamB });
    await appOf(teamA, { 'app/ns.yaml': yaml.namespace(teamB) }, { project });
    const message = await refusal(teamA);
    assert.match(message, new RegExp(`refused by project '${project}'`));
    assert.match(
      message,
      new RegExp(`Namespace/${teamB}: exists and was not created by Capstan.*\\[adoption\\]`),
    );
    const after = await kube.core.readNamespace({ name: teamB });
    assert.equal(after.metadata?.uid, before.metadata?.uid);
    assert.equal(after.metadata?.resourceVersion, before.metadata?.resourceVersion, 'not written');
    assert.equal(after.metadata?.annotations?.['capstan.dev/tracking-id'], undefined);
  });

  it("overwrites a cluster Secret of the agent's namespace: refused, whatever the project allows", async (t) => {
    const teamA = await freshNamespace(t, kube);
    const secret = `cluster-${teamA}`.slice(0, 63);
    await kube.core.createNamespace({ body: { metadata: { name: AGENT_NAMESPACE } } }).catch(() => undefined);
    await kube.core.createNamespacedSecret({
      namespace: AGENT_NAMESPACE,
      body: { metadata: { name: secret }, stringData: { server: 'https://real.invalid' } },
    });
    t.after(async () => {
      await kube.core
        .deleteNamespacedSecret({ namespace: AGENT_NAMESPACE, name: secret })
        .catch(() => undefined);
    });
    const project = await createProject(t, {
      applicationNamespaces: [teamA],
      destinations: [{ cluster: '*', namespace: '*' }],
      clusterResources: [{ group: '*', kind: '*' }],
      allowAdoption: true,
      allowForceConflicts: true,
    });
    await appOf(teamA, { 'app/secret.yaml': yaml.secret(secret, AGENT_NAMESPACE) }, { project });
    const message = await refusal(teamA);
    assert.match(
      message,
      new RegExp(
        `Secret/${AGENT_NAMESPACE}/${secret}: the namespace '${AGENT_NAMESPACE}' holds the agent's own state.*\\[protected-namespace\\]`,
      ),
    );
    const live = await kube.core.readNamespacedSecret({ namespace: AGENT_NAMESPACE, name: secret });
    assert.equal(Buffer.from(live.data?.['server'] ?? '', 'base64').toString(), 'https://real.invalid');
  });

  it('deploys to an undeclared cluster: refused before anything is fetched', async (t) => {
    const teamA = await freshNamespace(t, kube);
    await createApp(teamA, 'web', {
      source: { repoURL: git.url('does-not-exist'), path: 'app', insecureHttp: true },
      destination: { cluster: 'attacker' },
      syncPolicy: { automated: { prune: true } },
    });
    const message = await refusal(teamA);
    assert.match(
      message,
      /spec\.destination\.cluster|the cluster 'attacker' is not a destination of project 'default'/,
    );
    assert.ok(!logs.some((l) => l['application'] === `${teamA}/web` && l['code'] === 'DESTINATION_UNKNOWN'));
    // Refused before any sync, it deployed nothing: deleting it needs no cluster named 'attacker'.
    await admin.delete(appType, teamA, 'web');
    await eventually(async () => (await admin.get(appType, teamA, 'web')) === undefined, {
      what: 'the refused Application deleted',
    });
  });

  it('sets ForceConflicts without permission: refused, the other Application keeps its object', async (t) => {
    const teamA = await freshNamespace(t, kube);
    await appOf(
      teamA,
      { 'app/shared.yaml': yaml.configMap('shared') },
      {
        syncPolicy: { automated: { prune: true }, syncOptions: ['ForceConflicts=true'] },
      },
    );
    const message = await refusal(teamA);
    assert.match(
      message,
      /ForceConflicts=true .* is not allowed by project 'default' \(allowForceConflicts\) \[force-conflicts\]/,
    );
    assert.deepEqual(await configMaps(teamA), []);
  });

  it("names another team's Application in dependsOn: refused, nothing applied, unless its project allows it", async (t) => {
    const teamA = await freshNamespace(t, kube);
    const teamB = await freshNamespace(t, kube);
    await appOf(teamB, { 'app/db.yaml': yaml.configMap('db') });
    const dependsOn = [{ namespace: teamB, name: 'web' }];
    const repo = await appOf(teamA, { 'app/mine.yaml': yaml.configMap('mine') }, { dependsOn });
    const message = await refusal(teamA);
    assert.match(
      message,
      new RegExp(
        `nothing was changed: Application ${teamB}/web may not be named in dependsOn under project 'default' \\(only Applications of the same namespace\\) \\[dependency\\]`,
      ),
    );
    assert.doesNotMatch(message, /Ready|Synced|Healthy/, "nothing of team-b's status is shown");
    assert.deepEqual(await configMaps(teamA), []);
    // The same Application under a project that lists team-b's Application: it waits for it, then syncs.
    const project = await createProject(t, {
      applicationNamespaces: [teamA],
      destinations: [{ cluster: 'in-cluster', namespace: teamA }],
      dependencies: [{ namespace: teamB, name: 'web' }],
    });
    await createApp(teamA, 'web', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
      interval: '2s',
      dependsOn,
      project,
    });
    await eventually(
      async () => {
        const live = (await admin.get(appType, teamA, 'web')) as unknown as Application;
        return live.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      },
      { what: `Application ${teamA}/web Ready under project ${project}`, timeoutMs: 90_000 },
    );
    assert.deepEqual(await configMaps(teamA), ['mine']);
    assert.deepEqual(await configMaps(teamB), ['db'], "team-b's own Application synced, untouched");
  });

  it("sends a service-account token to a host of the attacker's: refused, nothing sent", async (t) => {
    const teamA = await freshNamespace(t, kube);
    // The attacker's git host: it records every request and the credentials it is sent.
    const received: (string | undefined)[] = [];
    const attacker = createServer((request, response) => {
      received.push(request.headers.authorization);
      response.statusCode = 401;
      response.setHeader('www-authenticate', 'Basic realm="git"');
      response.end();
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    t.after(() => attacker.close());
    const port = (attacker.address() as AddressInfo).port;
    // A real token of the namespace's default ServiceAccount, filled in by the API server's controller.
    await eventually(() => kube.core.readNamespacedServiceAccount({ namespace: teamA, name: 'default' }), {
      what: `ServiceAccount ${teamA}/default`,
    });
    await kube.core.createNamespacedSecret({
      namespace: teamA,
      body: {
        metadata: { name: 'default-token', annotations: { 'kubernetes.io/service-account.name': 'default' } },
        type: 'kubernetes.io/service-account-token',
      },
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedSecret({ namespace: teamA, name: 'default-token' })).data?.[
          'token'
        ] !== undefined,
      { what: 'the token filled in' },
    );
    await createApp(teamA, 'web', {
      source: {
        repoURL: `http://127.0.0.1:${String(port)}/team-b/app.git`,
        path: 'app',
        insecureHttp: true,
        secretRef: { name: 'default-token' },
      },
      syncPolicy: { automated: { prune: true } },
      interval: '2s',
    });
    const message = await eventually(
      async () => {
        const live = (await admin.get(appType, teamA, 'web')) as unknown as Application;
        const found = (live.status?.conditions ?? []).find((c) => /default-token/.test(c.message));
        if (found) return found.message;
        throw new Error(`conditions: ${JSON.stringify(live.status?.conditions ?? [])}`);
      },
      { what: `Application ${teamA}/web refused its credentials`, timeoutMs: 60_000 },
    );
    assert.match(message, new RegExp(`Secret/${teamA}/default-token`));
    assert.match(message, /service-account token/i);
    assert.deepEqual(
      received.filter((authorization) => authorization !== undefined),
      [],
      'no credentials reached the host',
    );
    assert.deepEqual(await configMaps(teamA), []);
  });

  it('names a URL with a password that holds an @: refused, and no message shows any of it', async (t) => {
    const teamA = await freshNamespace(t, kube);
    await createApp(teamA, 'web', {
      source: { repoURL: 'https://u:p@ss@git.example.com/team-a/app.git', path: 'app' },
      syncPolicy: { automated: { prune: true } },
    });
    const conditions = await eventually(
      async () => {
        const live = (await admin.get(appType, teamA, 'web')) as unknown as Application;
        const all = live.status?.conditions ?? [];
        return all.some((c) => c.type === 'Stalled' && c.status === 'True') ? all : false;
      },
      { what: `Application ${teamA}/web Stalled`, timeoutMs: 60_000 },
    );
    const messages = conditions.map((c) => c.message).join('\n');
    assert.match(messages, /https:\/\/git\.example\.com\/team-a\/app\.git/);
    assert.doesNotMatch(messages, /p@ss|ss@|u:p/);
    const events = await kube.core.listNamespacedEvent({ namespace: teamA });
    assert.doesNotMatch(JSON.stringify(events.items.map((e) => e.message)), /p@ss|ss@|u:p/);
    const agentLines = JSON.stringify(logs.filter((l) => JSON.stringify(l).includes(teamA)));
    assert.doesNotMatch(agentLines, /p@ss|ss@|u:p/);
  });

  it('syncs what its project allows, as the ServiceAccount the project names, with its rights only', async (t) => {
    const teamA = await freshNamespace(t, kube);
    await kube.core.createNamespacedServiceAccount({
      namespace: teamA,
      body: { metadata: { name: 'deployer' } },
    });
    const project = await createProject(t, {
      applicationNamespaces: [teamA],
      destinations: [{ cluster: 'in-cluster', namespace: teamA, serviceAccount: { name: 'deployer' } }],
    });
    await appOf(teamA, { 'app/mine.yaml': yaml.configMap('mine') }, { project });
    // Without a RoleBinding the ServiceAccount may do nothing, and so the Application can do nothing.
    const user = `system:serviceaccount:${teamA}:deployer`;
    await eventually(
      async () => {
        const live = (await admin.get(appType, teamA, 'web')) as unknown as Application;
        const message = live.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '';
        return message.includes(user);
      },
      { what: `a refusal naming ${user}`, timeoutMs: 60_000 },
    );
    assert.deepEqual(await configMaps(teamA), []);
    // With the rights to edit its namespace, it syncs.
    const rbac = await admin.resourceType('rbac.authorization.k8s.io/v1', 'RoleBinding');
    assert.ok(rbac);
    await admin.apply(
      rbac,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'deployer', namespace: teamA },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: teamA }],
      },
      { fieldManager: 'capstan-test' },
    );
    await eventually(
      async () => {
        const live = (await admin.get(appType, teamA, 'web')) as unknown as Application;
        return live.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      },
      { what: 'Application web Ready', timeoutMs: 90_000 },
    );
    assert.deepEqual(await configMaps(teamA), ['mine']);
  });
});
