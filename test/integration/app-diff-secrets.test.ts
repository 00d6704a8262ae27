// `capstan app diff` from a CI job with a kubeconfig and no credentials in its environment: it reads the
// Application's Secrets as the agent does (spec.source.secretRef for a private git repository,
// spec.source.helm.repositorySecretRefs for a chart repository with Basic auth), so a private source
// renders here. The Application is made with `capstan app create --secret --helm-secret`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REPOSITORY_CREDENTIALS_TYPE } from '../../src/adapters/git/secret-credentials.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import { startChartServer } from '../../src/testing/chart-repository.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import {
  freshNamespace,
  installApplicationCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { fixture, gitSecretBody, startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after);
const charts = await startChartServer(after);
const database = fixture('render', 'helm', 'repository', 'database');
let kube: KubeClients;
let kubeconfig: string;
let binaries: string;
/** Nothing in the environment: the credentials must come from the Secrets. */
const NO_ENV_CREDENTIALS = {
  CAPSTAN_GIT_TOKEN: '',
  CAPSTAN_GIT_USERNAME: '',
  CAPSTAN_GIT_PASSWORD: '',
  CAPSTAN_GIT_SSH_KEY_FILE: '',
  CAPSTAN_HELM_TOKEN: '',
  CAPSTAN_HELM_USERNAME: '',
  CAPSTAN_HELM_PASSWORD: '',
};

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig }));
  await installApplicationCrd(admin);
  admin.close();
  binaries = await ensureBinaries();
  await charts.publish([{ folder: database, version: '1.2.0' }]);
});

const app = (args: readonly string[]) =>
  runCapstan(['app', ...args], { ...NO_ENV_CREDENTIALS, CAPSTAN_BIN_DIR: binaries });

describe('capstan app diff with the Application’s Secrets', () => {
  it('fetches a private repository and a chart repository with the credentials the Application names', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `app-diff-secrets-${namespace}`;
    await git.createRepository(repo, {
      files: {
        'app/Chart.yaml': `apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: database\n    version: ^1.0.0\n    repository: ${charts.url}\n`,
        'app/values.yaml': 'database:\n  size: medium\n',
      },
    });
    const target = ['-n', namespace, '--kubeconfig', kubeconfig];
    const created = await app([
      'create',
      'web',
      ...['--repo', git.url(repo), '--insecure-http', '--path', 'app'],
      ...['--secret', 'git', '--helm-secret', 'charts', '--release-name', 'web'],
      ...target,
    ]);
    assert.equal(created.code, 0, created.stderr);

    // Without the Secrets: each is named, with the field that names it.
    const missing = await app(['diff', 'web', ...target]);
    assert.equal(missing.code, 4, missing.stdout + missing.stderr);
    assert.match(
      missing.stderr,
      new RegExp(`Secret/${namespace}/git \\(spec\\.source\\.secretRef\\) does not exist`),
    );

    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    await kube.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'charts' },
        type: REPOSITORY_CREDENTIALS_TYPE,
        stringData: { url: charts.url, username: charts.username, password: charts.password },
      },
    });
    const diff = await app(['diff', 'web', ...target]);
    assert.equal(diff.code, 1, diff.stdout + diff.stderr);
    assert.match(diff.stderr, /credentials from the Application's Secrets git, charts/);
    assert.match(diff.stdout, new RegExp(`ConfigMap/${namespace}/web-database +create`));
    assert.match(diff.stdout, /chartVersion: 1\.2\.0/);
    assert.match(diff.stdout, /size: medium/);
    // The chart repository was asked with the Secret's credentials.
    assert.ok(
      charts.requests.some((r) => r.includes('index.yaml')),
      charts.requests.join('\n'),
    );
  });
});
