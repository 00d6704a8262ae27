// Charts from Helm repositories, as Argo CD and Flux users reference them: the dependencies of a chart
// in git downloaded from a real HTTP chart repository (packaged and indexed by the real helm, Basic
// auth) and from a real OCI registry (docker-registry, TLS and htpasswd, charts pushed with helm push),
// then rendered by the real helm in its sandbox.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManifestRenderer } from '../../src/adapters/render/renderer.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import type { RenderResult } from '../../src/ports/renderer.ts';
import type { GitCredentials } from '../../src/ports/source.ts';
import { startChartServer, startOciRegistry } from '../../src/testing/chart-repository.ts';
import { fixture } from '../../src/testing/git.ts';

const binaries = await ensureBinaries();
const workspace = await mkdtemp(join(tmpdir(), 'capstan-helm-repos-'));
after(() => rm(workspace, { recursive: true, force: true }));
const charts = await startChartServer(after);
const registry = await startOciRegistry(after);
const database = fixture('render', 'helm', 'repository', 'database');

/** A renderer with its own chart cache, or none; it trusts the registry's CA. */
function renderer(options: { cache: boolean }): ManifestRenderer {
  const made = new ManifestRenderer({
    kustomizeBinary: join(binaries, 'kustomize'),
    helmBinary: join(binaries, 'helm'),
    charts: {
      ca: registry.ca,
      ...(options.cache ? { cacheDir: join(workspace, `cache-${Math.random().toString(16).slice(2)}`) } : {}),
    },
  });
  after(() => made.close());
  return made;
}

/** A checkout with one chart, `app`, that depends on `database` from the repository and version given. */
async function checkout(dependency: { repository: string; version: string }): Promise<string> {
  const root = await mkdtemp(join(workspace, 'checkout-'));
  await mkdir(join(root, 'app', 'templates'), { recursive: true });
  await writeFile(
    join(root, 'app', 'Chart.yaml'),
    `apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: database\n    version: '${dependency.version}'\n    repository: ${dependency.repository}\n`,
  );
  await writeFile(join(root, 'app', 'values.yaml'), 'database:\n  size: large\n');
  await cp(join(database, 'templates', 'configmap.yaml'), join(root, 'app', 'templates', 'configmap.yaml'));
  return root;
}

const basic = (url: string, username: string, password: string): GitCredentials => ({
  kind: 'basic',
  username,
  password,
  urlPrefix: url,
});

function databaseData(result: RenderResult): Record<string, string> {
  const found = result.objects.find((o) => o.object.metadata.name === 'web-database');
  assert.ok(found, JSON.stringify(result.objects.map((o) => o.object.metadata.name)));
  assert.equal(found.source.file, 'app/charts/database/templates/configmap.yaml');
  return found.object['data'] as Record<string, string>;
}

async function fails(render: Promise<unknown>, code: string, message: RegExp): Promise<CapstanError> {
  const error = await render.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof CapstanError, `expected ${code}, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  return error;
}

before(async () => {
  await charts.publish([
    { folder: database, version: '1.1.0' },
    { folder: database, version: '1.2.0' },
    { folder: database, version: '2.0.0' },
  ]);
  await registry.push({ folder: database, version: '1.3.0' }, 'charts');
  await registry.push({ folder: database, version: '1.4.0' }, 'charts');
});

describe('Helm dependencies from an HTTP chart repository', () => {
  it('downloads the newest version in range with credentials bound to it, once (then from the cache)', async () => {
    const root = await checkout({ repository: charts.url, version: '^1.0.0' });
    const render = renderer({ cache: true });
    const request = {
      root,
      path: 'app',
      insecureHttp: true,
      helm: { releaseName: 'web' },
      chartCredentials: [basic(charts.url, charts.username, charts.password)],
    };
    const first = await render.render(request);
    // The newest 1.x (not 2.0.0), with the parent's values.
    assert.deepEqual(databaseData(first), { chartVersion: '1.2.0', size: 'large' });
    assert.deepEqual(
      charts.requests.filter((p) => p.endsWith('.tgz')),
      ['/charts/database-1.2.0.tgz'],
    );
    // Again: the index is read for the version, the archive comes from the cache by its digest.
    const second = await render.render(request);
    assert.deepEqual(databaseData(second), { chartVersion: '1.2.0', size: 'large' });
    assert.deepEqual(
      charts.requests.filter((p) => p.endsWith('.tgz')),
      ['/charts/database-1.2.0.tgz'],
    );
    // Nothing was written into the checkout, and the render cache cannot key a range by paths.
    assert.deepEqual(await readdir(join(root, 'app')), ['Chart.yaml', 'templates', 'values.yaml']);
    assert.equal((await render.inputs(request)).paths, undefined);
  });

  it('takes an exact version, and says which versions exist when none is in range', async () => {
    const root = await checkout({ repository: charts.url, version: '1.1.0' });
    const credentials = [basic(charts.url, charts.username, charts.password)];
    const render = renderer({ cache: false });
    const result = await render.render({
      root,
      path: 'app',
      insecureHttp: true,
      helm: { releaseName: 'web' },
      chartCredentials: credentials,
    });
    assert.equal(databaseData(result)['chartVersion'], '1.1.0');
    const missing = await checkout({ repository: charts.url, version: '~3.1' });
    await fails(
      render.render({ root: missing, path: 'app', insecureHttp: true, chartCredentials: credentials }),
      'RENDER_CHART_NOT_FOUND',
      /^chart database ~3\.1 from http:\/\/127\.0\.0\.1:\d+\/charts: no version in ~3\.1 \(it has 2\.0\.0, 1\.2\.0, 1\.1\.0\)/,
    );
  });

  it('refuses without credentials, and never sends credentials bound to another URL', async () => {
    const root = await checkout({ repository: charts.url, version: '^1.0.0' });
    const render = renderer({ cache: false });
    const error = await fails(
      render.render({ root, path: 'app', insecureHttp: true }),
      'RENDER_CHART_UNREACHABLE',
      /database: http:\/\/127\.0\.0\.1:\d+\/charts\/index\.yaml refused access without credentials; give credentials bound to/,
    );
    assert.equal(error.retryable, false);
    // Right password, bound elsewhere (another port of the same host): not sent.
    const elsewhere = basic(charts.url.replace(/:\d+\//, ':1/'), charts.username, charts.password);
    await fails(
      render.render({ root, path: 'app', insecureHttp: true, chartCredentials: [elsewhere] }),
      'RENDER_CHART_UNREACHABLE',
      /refused access without credentials: none of those given is bound to http:\/\/127\.0\.0\.1:\d+\/charts \(their url must cover it\)/,
    );
    await fails(
      render.render({
        root,
        path: 'app',
        insecureHttp: true,
        chartCredentials: [basic(charts.url, charts.username, 'wrong')],
      }),
      'RENDER_CHART_UNREACHABLE',
      /refused the credentials; check them \(a repository credentials Secret in spec\.source\.helm\.repositorySecretRefs/,
    );
  });

  it('refuses plain http unless allowed, and an archive that does not match the digest in the index', async () => {
    const root = await checkout({ repository: charts.url, version: '2.0.0' });
    const credentials = [basic(charts.url, charts.username, charts.password)];
    await fails(
      renderer({ cache: false }).render({ root, path: 'app', chartCredentials: credentials }),
      'RENDER_HELM_DEPENDENCIES',
      /is neither https:\/\/ nor oci:\/\/ \(plain http needs --insecure-http, or spec\.source\.insecureHttp\)/,
    );
    await charts.tamper('database-2.0.0.tgz');
    await fails(
      renderer({ cache: true }).render({
        root,
        path: 'app',
        insecureHttp: true,
        chartCredentials: credentials,
      }),
      'RENDER_CHART_DIGEST',
      /^chart database 2\.0\.0 from http:\/\/127\.0\.0\.1:\d+\/charts has the digest sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64} as the repository says; it was not used/,
    );
  });
});

describe('Helm dependencies from an OCI registry', () => {
  const repository = () => `oci://${registry.address}/charts`;
  // Bound as users name the charts (not to the registry's /v2/ API paths).
  const credentials = () => [basic(`oci://${registry.address}/charts`, registry.username, registry.password)];

  it('pulls an exact version and the newest in a range (from the tags), over TLS with Basic auth', async () => {
    const render = renderer({ cache: true });
    const exact = await checkout({ repository: repository(), version: '1.3.0' });
    const result = await render.render({
      root: exact,
      path: 'app',
      helm: { releaseName: 'web' },
      chartCredentials: credentials(),
    });
    assert.deepEqual(databaseData(result), { chartVersion: '1.3.0', size: 'large' });
    const ranged = await checkout({ repository: repository(), version: '>=1.3 <2' });
    const newest = await render.render({
      root: ranged,
      path: 'app',
      helm: { releaseName: 'web' },
      chartCredentials: credentials(),
    });
    assert.equal(databaseData(newest)['chartVersion'], '1.4.0');
  });

  it('refuses without credentials, and names a tag that does not exist', async () => {
    const render = renderer({ cache: false });
    const root = await checkout({ repository: repository(), version: '1.3.0' });
    await fails(
      render.render({ root, path: 'app' }),
      'RENDER_CHART_UNREACHABLE',
      /refused access without credentials/,
    );
    const missing = await checkout({ repository: repository(), version: '9.9.9' });
    await fails(
      render.render({ root: missing, path: 'app', chartCredentials: credentials() }),
      'RENDER_CHART_NOT_FOUND',
      /^chart database 9\.9\.9 from oci:\/\/127\.0\.0\.1:\d+\/charts: https:\/\/127\.0\.0\.1:\d+\/v2\/charts\/database\/manifests\/9\.9\.9 answered 404/,
    );
  });
  it("refuses a layer that does not match the digest in the chart's manifest", async () => {
    await registry.push({ folder: database, version: '1.5.0' }, 'tampered');
    await registry.tamper('database-1.5.0.tgz');
    const root = await checkout({ repository: `oci://${registry.address}/tampered`, version: '1.5.0' });
    await fails(
      renderer({ cache: true }).render({
        root,
        path: 'app',
        chartCredentials: [basic(`oci://${registry.address}/tampered`, registry.username, registry.password)],
      }),
      'RENDER_CHART_DIGEST',
      /^chart database 1\.5\.0 from oci:\/\/127\.0\.0\.1:\d+\/tampered has the digest sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64} as the repository says; it was not used/,
    );
  });
});
