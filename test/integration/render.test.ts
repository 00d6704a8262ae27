// The renderers against the real kustomize and helm binaries, on a temporary copy of
// test/fixtures/render (symlinks out of the checkout, malformed YAML and a 100 MB file are made
// there at run time, never committed).
import assert from 'node:assert/strict';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CapstanError } from '../../src/core/errors.ts';
import { runTool } from '../../src/adapters/render/exec.ts';
import { ManifestRenderer } from '../../src/adapters/render/renderer.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import type { RenderedObject, RenderRequest, RenderResult } from '../../src/ports/renderer.ts';

const FIXTURES = resolve(import.meta.dirname, '..', 'fixtures', 'render');
const OUTSIDE_CONFIGMAP =
  'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\ndata:\n  secret: s3cr3t\n';

/** `Kind namespace/name @ file:line`, compact enough to compare whole renders. */
function rows(result: RenderResult): string[] {
  return result.objects.map(({ object, source }: RenderedObject) => {
    const ns = object.metadata.namespace ? `${object.metadata.namespace}/` : '';
    return `${object.kind} ${ns}${object.metadata.name ?? ''} @ ${source.file}:${source.line}`;
  });
}

function find(result: RenderResult, kind: string, name: string): RenderedObject {
  const found = result.objects.find((o) => o.object.kind === kind && o.object.metadata.name === name);
  assert.ok(found, `${kind}/${name} is rendered; got:\n${rows(result).join('\n')}`);
  return found;
}

/** Awaits a render that must fail, and checks the error's code and message. */
async function fails(render: Promise<unknown>, code: string, message: RegExp): Promise<CapstanError> {
  let caught: unknown;
  try {
    await render;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CapstanError, `expected a CapstanError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

/** Processes whose command line contains the text (to check that a killed tool left nothing behind). */
async function processesWith(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replaceAll('\0', ' ').includes(text)) found.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
  }
  return found;
}

describe('ManifestRenderer with the real kustomize and helm', async () => {
  const binaries = await ensureBinaries();
  const workspace = await mkdtemp(join(tmpdir(), 'capstan-render-test-'));
  const root = join(workspace, 'checkout');
  const scratch = join(workspace, 'scratch');
  const renderer = new ManifestRenderer({
    kustomizeBinary: join(binaries, 'kustomize'),
    helmBinary: join(binaries, 'helm'),
    tempDir: scratch,
  });
  const render = (request: Omit<RenderRequest, 'root'> & { root?: string }): Promise<RenderResult> =>
    renderer.render({ root, ...request });

  before(async () => {
    await cp(FIXTURES, root, { recursive: true });
    await mkdir(scratch);
    // Beside the checkout, not in it: what no render may read.
    await mkdir(join(workspace, 'outside'));
    await writeFile(join(workspace, 'outside', 'secret.yaml'), OUTSIDE_CONFIGMAP);
    await mkdir(join(workspace, 'outside-the-checkout'));
    await writeFile(join(workspace, 'outside-the-checkout', 'configmap.yaml'), OUTSIDE_CONFIGMAP);
    await writeFile(
      join(workspace, 'outside-the-checkout', 'kustomization.yaml'),
      'resources: [configmap.yaml]\n',
    );
  });
  after(async () => {
    // Every render removed its scratch folder.
    assert.deepEqual(await readdir(scratch), []);
    await rm(workspace, { recursive: true, force: true });
  });

  describe('directory', () => {
    it('reads nested folders, multi-document YAML, JSON and Lists in sorted order, and nothing else', async () => {
      const result = await render({ path: 'plain' });
      assert.equal(result.type, 'directory');
      // Not read: README.md, notes.txt, and the hidden .github folder (its YAML is no manifest).
      assert.deepEqual(rows(result), [
        'ServiceAccount shop/web @ plain/apps/nested/deep/accounts.yml:4',
        'ClusterRole shop:reader @ plain/apps/nested/deep/accounts.yml:9',
        'ConfigMap shop/settings @ plain/apps/settings.json:1',
        'Deployment shop/web @ plain/apps/web.yaml:2',
        'Service shop/web @ plain/apps/web.yaml:26',
        'Namespace shop @ plain/namespace.yaml:1',
        'Job shop/smoke-test @ plain/tests/smoke-test.yaml:1',
      ]);
      assert.deepEqual(find(result, 'ConfigMap', 'settings').object['data'], { level: 'info' });
    });

    it('says why a render is empty, refuses a nested kustomization or chart, naming them', async () => {
      await mkdir(join(root, 'explain', 'empty'), { recursive: true });
      await writeFile(join(root, 'explain', 'empty', 'notes.txt'), 'nothing here\n');
      const empty = await render({ path: 'explain/empty' });
      assert.deepEqual(empty.objects, []);
      assert.deepEqual(empty.warnings, [
        "explain/empty: no manifests found (looked for *.yaml, *.yml, *.json and *.jsonnet files, or those --include names); it holds 1 other file(s): notes.txt. A config-management plugin's folder is not rendered by Capstan: render it in CI and commit the manifests",
      ]);

      // A plain folder with a Kustomize overlay inside: named, with what to do, instead of
      // "Kustomization: metadata is missing".
      await cp(join(root, 'kustomize', 'base'), join(root, 'explain', 'mixed', 'overlay'), {
        recursive: true,
      });
      await writeFile(join(root, 'explain', 'mixed', 'config.yaml'), OUTSIDE_CONFIGMAP);
      await fails(
        render({ path: 'explain/mixed' }),
        'RENDER_NESTED_SOURCE',
        /^explain\/mixed\/overlay\/kustomization\.yaml: explain\/mixed\/overlay is a Kustomize folder inside explain\/mixed, .* Point the application at explain\/mixed\/overlay .*\(--exclude 'overlay\/\*\*'/,
      );
      const excluded = await render({ path: 'explain/mixed', directory: { exclude: ['overlay/**'] } });
      assert.deepEqual(rows(excluded), ['ConfigMap outside @ explain/mixed/config.yaml:1']);
      await fails(
        render({ path: 'helm', type: 'directory' }),
        'RENDER_NESTED_SOURCE',
        /^helm\/[\w/]+\/Chart\.yaml: helm\/[\w/]+ is a Helm chart inside helm/,
      );
    });

    it('applies include and exclude globs, relative to the folder', async () => {
      const included = await render({ path: 'plain', directory: { include: ['apps/**/*.{yml,json}'] } });
      assert.deepEqual(rows(included), [
        'ServiceAccount shop/web @ plain/apps/nested/deep/accounts.yml:4',
        'ClusterRole shop:reader @ plain/apps/nested/deep/accounts.yml:9',
        'ConfigMap shop/settings @ plain/apps/settings.json:1',
      ]);
      const excluded = await render({
        path: 'plain',
        directory: { exclude: ['tests/**', '**/*.json', 'apps/nested'] },
      });
      assert.deepEqual(rows(excluded), [
        'Deployment shop/web @ plain/apps/web.yaml:2',
        'Service shop/web @ plain/apps/web.yaml:26',
        'Namespace shop @ plain/namespace.yaml:1',
      ]);
    });

    it('stays in the folder itself when recurse is false', async () => {
      const result = await render({ path: 'plain', directory: { recurse: false } });
      assert.deepEqual(rows(result), ['Namespace shop @ plain/namespace.yaml:1']);
    });

    it('follows a symlink that stays inside the checkout', async () => {
      await mkdir(join(root, 'linked'));
      await symlink('../plain/namespace.yaml', join(root, 'linked', 'namespace.yaml'));
      await symlink('../plain/apps/nested', join(root, 'linked', 'nested'));
      const result = await render({ path: 'linked' });
      assert.deepEqual(rows(result), [
        'Namespace shop @ linked/namespace.yaml:1',
        'ServiceAccount shop/web @ linked/nested/deep/accounts.yml:4',
        'ClusterRole shop:reader @ linked/nested/deep/accounts.yml:9',
      ]);
    });

    it('bounds the number of objects and the total size', async () => {
      await fails(
        render({ path: 'plain', limits: { maxObjects: 3 } }),
        'RENDER_TOO_MANY_OBJECTS',
        /^plain\/apps\/web\.yaml: plain has more than 3 objects/,
      );
      await fails(
        render({ path: 'plain', limits: { maxTotalBytes: 1000 } }),
        'RENDER_TOO_LARGE',
        /the files of plain add up to more than 1000 bytes/,
      );
    });
  });

  describe('kustomize', () => {
    it('builds an overlay: base, patches (strategic merge and JSON 6902), images, namePrefix, labels, generator', async () => {
      const result = await render({ path: 'kustomize/overlays/prod' });
      assert.equal(result.type, 'kustomize');
      const settings = result.objects.find((o) => o.object.metadata.name?.startsWith('prod-api-settings-'));
      assert.ok(settings, 'the generated ConfigMap, with its content hash');
      assert.deepEqual(
        rows(result).map((row) =>
          row.replace(settings.object.metadata.name ?? '', 'prod-api-settings-<hash>'),
        ),
        [
          'ConfigMap shop-prod/prod-api-settings-<hash> @ kustomize/overlays/prod (kustomize):1',
          'Service shop-prod/prod-api @ kustomize/overlays/prod (kustomize):15',
          'Deployment shop-prod/prod-api @ kustomize/overlays/prod (kustomize):31',
        ],
      );
      assert.deepEqual(settings.object['data'], {
        LOG_LEVEL: 'info',
        'app.properties': 'cache.size=128\nfeature.search=true\n',
      });
      const deployment = find(result, 'Deployment', 'prod-api').object;
      assert.deepEqual(deployment.metadata.labels, { 'app.kubernetes.io/name': 'api', env: 'prod' });
      const spec = deployment['spec'] as {
        replicas: number;
        template: { spec: { containers: { image: string; resources: unknown; envFrom: unknown }[] } };
      };
      assert.equal(spec.replicas, 3, 'strategic merge patch');
      const [container] = spec.template.spec.containers;
      assert.ok(container);
      assert.equal(container.image, 'registry.example.com/shop/api:2.3.1', 'images override');
      assert.deepEqual(container.resources, { limits: { memory: '512Mi' } }, 'JSON 6902 patch');
      assert.deepEqual(container.envFrom, [{ configMapRef: { name: settings.object.metadata.name } }]);
    });

    it("shows kustomize's own warnings (a deprecated field) with the render", async () => {
      await mkdir(join(root, 'kustomize', 'deprecated'), { recursive: true });
      await writeFile(join(root, 'kustomize', 'deprecated', 'configmap.yaml'), OUTSIDE_CONFIGMAP);
      await writeFile(
        join(root, 'kustomize', 'deprecated', 'kustomization.yaml'),
        'resources:\n  - configmap.yaml\ncommonLabels:\n  team: shop\n',
      );
      const result = await render({ path: 'kustomize/deprecated' });
      assert.equal(result.objects.length, 1);
      assert.ok(
        result.warnings?.some((w) =>
          /^kustomize build kustomize\/deprecated: .*'commonLabels' is deprecated/.test(w),
        ),
        `warnings: ${JSON.stringify(result.warnings)}`,
      );
    });

    it("starts kustomize's errors with the entry or file that caused them, in the base that failed", async () => {
      const dir = join(root, 'kustomize', 'errors');
      await mkdir(join(dir, 'base'), { recursive: true });
      await mkdir(join(dir, 'overlay'), { recursive: true });
      await writeFile(join(dir, 'overlay', 'kustomization.yaml'), 'resources:\n  - ../base\n');
      await writeFile(join(dir, 'base', 'configmap.yaml'), OUTSIDE_CONFIGMAP);
      const base = (text: string) => writeFile(join(dir, 'base', 'kustomization.yaml'), text);
      // A patch file that does not exist: the entry naming it.
      await base('resources:\n  - configmap.yaml\npatches:\n  - path: nope.yaml\n');
      const missing = await fails(
        render({ path: 'kustomize/errors/overlay' }),
        'RENDER_TOOL_FAILED',
        /^kustomize\/errors\/base\/kustomization\.yaml:4:11: patches\.path entry "nope\.yaml": kustomize build kustomize\/errors\/overlay failed/,
      );
      assert.equal(
        missing.subject,
        'kustomize/errors/base/kustomization.yaml:4:11: patches.path entry "nope.yaml"',
      );
      // A field of the wrong type: the line of that field.
      await base('resources:\n  - configmap.yaml\nimages:\n  - name: web\n    newTag: [1]\n');
      await fails(
        render({ path: 'kustomize/errors/overlay' }),
        'RENDER_TOOL_FAILED',
        /^kustomize\/errors\/base\/kustomization\.yaml:3:1: .*\n.*cannot unmarshal array into Go struct field Image\.images\.newTag/,
      );
      // A resource that is not valid YAML: that file and line.
      await base('resources:\n  - configmap.yaml\n');
      await writeFile(
        join(dir, 'base', 'configmap.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   bad: x\n',
      );
      await fails(
        render({ path: 'kustomize/errors/overlay' }),
        'RENDER_TOOL_FAILED',
        /^kustomize\/errors\/base\/configmap\.yaml:5: .*MalformedYAMLError: yaml: line 5/s,
      );
    });

    it('builds a base on its own, when asked for kustomize explicitly', async () => {
      const result = await render({ path: 'kustomize/base', type: 'kustomize' });
      assert.deepEqual(
        result.objects
          .map((o) => `${o.object.kind}/${o.object.metadata.name ?? ''}`)
          .map((r) => r.replace(/-\w+$/, '')),
        ['ConfigMap/api-settings', 'Service/api', 'Deployment/api'],
      );
    });

    it('refuses a remote base unless remote bases are allowed, naming the file and line', async () => {
      await fails(
        render({ path: 'kustomize/remote' }),
        'RENDER_REMOTE_BASE',
        /^kustomize\/remote\/kustomization\.yaml:5:5: resources entry "https:\/\/github\.com\/kubernetes-sigs\/kustomize\/\/examples\/helloWorld\?ref=v5\.8\.1" is remote; Capstan does not fetch remote bases, so that a render depends only on the commit: copy it into the repository/,
      );
      for (const remote of [
        'github.com/org/repo//base?ref=v1',
        'git@github.com:org/repo.git',
        'ssh://git@example.com/org/repo.git',
        'file:///etc',
        'https://example.com/raw/deployment.yaml',
      ]) {
        await mkdir(join(root, 'kustomize', 'remote-kinds'), { recursive: true });
        await writeFile(
          join(root, 'kustomize', 'remote-kinds', 'kustomization.yaml'),
          `resources:\n  - ${remote}\n`,
        );
        await fails(render({ path: 'kustomize/remote-kinds' }), 'RENDER_REMOTE_BASE', /is remote/);
      }
    });

    it('refuses a base outside the checkout, which kustomize itself would load', async () => {
      await fails(
        render({ path: 'kustomize/escape' }),
        'RENDER_PATH_ESCAPE',
        /^kustomize\/escape\/kustomization\.yaml:6:5: resources entry "\.\.\/\.\.\/\.\.\/outside-the-checkout" leaves the checkout/,
      );
    });

    it('refuses a base reached through a symlink that leaves the checkout', async () => {
      await mkdir(join(root, 'kustomize', 'linked'));
      await symlink(join(workspace, 'outside-the-checkout'), join(root, 'kustomize', 'linked', 'base'));
      await writeFile(join(root, 'kustomize', 'linked', 'kustomization.yaml'), 'resources:\n  - base\n');
      await fails(
        render({ path: 'kustomize/linked' }),
        'RENDER_PATH_ESCAPE',
        /^kustomize\/linked\/kustomization\.yaml:2:5: resources entry "kustomize\/linked\/base" resolves outside the checkout through a symlink/,
      );
    });

    it('reports kustomize errors with the tail of its output, paths relative to the checkout, after the entry at fault', async () => {
      await mkdir(join(root, 'kustomize', 'broken'));
      await writeFile(
        join(root, 'kustomize', 'broken', 'kustomization.yaml'),
        'patches:\n  - path: missing.yaml\n',
      );
      const error = await fails(
        render({ path: 'kustomize/broken' }),
        'RENDER_TOOL_FAILED',
        /^kustomize\/broken\/kustomization\.yaml:2:11: patches\.path entry "missing\.yaml": kustomize build kustomize\/broken failed \(exit 1\) in the (bubblewrap|landlock) sandbox:\n.*missing\.yaml/s,
      );
      assert.doesNotMatch(error.message, new RegExp(workspace));
    });
  });

  describe('helm', () => {
    it('renders a chart with a vendored dependency, CRDs and test hooks, each object from its template', async () => {
      const result = await render({ path: 'helm/web' });
      assert.equal(result.type, 'helm');
      assert.deepEqual(rows(result), [
        'CustomResourceDefinition widgets.shop.example.com @ helm/web/crds/widgets.yaml:1',
        'Secret web-token @ helm/web/templates/configmap.yaml:1',
        'ConfigMap default/web-settings @ helm/web/templates/configmap.yaml:2',
        'Service web-redis @ helm/web/charts/redis/templates/service.yaml:1',
        'Deployment web @ helm/web/templates/deployment.yaml:1',
        'Pod web-test-connection @ helm/web/templates/tests/test-connection.yaml:1',
      ]);
      const settings = find(result, 'ConfigMap', 'web-settings').object['data'] as Record<string, string>;
      assert.equal(settings['replicas'], '1');
      assert.equal(settings['hasServiceMonitor'], 'false');
      const service = find(result, 'Service', 'web-redis').object['spec'];
      assert.deepEqual(service, { ports: [{ port: 6379 }] });
    });

    it('passes the release name, namespace, values files, inline values, kube version and API versions', async () => {
      const result = await render({
        path: 'helm/web',
        helm: {
          releaseName: 'shop',
          namespace: 'shop-prod',
          valueFiles: ['values-prod.yaml'],
          values: { greeting: 'bonjour', image: { repository: 'mirror.example.com/web' } },
          kubeVersion: 'v1.36.3',
          apiVersions: ['monitoring.coreos.com/v1/ServiceMonitor'],
        },
      });
      const settings = find(result, 'ConfigMap', 'shop-web-settings').object;
      assert.equal(settings.metadata.namespace, 'shop-prod');
      assert.deepEqual(settings['data'], {
        release: 'shop',
        namespace: 'shop-prod',
        greeting: 'bonjour',
        replicas: '3',
        kubeVersion: 'v1.36.3',
        hasServiceMonitor: 'true',
      });
      const deployment = find(result, 'Deployment', 'shop-web');
      const spec = deployment.object['spec'] as {
        replicas: number;
        template: { spec: { containers: { image: string }[] } };
      };
      assert.equal(spec.replicas, 3);
      assert.equal(spec.template.spec.containers[0]?.image, 'mirror.example.com/web:2.0.0');
      const monitor = find(result, 'ServiceMonitor', 'shop-web');
      assert.equal(monitor.source.file, 'helm/web/templates/servicemonitor.yaml');
    });

    it('takes inline values as YAML text too', async () => {
      const result = await render({ path: 'helm/web', helm: { values: 'greeting: hi\nreplicas: 2\n' } });
      const data = find(result, 'ConfigMap', 'web-settings').object['data'] as Record<string, string>;
      assert.equal(data['greeting'], 'hi');
      assert.equal(data['replicas'], '2');
    });

    it('refuses a values file outside the checkout', async () => {
      await fails(
        render({ root: join(root, 'helm', 'web'), path: '.', helm: { valueFiles: ['../x.yaml'] } }),
        'RENDER_PATH_ESCAPE',
        /^values file "\.\.\/x\.yaml" leaves the checkout/,
      );
      await fails(
        render({ path: 'helm/web', helm: { valueFiles: ['/etc/passwd'] } }),
        'RENDER_PATH_ESCAPE',
        /^values file "\/etc\/passwd" is an absolute path/,
      );
      await symlink(join(workspace, 'outside', 'secret.yaml'), join(root, 'helm', 'leaked-values.yaml'));
      await fails(
        render({ path: 'helm/web', helm: { valueFiles: ['../leaked-values.yaml'] } }),
        'RENDER_PATH_ESCAPE',
        /^values file "helm\/leaked-values\.yaml" resolves outside the checkout through a symlink/,
      );
    });

    it('refuses a chart whose files reach outside the checkout through a symlink', async () => {
      await cp(join(root, 'helm', 'web'), join(root, 'helm', 'leaky'), { recursive: true });
      await mkdir(join(root, 'helm', 'leaky', 'files'));
      await symlink(
        join(workspace, 'outside', 'secret.yaml'),
        join(root, 'helm', 'leaky', 'files', 'secret.yaml'),
      );
      await fails(
        render({ path: 'helm/leaky' }),
        'RENDER_PATH_ESCAPE',
        /^symlink "helm\/leaky\/files\/secret\.yaml" resolves outside the checkout/,
      );
    });

    it('refuses a dependency that is not in charts/ and names no repository', async () => {
      await fails(
        render({ path: 'helm/unvendored' }),
        'RENDER_HELM_DEPENDENCIES',
        /^helm\/unvendored\/Chart\.yaml lists dependencies that are not in charts\/ and name no repository: postgresql 12\.x\.x\. Give each its repository \(https:\/\/…, oci:\/\/…, or file:\/\/<folder in this repository>\)/,
      );
    });

    it('sets single values after the values files: --set (typed, commas kept) and --set-string', async () => {
      const result = await render({
        path: 'helm/shop',
        helm: {
          releaseName: 'eu',
          valueFiles: ['values.yaml'],
          parameters: [
            { name: 'replicas', value: '4' },
            { name: 'note', value: 'a,b\\c' },
            { name: 'image.tag', value: '1.10', forceString: true },
          ],
        },
      });
      const deployment = find(result, 'Deployment', 'eu-shop').object as unknown as {
        metadata: { annotations: Record<string, string> };
        spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
      };
      assert.equal(deployment.spec.replicas, 4);
      assert.equal(deployment.metadata.annotations['note'], 'a,b\\c');
      // As a number, helm would have made 1.10 into 1.1.
      assert.equal(deployment.spec.template.spec.containers[0]?.image, 'registry.example.com/shop:1.10');
    });

    it('leaves out the crds/ folder with skipCrds', async () => {
      const result = await render({ path: 'helm/web', helm: { skipCrds: true } });
      assert.deepEqual(
        result.objects.filter((o) => o.object.kind === 'CustomResourceDefinition'),
        [],
        rows(result).join('\n'),
      );
      assert.ok(find(result, 'Deployment', 'web'));
    });

    it("renders a file:// dependency from the checkout, its objects named in that dependency's folder", async () => {
      const before = await readdir(join(root, 'helm', 'shop'));
      const result = await render({ path: 'helm/shop', helm: { releaseName: 'eu' } });
      assert.deepEqual(rows(result), [
        'ConfigMap eu-common @ helm/library/common/templates/configmap.yaml:1',
        'Deployment eu-shop @ helm/shop/templates/deployment.yaml:1',
      ]);
      // The parent's values reach the dependency; nothing was written into the checkout (no charts/).
      assert.deepEqual(find(result, 'ConfigMap', 'eu-common').object['data'], { owner: 'shop-team' });
      assert.deepEqual(await readdir(join(root, 'helm', 'shop')), before);
      // The render cache's inputs name the dependency's folder too.
      const inputs = await renderer.inputs({ root, path: 'helm/shop' });
      assert.deepEqual(inputs.paths, ['helm/library/common', 'helm/shop']);
    });

    it('refuses a file:// dependency that leaves the checkout, holds no chart, or names another chart', async () => {
      await fails(
        render({ root: join(root, 'helm', 'shop'), path: '.' }),
        'RENDER_PATH_ESCAPE',
        /^dependency common "\.\.\/library\/common" leaves the checkout/,
      );
      await fails(
        render({ path: 'helm/shop-stray' }),
        'RENDER_HELM_DEPENDENCIES',
        /^helm\/shop-stray\/Chart\.yaml: dependency utils \(file:\/\/\.\.\/library\/common\) leads to the chart 'common' \(helm\/library\/common\/Chart\.yaml\); the dependency's name must be that chart's name/,
      );
      await symlink(join(workspace, 'outside'), join(root, 'helm', 'outside-chart'));
      await cp(join(root, 'helm', 'shop'), join(root, 'helm', 'shop-leak'), { recursive: true });
      await writeFile(
        join(root, 'helm', 'shop-leak', 'Chart.yaml'),
        'apiVersion: v2\nname: leak\nversion: 1.0.0\ndependencies:\n  - name: common\n    version: 0.2.x\n    repository: file://../outside-chart\n',
      );
      await fails(
        render({ path: 'helm/shop-leak' }),
        'RENDER_PATH_ESCAPE',
        /^dependency common "helm\/outside-chart" resolves outside the checkout through a symlink/,
      );
      await mkdir(join(root, 'helm', 'empty-folder'));
      await writeFile(
        join(root, 'helm', 'shop-leak', 'Chart.yaml'),
        'apiVersion: v2\nname: leak\nversion: 1.0.0\ndependencies:\n  - name: common\n    version: 0.2.x\n    repository: file://../empty-folder\n',
      );
      await fails(
        render({ path: 'helm/shop-leak' }),
        'RENDER_HELM_DEPENDENCIES',
        /dependency common \(file:\/\/\.\.\/empty-folder\) is helm\/empty-folder, which holds no Chart\.yaml/,
      );
    });

    it("names the template and line of helm's errors, in the chart or in a file:// dependency", async () => {
      await cp(join(root, 'helm', 'web'), join(root, 'helm', 'broken'), { recursive: true });
      await writeFile(
        join(root, 'helm', 'broken', 'templates', 'broken.yaml'),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: '{{ .Values.missing.deeper }}'\n",
      );
      await fails(
        render({ path: 'helm/broken' }),
        'RENDER_TOOL_FAILED',
        /^helm\/broken\/templates\/broken\.yaml:6: helm template helm\/broken .*nil pointer evaluating/s,
      );
      await cp(join(root, 'helm', 'library'), join(root, 'helm', 'library-broken'), { recursive: true });
      await writeFile(
        join(root, 'helm', 'library-broken', 'common', 'templates', 'configmap.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \'{{ fail "common needs an owner" }}\'\n',
      );
      await cp(join(root, 'helm', 'shop'), join(root, 'helm', 'shop-broken'), { recursive: true });
      const chartFile = join(root, 'helm', 'shop-broken', 'Chart.yaml');
      await writeFile(
        chartFile,
        (await readFile(chartFile, 'utf8')).replace(
          'file://../library/common',
          'file://../library-broken/common',
        ),
      );
      await fails(
        render({ path: 'helm/shop-broken' }),
        'RENDER_TOOL_FAILED',
        /^helm\/library-broken\/common\/templates\/configmap\.yaml:6: .*common needs an owner/s,
      );
    });

    it('kills a render that is too slow (RENDER_TIMEOUT, retryable) and leaves no process behind', async () => {
      const error = await fails(
        render({ path: 'helm/slow', helm: { values: { loops: 50_000 } }, limits: { timeoutMs: 1500 } }),
        'RENDER_TIMEOUT',
        // Killed, or out of time before it started (a loaded machine): one message, naming the limit.
        /^rendering helm\/slow did not finish within 1500 ms( \(helm template helm\/slow was killed\))?; it may succeed on a retry/,
      );
      assert.equal(error.retryable, true);
      assert.deepEqual(await processesWith(join(await realpath(root), 'helm', 'slow')), []);
    });

    it('stops when the render is cancelled', async () => {
      const controller = new AbortController();
      const rendering = render({
        path: 'helm/slow',
        helm: { values: { loops: 50_000 } },
        signal: controller.signal,
      });
      setTimeout(() => {
        controller.abort();
      }, 300);
      await fails(rendering, 'RENDER_CANCELLED', /was cancelled/);
    });
  });

  describe('inputs (what a render reads, for the render cache)', () => {
    it('names the folder of plain files, and no tool', async () => {
      assert.deepEqual(await renderer.inputs({ root, path: 'plain' }), {
        type: 'directory',
        paths: ['plain'],
        tools: [],
      });
    });

    it("names an overlay's base outside its folder, and kustomize's version, without running a build", async () => {
      const inputs = await renderer.inputs({ root, path: 'kustomize/overlays/prod' });
      assert.equal(inputs.type, 'kustomize');
      assert.deepEqual(inputs.paths, ['kustomize/base', 'kustomize/overlays/prod']);
      assert.match(inputs.tools[0] ?? '', /^kustomize v5\./);
      // A remote base: what it reads is not in the checkout.
      const remote = await renderer.inputs({
        root,
        path: 'kustomize/remote',
        kustomize: { allowRemoteBases: true },
      });
      assert.equal(remote.paths, undefined);
      await fails(renderer.inputs({ root, path: 'kustomize/remote' }), 'RENDER_REMOTE_BASE', /is remote/);
    });

    it("names a chart's values files outside its folder, and helm's version", async () => {
      const inputs = await renderer.inputs({
        root,
        path: 'helm/web',
        helm: { valueFiles: ['values-prod.yaml', '../../envs/prod.yaml'] },
      });
      assert.equal(inputs.type, 'helm');
      assert.deepEqual(inputs.paths, ['envs/prod.yaml', 'helm/web']);
      assert.match(inputs.tools[0] ?? '', /^helm .*v3\./);
    });
  });

  describe('bad input', () => {
    it('malformed YAML: names the file, line and column', async () => {
      await mkdir(join(root, 'bad', 'malformed'), { recursive: true });
      await writeFile(
        join(root, 'bad', 'malformed', 'a-good.yaml'),
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n',
      );
      await writeFile(
        join(root, 'bad', 'malformed', 'broken.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: "1"\n  b: [unclosed\n  c: "3"\n',
      );
      await fails(
        render({ path: 'bad/malformed' }),
        'RENDER_PARSE',
        /^bad\/malformed\/broken\.yaml:8:3: Flow sequence in block collection must be sufficiently indented and end with a \]/,
      );
    });

    it('an alias bomb is refused without being expanded', async () => {
      await fails(
        render({ path: 'bad/alias-bomb' }),
        'RENDER_PARSE',
        /^bad\/alias-bomb\/bomb\.yaml:\d+:\d+: aliases that expand too much .*alias bomb, "billion laughs"/,
      );
    });

    it('a 100 MB file is refused from its size, without reading it', async () => {
      await mkdir(join(root, 'bad', 'huge'), { recursive: true });
      const big = join(root, 'bad', 'huge', 'big.yaml');
      await writeFile(big, '');
      await truncate(big, 100 * 1024 * 1024); // sparse: takes no space
      await fails(
        render({ path: 'bad/huge' }),
        'RENDER_TOO_LARGE',
        /^bad\/huge\/big\.yaml is 104857600 bytes, more than the limit of 10485760 bytes for one file; it was not read/,
      );
    });

    it('a symlinked file or folder that leaves the checkout is refused', async () => {
      await mkdir(join(root, 'bad', 'symlink-file'), { recursive: true });
      await symlink('../../../outside/secret.yaml', join(root, 'bad', 'symlink-file', 'leak.yaml'));
      await fails(
        render({ path: 'bad/symlink-file' }),
        'RENDER_PATH_ESCAPE',
        /^symlink "bad\/symlink-file\/leak\.yaml" resolves outside the checkout through a symlink/,
      );
      await mkdir(join(root, 'bad', 'symlink-folder'), { recursive: true });
      await symlink(join(workspace, 'outside'), join(root, 'bad', 'symlink-folder', 'configs'));
      await fails(
        render({ path: 'bad/symlink-folder' }),
        'RENDER_PATH_ESCAPE',
        /bad\/symlink-folder\/configs/,
      );
      // Even when the folder to render is itself reached through it.
      await fails(
        render({ path: 'bad/symlink-folder/configs' }),
        'RENDER_PATH_ESCAPE',
        /^path "bad\/symlink-folder\/configs" resolves outside the checkout/,
      );
    });

    it('a path that leaves the checkout, or does not exist', async () => {
      await fails(
        render({ path: '../outside' }),
        'RENDER_PATH_ESCAPE',
        /^path "\.\.\/outside" leaves the checkout/,
      );
      await fails(render({ path: 'plain/../../outside' }), 'RENDER_PATH_ESCAPE', /leaves the checkout/);
      await fails(render({ path: '/etc' }), 'RENDER_PATH_ESCAPE', /is an absolute path/);
      await fails(
        render({ path: 'no/such/folder' }),
        'RENDER_NOT_FOUND',
        /^path no\/such\/folder does not exist/,
      );
      await fails(render({ path: 'plain/namespace.yaml' }), 'RENDER_NOT_FOUND', /is not a folder/);
      await fails(
        render({ path: 'plain', type: 'helm' }),
        'RENDER_NOT_FOUND',
        /^plain is not a Helm chart: it has no Chart\.yaml/,
      );
      await fails(
        render({ path: 'plain', type: 'kustomize' }),
        'RENDER_NOT_FOUND',
        /^plain has no kustomization file/,
      );
    });
  });
});

describe('runTool', () => {
  it('caps stdout: a tool that writes too much is killed (RENDER_OUTPUT_TOO_LARGE)', async () => {
    await fails(
      runTool({
        command: '/usr/bin/yes',
        args: ['manifest'],
        cwd: tmpdir(),
        env: { PATH: '/usr/bin:/bin' },
        timeoutMs: 10_000,
        maxOutputBytes: 100_000,
        description: 'yes',
      }),
      'RENDER_OUTPUT_TOO_LARGE',
      /^yes wrote more than 100000 bytes and was stopped/,
    );
  });

  it('kills the whole process group on timeout, children included', async () => {
    const marker = '41.0123';
    await fails(
      runTool({
        command: '/bin/sh',
        args: ['-c', `sleep ${marker} & sleep ${marker}`],
        cwd: tmpdir(),
        env: { PATH: '/usr/bin:/bin' },
        timeoutMs: 300,
        maxOutputBytes: 1000,
        description: 'sleepy',
      }),
      'RENDER_TIMEOUT',
      /^sleepy did not finish within 300 ms and was killed/,
    );
    assert.deepEqual(await processesWith(`sleep ${marker}`), []);
  });

  it('reports a failure with the tail of stderr, and a missing program', async () => {
    await fails(
      runTool({
        command: '/bin/sh',
        args: ['-c', 'for i in $(seq 1 50); do echo "line $i" >&2; done; exit 3'],
        cwd: tmpdir(),
        env: { PATH: '/usr/bin:/bin' },
        timeoutMs: 10_000,
        maxOutputBytes: 1000,
        description: 'noisy',
      }),
      'RENDER_TOOL_FAILED',
      /^noisy failed \(exit 3\):\nline 31\n(.|\n)*line 50$/,
    );
    await fails(
      runTool({
        command: '/no/such/tool',
        args: [],
        cwd: tmpdir(),
        env: {},
        timeoutMs: 10_000,
        maxOutputBytes: 1000,
        description: 'ghost',
      }),
      'RENDER_TOOL_FAILED',
      /^ghost: cannot run the tool: \/no\/such\/tool does not exist/,
    );
  });
});
