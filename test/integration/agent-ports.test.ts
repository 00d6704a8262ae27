// The agent's HTTP ports on the real API server: the webhook receiver listens on a port of its own, and
// the health and metrics ports do not serve it (issue #15: the webhook routes were also served on the
// metrics port, which a NetworkPolicy or a Service usually opens to more callers).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { runAgent } from '../../src/main/agent.ts';
import {
  agentKubeconfig,
  installApplicationCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

const AGENT_NAMESPACE = 'capstan-system';
const SECRET = `capstan-webhooks-ports-${process.pid}`;
const TOKEN = 'ports-test-token';
const stop = new AbortController();
let agent: Promise<void> | undefined;
let addresses: readonly string[] = [];
let admin: KubeCluster;
let kube: KubeClients;

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  await installApplicationCrd(admin);
  kube = kubeClients(cluster.adminKubeconfig);
  await kube.core.createNamespace({ body: { metadata: { name: AGENT_NAMESPACE } } }).catch(() => undefined);
  await kube.core.createNamespacedSecret({
    namespace: AGENT_NAMESPACE,
    body: { metadata: { name: SECRET }, stringData: { generic: TOKEN } },
  });
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      labelSelector: `capstan.dev/test-agent=ports-${process.pid}`,
      namespace: AGENT_NAMESPACE,
      webhookSecretName: SECRET,
      log: () => undefined,
      // As `capstan agent` is started in the install: health, metrics, and webhooks on a third port.
      http: { host: '127.0.0.1', ports: [0, 0], webhookPort: 0 },
      onListening: (listening) => {
        addresses = listening;
      },
    },
    stop.signal,
  );
  await eventually(() => addresses.length === 3, { what: 'the agent listening on three ports' });
});

after(async () => {
  stop.abort();
  await agent;
  await kube.core.deleteNamespacedSecret({ namespace: AGENT_NAMESPACE, name: SECRET }).catch(() => undefined);
  admin.close();
});

const hook = (address: string) =>
  fetch(`${address}/api/v1/webhooks/generic`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ repoURL: 'https://git.example.com/none', ref: 'refs/heads/main' }),
  });

describe("the agent's ports", () => {
  it('serves webhooks on the webhook port alone', async () => {
    const [health, metrics, webhooks] = addresses as [string, string, string];
    const accepted = await hook(webhooks);
    assert.equal(accepted.status, 200, await accepted.clone().text());
    assert.deepEqual(((await accepted.json()) as { applications: string[] }).applications, []);
    for (const address of [health, metrics]) {
      const refused = await hook(address);
      assert.equal(refused.status, 404, `${address} must not serve webhooks`);
    }
  });

  it('serves health and metrics on their ports, and neither on the webhook port', async () => {
    const [health, metrics, webhooks] = addresses as [string, string, string];
    for (const address of [health, metrics]) {
      assert.equal((await fetch(`${address}/healthz`)).status, 200);
      const scraped = await fetch(`${address}/metrics`);
      assert.equal(scraped.status, 200);
      assert.match(await scraped.text(), /^# (HELP|TYPE) /m);
    }
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      assert.equal((await fetch(`${webhooks}${path}`)).status, 404, `${path} on the webhook port`);
    }
  });
});
