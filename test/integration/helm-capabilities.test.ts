// A chart that branches on `.Capabilities` (the cluster's version, whether it serves an API) renders the
// same wherever it is rendered, against the real kube-apiserver: the agent syncs it, the server's desired
// manifest shows the object the agent applied, and `capstan app diff` (the CLI) finds nothing to change.
// All three give helm the destination's version and API versions (applicationRender, from discovery);
// with helm's defaults none of the branches below would come out as they do.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import type { KubeCluster } from '../../src/adapters/kube/kube-cluster.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import {
  agentKubeconfig,
  freshNamespace,
  testCluster,
  untilApplicationsGone,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import {
  adminSession,
  initialAdminPassword,
  serverIdentity,
  serverTestKube,
  startTestServer,
} from '../../src/testing/server.ts';

const git = await startGitServer(after);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-capabilities-'));
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}`;
const stop = new AbortController();
let agent: Promise<void> | undefined;
let kube: KubeClients;
let admin: KubeCluster;
let appType: ResourceType;
let kubeconfig: string;
let binaries: string;

/** The Application CRD's own API, which helm's default capabilities never list. */
const APPLICATIONS = `${APPLICATION_API_VERSION}/${APPLICATION_KIND}`;
const TEMPLATE = `apiVersion: v1
kind: ConfigMap
metadata:
  name: capabilities
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  applications: {{ .Capabilities.APIVersions.Has "${APPLICATIONS}" | quote }}
  nothing: {{ .Capabilities.APIVersions.Has "nothing.example.com/v1" | quote }}
  {{- if semverCompare ">=1.36.0-0" .Capabilities.KubeVersion.Version }}
  recent: "yes"
  {{- end }}
`;

before(async () => {
  ({ kube, admin, appType } = await serverTestKube());
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  binaries = await ensureBinaries();
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'],
      http: false,
      log: () => undefined,
    },
    stop.signal,
  );
});

after(async () => {
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stop.abort();
  await agent;
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('Helm capabilities: one render rule for the agent, the server and the CLI', () => {
  it('renders a chart that branches on .Capabilities alike through all three, with the cluster’s version and APIs', async (t) => {
    const apps = await freshNamespace(t, kube);
    const home = await freshNamespace(t, kube);
    const repo = `capabilities-${apps}`;
    const commit = await git.createRepository(repo, {
      files: {
        'chart/Chart.yaml': 'apiVersion: v2\nname: capabilities\nversion: 1.0.0\n',
        'chart/templates/configmap.yaml': TEMPLATE,
      },
    });
    await kube.core.createNamespacedSecret({ namespace: apps, body: gitSecretBody(git) });
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: 'web', namespace: apps, labels: { 'capstan.dev/test-agent': String(process.pid) } },
        spec: {
          source: { repoURL: git.url(repo), path: 'chart', secretRef: { name: 'git' }, insecureHttp: true },
          destination: { namespace: apps },
          syncPolicy: { automated: {} },
        },
      },
      { fieldManager: 'capstan-test' },
    );

    // 1. The agent: the object it applied carries the cluster's answers.
    const version = (await admin.info()).gitVersion;
    const synced = await eventually(
      async () => {
        const found = await kube.core
          .readNamespacedConfigMap({ namespace: apps, name: 'capabilities' })
          .catch(() => undefined);
        return found?.data ?? false;
      },
      { what: 'the agent to apply ConfigMap capabilities', timeoutMs: 60_000 },
    );
    assert.deepEqual(synced, { kubeVersion: version, applications: 'true', nothing: 'false', recent: 'yes' });

    // 2. The server: its desired manifest is the same object.
    const { base } = await startTestServer(t.after.bind(t), {
      kubeconfig: await serverIdentity(admin, home),
      namespace: home,
      database: join(scratch, `server-${home}.db`),
      repositoryHosts: ['127.0.0.1'],
      log: () => undefined,
    });
    const { cookie } = await adminSession(base, await initialAdminPassword(admin, home));
    const manifest = await eventually(async () => {
      const response = await fetch(
        `${base}/api/v1/applications/${apps}/web/resource/desired?kind=ConfigMap&namespace=${apps}&name=capabilities`,
        { headers: { cookie } },
      );
      const body = await response.text();
      // The watch cache has to see the Application first.
      if (response.status === 404 && body.includes('has not seen it yet')) return false;
      assert.equal(response.status, 200, body);
      return JSON.parse(body) as { revision?: string; object?: { data?: Record<string, string> } };
    });
    assert.equal(manifest.revision, commit);
    assert.deepEqual(manifest.object?.data, synced);

    // 3. The CLI: `capstan app diff` renders it as the agent did, so nothing differs (exit 0).
    const diff = await runCapstan(['app', 'diff', 'web', '-n', apps, '--kubeconfig', kubeconfig], {
      CAPSTAN_BIN_DIR: binaries,
    });
    assert.equal(diff.code, 0, diff.stdout + diff.stderr);
  });
});
