// capstan render / diff / sync of a chart straight from a Helm repository (--repo URL --chart NAME
// --revision VERSION-OR-RANGE): a real HTTP chart repository (helm package + helm repo index, Basic auth)
// and a real OCI registry (Debian's docker-registry with TLS, charts pushed with helm push), credentials
// from the environment; an archive that is not the one the registry's manifest names is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SyncResult } from '../../src/core/sync-result.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { fixture } from '../../src/testing/git.ts';
import { startChartServer, startOciRegistry } from '../../src/testing/chart-repository.ts';

let kubeconfig: string;
let kube: KubeClients;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-cli-chart-'));
const registry = await startOciRegistry(after);
const charts = await startChartServer(after, { username: registry.username, password: registry.password });
const database = fixture('render', 'helm', 'repository', 'database');
let env: NodeJS.ProcessEnv;

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
  const caFile = join(scratch, 'registry-ca.pem');
  await writeFile(caFile, registry.ca);
  // The same user and password serve both repositories.
  env = {
    CAPSTAN_HELM_USERNAME: registry.username,
    CAPSTAN_HELM_PASSWORD: registry.password,
    CAPSTAN_HELM_CA_FILE: caFile,
  };
});
after(() => rm(scratch, { recursive: true, force: true }));

const capstan = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCapstan(args, { ...env, ...extra });

describe('capstan render, diff and sync of a chart from a Helm repository', () => {
  it('renders the newest version in a range from an HTTP chart repository, with values and a release name', async () => {
    await charts.publish([
      { folder: database, version: '1.1.0' },
      { folder: database, version: '1.2.0' },
      { folder: database, version: '2.0.0' },
    ]);
    const source = ['--repo', charts.url, '--chart', 'database', '--insecure-http'];
    const rendered = await capstan([
      'render',
      ...source,
      '--revision',
      '^1.0.0',
      '--app',
      'web',
      '--values-inline',
      'size: large',
      '-o',
      'json',
    ]);
    assert.equal(rendered.code, 0, rendered.stderr);
    const [object] = (
      JSON.parse(rendered.stdout) as { items: { metadata: { name: string }; data: unknown }[] }
    ).items;
    assert.equal(object?.metadata.name, 'web-database');
    assert.deepEqual(object.data, { chartVersion: '1.2.0', size: 'large' });
    assert.match(rendered.stderr, /unpacking database 1\.2\.0 \(sha256:[0-9a-f]{64}\)/);
    // Without credentials the repository refuses, and the message says where they go.
    const refused = await runCapstan(['render', ...source], {});
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /refused access without credentials/);
    // A version that is not there: the versions that are.
    const missing = await capstan(['render', ...source, '--revision', '3.x']);
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(
      missing.stderr,
      /chart database 3\.x from .*: no version in 3\.x \(it has 2\.0\.0, 1\.2\.0, 1\.1\.0\)/,
    );
    // Usage: --chart needs --repo, and does not go with --path.
    const usage = await capstan(['render', '--chart', 'database']);
    assert.equal(usage.code, 2, usage.stderr);
    const both = await capstan(['render', ...source, '--path', 'x']);
    assert.equal(both.code, 2, both.stderr);
  });

  it('syncs a chart from an OCI registry, diffs clean, and re-syncs unchanged; records version and digest', async (t) => {
    await registry.push({ folder: database, version: '1.3.0' }, 'charts');
    await registry.push({ folder: database, version: '1.4.0' }, 'charts');
    const namespace = await freshNamespace(t, kube);
    const name = `chart-${randomBytes(3).toString('hex')}`;
    const args = [
      '--repo',
      `oci://${registry.address}/charts`,
      '--chart',
      'database',
      '--revision',
      '~1.3.0',
      '--app',
      name,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const synced = await capstan(['sync', ...args, '-o', 'json']);
    assert.equal(synced.code, 0, synced.stderr);
    const result = JSON.parse(synced.stdout) as SyncResult;
    assert.match(result.revision ?? '', /^1\.3\.0@sha256:[0-9a-f]{64}$/);
    const configMap = await kube.core.readNamespacedConfigMap({ namespace, name: `${name}-database` });
    assert.deepEqual(configMap.data, { chartVersion: '1.3.0', size: 'small' });
    // The recorded revision renders as it is (no resolve), as `capstan app diff --revision` does.
    const recorded = await capstan([
      'render',
      '--repo',
      `oci://${registry.address}/charts`,
      '--chart',
      'database',
      '--revision',
      result.revision ?? '',
      '--app',
      name,
    ]);
    assert.equal(recorded.code, 0, recorded.stderr);
    assert.doesNotMatch(recorded.stderr, /resolving chart/);
    assert.match(recorded.stdout, /chartVersion: 1\.3\.0/);
    const clean = await capstan(['diff', ...args]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    const again = await capstan(['sync', ...args, '-o', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      (JSON.parse(again.stdout) as SyncResult).entries.filter((e) => e.action !== 'unchanged'),
      [],
    );
  });

  it('refuses a chart whose archive is not the one the registry manifest names, naming the chart', async () => {
    await registry.push({ folder: database, version: '1.5.0' }, 'charts');
    await registry.tamper('database-1.5.0.tgz');
    const refused = await capstan([
      'render',
      '--repo',
      `oci://${registry.address}/charts`,
      '--chart',
      'database',
      '--revision',
      '1.5.0',
    ]);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(
      refused.stderr,
      /chart database 1\.5\.0 from oci:\/\/.* has the digest sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64} as the repository says; it was not used/,
    );
    assert.equal(refused.stdout, '');
  });
});
