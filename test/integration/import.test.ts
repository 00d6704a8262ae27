// The acceptance of `capstan import`: Argo CD Applications with their AppProject, and a Flux fleet
// repository's cluster folder (read through its kustomization.yaml, as flux bootstrap writes it), are
// converted by the real CLI; the output is applied on the real API server as a user would; the agent
// syncs each Application from the git server; then `capstan diff` (the Application's source and
// options as flags, its marks and inventory by --app NAMESPACE/NAME) finds no difference and `capstan
// sync` changes nothing.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import type { Application } from '../../src/contracts/application.ts';
import type { SyncResult } from '../../src/core/sync-result.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import {
  agentKubeconfig,
  controllersWork,
  freshNamespace,
  untilApplicationsGone,
  installApplicationCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { fixture, gitSecretBody, startGitServer } from '../../src/testing/git.ts';

// Argo CD Applications name no credentials (Argo CD keeps them in its own Secrets): fetches are anonymous.
const git = await startGitServer(after, { anonymousFetch: true });
const scratch = await mkdtemp(join(tmpdir(), 'capstan-import-'));
after(() => rm(scratch, { recursive: true, force: true }));
const ACCEPTANCE = fixture('import', 'acceptance');
const AGENT_LABEL = 'capstan.dev/test-agent';
let admin: KubeCluster;
let adminKubeconfig: string;
let kube: KubeClients;
let types: { application: ResourceType; project: ResourceType };
const stop = new AbortController();
let agent: Promise<void> | undefined;

before(async () => {
  const cluster = await testCluster();
  adminKubeconfig = cluster.adminKubeconfig;
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: adminKubeconfig }));
  kube = kubeClients(adminKubeconfig);
  types = { application: await installApplicationCrd(admin), project: await installProjectCrd(admin) };
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      http: false, // no listener: ports 8080/8081 may be taken by another test file or program
      labelSelector: `${AGENT_LABEL}=${process.pid}`,
      repositoryHosts: ['127.0.0.1'],
      log: () => undefined,
    },
    stop.signal,
  );
});

after(async () => {
  // The tests' namespaces are being deleted: the agent stays until their Applications are gone.
  await untilApplicationsGone(admin, types.application, `${AGENT_LABEL}=${String(process.pid)}`);
  stop.abort();
  await agent;
  admin.close();
});

type Tokens = Readonly<Record<'@REPO_URL@' | '@NAMESPACE@' | '@PROJECT@', string>>;

const substitute = (text: string, tokens: Tokens): string =>
  Object.entries(tokens).reduce((out, [token, value]) => out.replaceAll(token, value), text);

/** Every file below `folder`, by its path relative to it, with the tokens replaced. */
async function filesOf(folder: string, tokens: Tokens): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(folder, path)] = substitute(await readFile(path, 'utf8'), tokens);
  }
  return files;
}

/** The files written below `into` (a checkout of the repository, as the user has it). */
async function writeFiles(into: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(into, path)), { recursive: true });
    await writeFile(join(into, path), text);
  }
}

/** `capstan import TOOL INPUT --namespace NS`: the objects printed (exit 5: something reported as left out). */
async function imported(tool: 'argocd' | 'flux', input: string, namespace: string): Promise<KubeObject[]> {
  const run = await runCapstan(['import', tool, input, '--namespace', namespace]);
  assert.ok(run.code === 0 || run.code === 5, run.stderr);
  const documents = parseAllDocuments(run.stdout);
  assert.ok(Array.isArray(documents), run.stdout);
  return documents.map((d) => d.toJS() as KubeObject);
}

/** Applies the import's output as `kubectl apply -f` would, labelled for this file's agent. */
async function applyAll(objects: readonly KubeObject[]): Promise<void> {
  for (const object of objects) {
    const type = object.kind === 'Project' ? types.project : types.application;
    const labels = { ...object.metadata.labels, [AGENT_LABEL]: String(process.pid) };
    await admin.apply(
      type,
      { ...object, metadata: { ...object.metadata, labels } },
      { fieldManager: 'kubectl' },
    );
  }
}

/** Waits until the agent reports the Application Synced at the repository's head and Healthy. */
async function syncedByAgent(namespace: string, name: string, head: string): Promise<Application> {
  return eventually(
    async () => {
      const app = (await admin.get(types.application, namespace, name)) as unknown as Application | undefined;
      if (app === undefined) return false;
      const { sync, health } = app.status ?? {};
      return sync?.status === 'Synced' && sync.revision === head && health?.status === 'Healthy' && app;
    },
    {
      what: `Application ${namespace}/${name} Synced at ${head.slice(0, 12)} and Healthy`,
      timeoutMs: 180_000,
      intervalMs: 500,
    },
  );
}

/** The push-mode flags that render what the Application renders, for its owner (--app NAMESPACE/NAME). */
function pushFlags(app: Application): string[] {
  const { source, destination } = app.spec;
  const namespace = app.metadata.namespace ?? '';
  const helm = source.helm;
  return [
    ...['--app', `${namespace}/${app.metadata.name}`, '--kubeconfig', adminKubeconfig],
    ...[
      '--repo',
      source.repoURL,
      '--revision',
      source.targetRevision ?? 'HEAD',
      '--path',
      source.path ?? '.',
    ],
    ...['--namespace', destination?.namespace ?? namespace],
    ...(source.insecureHttp === true ? ['--insecure-http'] : []),
    ...(source.type === undefined ? [] : ['--type', source.type]),
    ...(helm?.releaseName === undefined ? [] : ['--release-name', helm.releaseName]),
    ...(helm?.valueFiles ?? []).flatMap((file) => ['--values', file]),
    ...(helm?.values === undefined ? [] : ['--values-inline', helm.values]),
    ...(helm?.parameters ?? []).flatMap((p) => [
      p.forceString === true ? '--set-string' : '--set',
      `${p.name}=${p.value}`,
    ]),
  ];
}

/** Diff clean, then a sync that changes nothing, from the CLI as a CI job would. */
async function cleanAndUnchanged(app: Application): Promise<void> {
  const flags = pushFlags(app);
  const diff = await runCapstan(['diff', ...flags]);
  assert.equal(diff.code, 0, `${app.metadata.name}: ${diff.stdout}${diff.stderr}`);
  const sync = await runCapstan(['sync', ...flags, '-o', 'json']);
  assert.equal(sync.code, 0, `${app.metadata.name}: ${sync.stderr}`);
  const result = JSON.parse(sync.stdout) as SyncResult;
  assert.ok(result.entries.length > 0, `${app.metadata.name} has resources`);
  assert.deepEqual(
    result.entries
      .filter((e) => e.action !== 'unchanged')
      .map((e) => `${e.id.kind}/${e.id.name} ${e.action}`),
    [],
    `${app.metadata.name}: a second sync changes nothing`,
  );
}

describe('capstan import, applied on the real API server and synced', () => {
  it('Argo CD Applications and their AppProject: Project and Applications created, each syncs, diffs clean, re-syncs unchanged', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await controllersWork(kube, namespace);
    const repo = `argocd-example-apps-${namespace}`;
    const tokens: Tokens = { '@REPO_URL@': git.url(repo), '@NAMESPACE@': namespace, '@PROJECT@': namespace };
    const head = await git.createRepository(repo, {
      files: await filesOf(join(ACCEPTANCE, 'argocd', 'repo'), tokens),
    });
    const input = join(scratch, `${namespace}-applications.yaml`);
    await writeFile(
      input,
      substitute(await readFile(join(ACCEPTANCE, 'argocd', 'applications.yaml'), 'utf8'), tokens),
    );

    const objects = await imported('argocd', input, namespace);
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`),
      [
        'Project/' + namespace,
        'Application/guestbook',
        'Application/kustomize-guestbook',
        'Application/helm-guestbook',
      ],
    );
    // The Applications go first: without their Project the agent cannot delete what they deployed (it
    // would not know as whom), so their finalizer would wait for the Project to come back.
    t.after(async () => {
      await untilApplicationsGone(admin, types.application, `${AGENT_LABEL}=${String(process.pid)}`);
      await admin.delete(types.project, '', namespace).catch(() => undefined);
    });
    await applyAll(objects);

    for (const name of ['guestbook', 'kustomize-guestbook', 'helm-guestbook']) {
      const app = await syncedByAgent(namespace, name, head);
      assert.equal(app.spec.project, namespace);
      await cleanAndUnchanged(app);
    }
    // What each rendered, as the repository says: plain YAML, the kustomization's prefix, the production values.
    await kube.apps.readNamespacedDeployment({ namespace, name: 'guestbook-ui' });
    await kube.apps.readNamespacedDeployment({ namespace, name: 'kustomize-guestbook-ui' });
    const helm = await kube.apps.readNamespacedDeployment({ namespace, name: 'guestbook-prod-ui' });
    assert.equal(helm.spec?.replicas, 2);
    assert.deepEqual(
      helm.spec.template.spec?.containers.map((c) => c.image),
      ['registry.example/guestbook-ui:0.2'],
    );
  });

  it("a Flux fleet repository's cluster folder, through its kustomization.yaml: each Kustomization and HelmRelease syncs, diffs clean, re-syncs unchanged", async (t) => {
    const namespace = await freshNamespace(t, kube);
    await controllersWork(kube, namespace);
    const repo = `fleet-${namespace}`;
    const tokens: Tokens = { '@REPO_URL@': git.url(repo), '@NAMESPACE@': namespace, '@PROJECT@': namespace };
    const files = await filesOf(join(ACCEPTANCE, 'fleet'), tokens);
    const head = await git.createRepository(repo, { files });
    const checkout = join(scratch, repo);
    await writeFiles(checkout, files);
    // The GitRepository's secretRef, prepared as the import's note says.
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git, { name: 'flux-system' }) });

    const run = await runCapstan([
      'import',
      'flux',
      join(checkout, 'clusters', 'production'),
      '--namespace',
      namespace,
    ]);
    assert.equal(run.code, 5, run.stderr);
    // Flux's own sync of the folder and its controllers are left out, each said.
    assert.match(
      run.stderr,
      /gotk-sync\.yaml:16: Kustomization\/flux-system\/flux-system: spec\.path: it applies the folder that holds it/,
    );
    assert.match(run.stderr, /gotk-components\.yaml:3: Namespace\/flux-system: not a Flux object/);
    const objects = await imported('flux', join(checkout, 'clusters', 'production'), namespace);
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata.name}`),
      ['Application/infra-controllers', 'Application/apps', 'Application/podinfo-web'],
    );
    await applyAll(objects);

    for (const name of ['infra-controllers', 'apps', 'podinfo-web']) {
      const app = await syncedByAgent(namespace, name, head);
      await cleanAndUnchanged(app);
    }
    const settings = await kube.core.readNamespacedConfigMap({ namespace, name: 'controller-settings' });
    assert.equal(settings.data?.['logLevel'], 'info');
    const podinfo = await kube.apps.readNamespacedDeployment({ namespace, name: 'podinfo' });
    assert.equal(podinfo.spec?.replicas, 2, "the production overlay's patch");
    const release = await kube.apps.readNamespacedDeployment({ namespace, name: 'podinfo-web' });
    assert.equal(release.spec?.replicas, 2, "the HelmRelease's values");
    assert.deepEqual(
      release.spec.template.spec?.containers.flatMap((c) => c.env ?? []).map((e) => `${e.name}=${e.value}`),
      ['PODINFO_UI_MESSAGE=hello from production'],
    );
  });
});
