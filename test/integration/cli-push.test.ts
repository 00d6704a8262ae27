// capstan render / diff / sync as a CI job runs them: exit codes, -o json, progress, and bad input that
// changes nothing in the cluster.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SyncResult } from '../../src/core/sync-result.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { fixture, startGitServer, type GitServer } from '../../src/testing/git.ts';
import { startChartServer, startOciRegistry } from '../../src/testing/chart-repository.ts';

let kubeconfig: string;
let kube: KubeClients;
// Started at module level: its `after` belongs to the file, not to a hook.
const git: GitServer = await startGitServer(after);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-cli-'));
const registry = await startOciRegistry(after);
// The same user and password as the registry's: one set of CAPSTAN_HELM_* credentials serves both.
const charts = await startChartServer(after, { username: registry.username, password: registry.password });

const capstan = (args: string[], env: NodeJS.ProcessEnv = {}) => runCapstan(args, env);

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
});
after(() => rm(scratch, { recursive: true, force: true }));

const app = () => `cli-${randomBytes(3).toString('hex')}`;

describe('capstan render, diff and sync', () => {
  it('renders a folder, hiding Secret values unless asked', async () => {
    const r = await capstan(['render', fixture('corpus', 'shop')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /# Source: test\/fixtures\/corpus\/shop\/app\/deployment.yaml:1\napiVersion: apps\/v1\nkind: Deployment/,
    );
    assert.doesNotMatch(r.stdout, /not-a-real-password/);
    const json = await capstan(['render', fixture('corpus', 'shop'), '-o', 'json', '--show-secrets']);
    const list = JSON.parse(json.stdout) as {
      kind: string;
      items: { kind: string; stringData?: Record<string, string> }[];
    };
    assert.equal(list.kind, 'List');
    assert.equal(
      list.items.find((i) => i.kind === 'Secret')?.stringData?.['password'],
      'not-a-real-password',
    );
  });

  it('renders a Helm chart with --release-name, --set, --set-string, --skip-crds and a file:// dependency', async () => {
    const r = await capstan([
      'render',
      fixture('render', 'helm', 'shop'),
      '--release-name',
      'eu',
      '--set',
      'replicas=2',
      '--set',
      'note=a,b',
      '--set-string',
      'image.tag=1.10',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const items = (JSON.parse(r.stdout) as { items: Record<string, unknown>[] }).items;
    const deployment = items.find((i) => i['kind'] === 'Deployment') as {
      metadata: { name: string; annotations: Record<string, string> };
      spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
    };
    assert.equal(deployment.metadata.name, 'eu-shop');
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(deployment.metadata.annotations['note'], 'a,b');
    assert.equal(deployment.spec.template.spec.containers[0]?.image, 'registry.example.com/shop:1.10');
    // The file:// dependency, from ../library/common in the same repository.
    assert.ok(
      items.some((i) => i['kind'] === 'ConfigMap'),
      r.stdout,
    );

    const withCrds = await capstan(['render', fixture('render', 'helm', 'web'), '--app', 'web']);
    assert.match(withCrds.stdout, /kind: CustomResourceDefinition/);
    const skipped = await capstan([
      'render',
      fixture('render', 'helm', 'web'),
      '--app',
      'web',
      '--skip-crds',
    ]);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.doesNotMatch(skipped.stdout, /kind: CustomResourceDefinition/);

    // Without --app or --release-name: the release is 'release', and render says that sync names it
    // after --app; with --app, the names sync applies.
    const unnamed = await capstan(['render', fixture('render', 'helm', 'shop')]);
    assert.equal(unnamed.code, 0, unnamed.stderr);
    assert.match(unnamed.stdout, /name: release-shop$/m);
    assert.match(
      unnamed.stderr,
      /note: Helm release name 'release': sync names the release after --app, so render with --app NAME \(or --release-name\)/,
    );
    const named = await capstan(['render', fixture('render', 'helm', 'shop'), '--app', 'team/web']);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, /name: web-shop$/m);
    assert.doesNotMatch(named.stderr, /note: Helm release name/);

    const bad = await capstan(['render', fixture('render', 'helm', 'shop'), '--set', 'replicas']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--set 'replicas': expected NAME=VALUE, e\.g\. image\.tag=1\.2\.3/);
  });

  it('syncs a chart whose dependencies come from an OCI registry and an HTTP chart repository, credentials from the environment', async (t) => {
    const database = fixture('render', 'helm', 'repository', 'database');
    await registry.push({ folder: database, version: '1.3.0' }, 'charts');
    await charts.publish([{ folder: database, version: '2.1.0' }]);
    const chart = join(scratch, 'from-repositories');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(
      join(chart, 'Chart.yaml'),
      [
        'apiVersion: v2',
        'name: app',
        'version: 1.0.0',
        'dependencies:',
        '  - name: database',
        "    version: '^1.0.0'",
        `    repository: oci://${registry.address}/charts`,
        '  - name: database',
        '    alias: cache',
        '    version: 2.1.0',
        `    repository: ${charts.url}`,
        '',
      ].join('\n'),
    );
    await writeFile(join(chart, 'values.yaml'), 'cache:\n  size: tiny\n');
    const caFile = join(scratch, 'registry-ca.pem');
    await writeFile(caFile, registry.ca);
    const ociOnly = {
      CAPSTAN_HELM_USERNAME: registry.username,
      CAPSTAN_HELM_PASSWORD: registry.password,
      CAPSTAN_HELM_REPOSITORY_URL: `oci://${registry.address}/charts`,
      CAPSTAN_HELM_CA_FILE: caFile,
    };
    // Without --insecure-http the http:// repository is refused, naming the flag.
    const refused = await capstan(['render', chart, '--app', 'web'], ociOnly);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /plain http needs --insecure-http/);
    // The credentials are bound to the registry: the chart server never gets them, and refuses.
    const unbound = await capstan(['render', chart, '--app', 'web', '--insecure-http'], ociOnly);
    assert.equal(unbound.code, 4, unbound.stderr);
    assert.match(
      unbound.stderr,
      /index\.yaml refused access without credentials: none of those given is bound to/,
    );

    // Unbound: sent to both repositories. Sync, then diff clean.
    const namespace = await freshNamespace(t, kube);
    const both = { ...ociOnly, CAPSTAN_HELM_REPOSITORY_URL: '' };
    const target = ['--app', app(), '--namespace', namespace, '--kubeconfig', kubeconfig, '--insecure-http'];
    const synced = await capstan(['sync', chart, ...target, '-o', 'json'], both);
    assert.equal(synced.code, 0, synced.stderr);
    const names = (JSON.parse(synced.stdout) as SyncResult).entries.map((e) => `${e.id.kind}/${e.id.name}`);
    assert.equal(names.length, 2, synced.stdout);
    const configMaps = await kube.core.listNamespacedConfigMap({ namespace });
    const data: Record<string, string | undefined> = {};
    for (const c of configMaps.items) {
      const version = c.data?.['chartVersion'];
      if (version !== undefined) data[version] = c.data?.['size'];
    }
    // 1.3.0 from the registry (the newest ^1), 2.1.0 from the chart server with the alias's values.
    assert.deepEqual(data, { '1.3.0': 'small', '2.1.0': 'tiny' });
    const clean = await capstan(['diff', chart, ...target], both);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    // Again: the same versions (from the cache, checked by digest), nothing changed.
    const again = await capstan(['sync', chart, ...target, '-o', 'json'], both);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      (JSON.parse(again.stdout) as SyncResult).entries
        .filter((e) => e.action !== 'unchanged')
        .map((e) => `${e.id.kind}/${e.id.name} ${e.action}`),
      [],
      'a second sync changes nothing',
    );
  });

  it('syncs a Jsonnet folder of a git repository with --jsonnet-lib, --tla-code and --ext-str, then diffs clean and re-syncs unchanged', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await git.createRepository('cli-jsonnet', { fromDir: fixture('corpus') });
    const env = { CAPSTAN_GIT_USERNAME: git.username, CAPSTAN_GIT_PASSWORD: git.password };
    const source = [
      '--repo',
      git.url('cli-jsonnet'),
      '--insecure-http',
      '--path',
      'jsonnet/guestbook',
      '--jsonnet-lib',
      'jsonnet/lib',
      '--tla-code',
      'replicas=2',
      '--ext-str',
      'image=nginx:1.27',
      '--ext-str',
      'environment=staging',
    ];
    const target = ['--app', app(), '--namespace', namespace, '--kubeconfig', kubeconfig];
    const synced = await capstan(['sync', ...source, ...target, '-o', 'json'], env);
    assert.equal(synced.code, 0, synced.stderr);
    const result = JSON.parse(synced.stdout) as SyncResult;
    assert.deepEqual(result.entries.map((e) => `${e.action} ${e.id.kind}/${e.id.name}`).sort(), [
      'created ConfigMap/guestbook-settings',
      'created Deployment/guestbook-ui',
      'created Service/guestbook-ui',
      'created Service/redis',
    ]);
    const settings = await kube.core.readNamespacedConfigMap({ name: 'guestbook-settings', namespace });
    assert.equal(settings.data?.['environment'], 'staging');
    const clean = await capstan(['diff', ...source, ...target], env);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    const again = await capstan(['sync', ...source, ...target, '-o', 'json'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(
      (JSON.parse(again.stdout) as SyncResult).entries.every((e) => e.action === 'unchanged'),
      again.stdout,
    );
    // A missing external variable: exit 4, jsonnet's file and line.
    const missing = await capstan(['render', ...source.slice(0, -2)], env);
    assert.equal(missing.code, 4);
    assert.match(
      missing.stderr,
      /\[RENDER_TOOL_FAILED\]: jsonnet\/guestbook\/settings\.jsonnet:\d+: jsonnet jsonnet\/guestbook\/settings\.jsonnet failed \(exit 1\)(?: in the \w+ sandbox)?:\nRUNTIME ERROR: Undefined external variable: environment/,
    );
    const bad = await capstan(['render', ...source, '--tla-str', 'no-name']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--tla-str 'no-name': expected NAME=VALUE, NAME a Jsonnet identifier/);
  });

  it('diffs (exit 1), syncs (exit 0, one line per resource), then diffs clean (exit 0)', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = app();
    const target = ['--app', application, '--namespace', namespace, '--kubeconfig', kubeconfig];
    const before = await capstan(['diff', fixture('render', 'kustomize', 'base'), ...target]);
    assert.equal(before.code, 1, before.stderr);
    assert.match(before.stdout, /\+\+\+ desired\/Deployment\/.*\n/);

    const synced = await capstan([
      'sync',
      fixture('render', 'kustomize', 'base'),
      ...target,
      '--wait',
      '--timeout',
      '60s',
      '-o',
      'json',
    ]);
    assert.equal(synced.code, 0, synced.stderr);
    const result = JSON.parse(synced.stdout) as SyncResult;
    assert.equal(result.phase, 'Succeeded');
    assert.ok(result.entries.length >= 3);
    for (const e of result.entries)
      assert.match(synced.stderr, new RegExp(`created +${e.id.kind}/${namespace}/${e.id.name}`));

    const afterSync = await capstan(['diff', fixture('render', 'kustomize', 'base'), ...target]);
    assert.equal(afterSync.code, 0, afterSync.stdout + afterSync.stderr);
    assert.match(afterSync.stdout, /No differences/);
  });

  it('syncs from a git repository at a tag and a semver range, with credentials from the environment only', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await git.createRepository('cli-config', { fromDir: fixture('corpus') });
    await git.tag('cli-config', 'v1.2.0');
    await git.commit('cli-config', { files: { 'shop/app/config.yaml': null }, message: 'drop config' });
    await git.tag('cli-config', 'v2.0.0');
    const env = { CAPSTAN_GIT_USERNAME: git.username, CAPSTAN_GIT_PASSWORD: git.password };
    const target = [
      '--app',
      app(),
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
      '--create-namespace',
    ];
    const r = await capstan(
      [
        'sync',
        '--repo',
        git.url('cli-config'),
        '--revision',
        '>=1.0 <2',
        '--path',
        'shop/app', // namespaced objects only: no cluster-scoped leftovers shared with other tests
        '--insecure-http',
        ...target,
        '-o',
        'json',
      ],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as SyncResult;
    assert.match(result.revision ?? '', /^[0-9a-f]{40}$/);
    assert.ok(
      result.entries.some((e) => e.id.name === 'storefront-db'),
      'v1.2.0 still has the config file',
    );
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(git.password));

    const refused = await capstan(['render', '--repo', git.url('cli-config'), '--revision', 'v1.2.0'], env);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /http/i);
  });

  it('refuses bad input clearly and changes nothing in the cluster', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const target = ['--app', app(), '--namespace', namespace, '--kubeconfig', kubeconfig];
    const bad = join(scratch, 'bad');
    await cp(fixture('corpus', 'shop'), bad, { recursive: true });

    await writeFile(
      join(bad, 'app', 'broken.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: {}\n',
    );
    const malformed = await capstan(['sync', bad, ...target]);
    assert.equal(malformed.code, 4);
    assert.match(malformed.stderr, /app\/broken\.yaml:5/);
    await rm(join(bad, 'app', 'broken.yaml'));

    await writeFile(
      join(bad, 'app', 'bomb.yaml'),
      [
        'a: &a ["x","x","x","x","x","x","x","x","x"]',
        ...Array.from(
          { length: 9 },
          (_, i) =>
            `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
        ),
      ].join('\n') + '\n',
    );
    const bomb = await capstan(['sync', bad, ...target]);
    assert.equal(bomb.code, 4);
    assert.match(bomb.stderr, /app\/bomb\.yaml.*alias/i);
    await rm(join(bad, 'app', 'bomb.yaml'));

    await truncate(join(bad, 'app', 'huge.yaml'), 100 * 1024 * 1024).catch(async () => {
      await writeFile(join(bad, 'app', 'huge.yaml'), '');
      await truncate(join(bad, 'app', 'huge.yaml'), 100 * 1024 * 1024);
    });
    const huge = await capstan(['sync', bad, ...target]);
    assert.equal(huge.code, 4);
    // Refused from its size, before it is read.
    assert.match(
      huge.stderr,
      /huge\.yaml is (104857600 bytes, )?more than the limit of \d+ bytes for one file; it was not read/,
    );
    await rm(join(bad, 'app', 'huge.yaml'));

    await symlink('/etc/passwd', join(bad, 'app', 'passwd.yaml'));
    const escape = await capstan(['sync', bad, ...target]);
    assert.equal(escape.code, 4);
    assert.match(escape.stderr, /passwd\.yaml/);
    await rm(join(bad, 'app', 'passwd.yaml'));

    await writeFile(
      join(bad, 'app', 'gizmo.yaml'),
      'apiVersion: example.invalid/v1\nkind: Gizmo\nmetadata:\n  name: g\n',
    );
    const unknown = await capstan(['sync', bad, ...target]);
    assert.equal(unknown.code, 4);
    assert.match(
      unknown.stderr,
      /app\/gizmo\.yaml:1: Gizmo\/.*the cluster does not serve example\.invalid\/v1 Gizmo/,
    );
    await rm(join(bad, 'app', 'gizmo.yaml'));

    const noNamespace = await capstan([
      'sync',
      bad,
      ...target.map((a) => (a === namespace ? 'no-such-namespace' : a)),
    ]);
    assert.equal(noNamespace.code, 4);
    assert.match(noNamespace.stdout + noNamespace.stderr, /namespaces "no-such-namespace" not found/);

    const flag = await capstan(['sync', '--repo', '--upload-pack=touch /tmp/x', ...target]);
    assert.equal(flag.code, 2);
    const dash = await capstan(['sync', '--repo=-oProxyCommand=x', ...target]);
    assert.equal(dash.code, 4);
    assert.match(dash.stderr, /must not begin with '-'|begins with '-'/);

    const configMaps = await kube.core.listNamespacedConfigMap({ namespace });
    assert.deepEqual(
      configMaps.items.map((c) => c.metadata?.name).filter((n) => n !== 'kube-root-ca.crt'),
      [],
      'nothing was applied',
    );
  });
});
