// The demo with a real node, as a user runs it (`capstan demo up --real-node`): the demo's own HTTP
// server (examples/hello-http) built by the cluster's BuildKit, pushed to the cluster registry, its
// digest committed to the demo repository, synced by the demo's agent as a Deployment and a NodePort
// Service on the real node, answering at the URL the demo prints. The road: a push that changes VERSION
// in hello-http's code repository (hello-http.git) is found by its Pipeline's poll, tested and built
// into an image by BuildKit in the cluster (the run Succeeded with a digest), promoted by that digest
// into the demo repository (the Environment hello-http's promotion Verified), synced (the Deployment
// runs that digest), and the new version answers at that URL. The demo's agent runs as users install it:
// install.yaml's Deployment with Capstan's image, two pods on the real node, one holding the Lease;
// the API server runs beside them from install.yaml too, fetching from the git server's address as
// the pods see it, and serves the Applications' desired manifests and diffs at the URL the demo prints
// (a forwarder from the machine's loopback to its Service), as the agent's health, metrics and
// webhook URLs answer; `demo down` (keeping the cluster) stops them. A second `demo up` prints the same
// admin password; a server claim bound on a kwok node (an earlier install's) is refused, said plainly.
// Node tier: needs root; runs on the node tier's cluster (CAPSTAN_NODE_TEST_CLUSTER), leaves it running.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { cleanEnv, run } from '../../src/devcluster/exec.ts';
import * as k8s from '@kubernetes/client-node';
import { AGENT_NAME } from '../../src/contracts/install.ts';
import { DEMO_APPLICATIONS, demoDown, demoUp, type DemoSummary } from '../../src/main/demo.ts';
import { AGENT_POD_SELECTOR } from '../../src/main/demo-agent-pod.ts';
import { SERVER_DATA_CLAIM, SERVER_SELECTOR } from '../../src/contracts/install-server.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { HELLO_APPLICATION, HELLO_SOURCE } from '../../src/main/demo-hello.ts';
import { kubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { nodeTestClusterName, realNodeCluster } from '../../src/testing/real-node.ts';
import { NODE_NETWORK, REAL_NODE } from '../../src/devcluster/node-config.ts';
import { attach } from '../../src/devcluster/cluster.ts';

const SERVER_POD_SELECTOR = Object.entries(SERVER_SELECTOR)
  .map(([k, v]) => `${k}=${v}`)
  .join(',');
let cluster: LocalCluster;
let summary: DemoSummary;
/** The version the second test commits. */
let newVersion = '';
/** The image the push's run built and the Environment promoted. */
let promotedImage = '';
const answer = (version: string) => `hello from Capstan's demo, version ${version}\n`;

/** What the demo's URL answers now. */
async function hello(): Promise<string> {
  const res = await fetch(summary.helloUrl ?? '', { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return res.text();
}

/** git as a user of the demo's git server (the password as a header, as a credential helper would give it). */
function git(cwd: string, args: readonly string[]) {
  const basic = Buffer.from(`${summary.gitUsername}:${summary.gitPassword}`).toString('base64');
  return run(
    'git',
    [
      '-c',
      `http.extraHeader=Authorization: Basic ${basic}`,
      '-c',
      'user.name=Demo User',
      '-c',
      'user.email=user@capstan.invalid',
      ...args,
    ],
    { cwd, env: cleanEnv({ GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' }) },
  );
}

/**
 * Clones hello-http's code repository (hello-http.git) and reads its VERSION (at the commit `at`, else
 * main's); with `commit`, sets it to that, commits and pushes to main. Returns the version and the commit. (The demo's git server keeps
 * its repositories between runs of the demo.)
 */
async function codeVersion(
  options: { commit?: string; at?: string } = {},
): Promise<{ version: string; revision: string }> {
  const checkout = await mkdtemp(join(tmpdir(), 'capstan-demo-clone-'));
  try {
    assert.ok(summary.helloCodeUrl, 'the demo names hello-http’s code repository');
    await git(checkout, ['clone', '--quiet', summary.helloCodeUrl, '.']);
    if (options.at !== undefined) await git(checkout, ['checkout', '--quiet', options.at]);
    const file = join(checkout, 'VERSION');
    if (options.commit !== undefined) {
      await writeFile(file, `${options.commit}\n`);
      await git(checkout, ['commit', '--quiet', '-am', `hello-http: version ${options.commit}`]);
      await git(checkout, ['push', '--quiet', 'origin', 'HEAD:main']);
    }
    const revision = (await git(checkout, ['rev-parse', 'HEAD'])).stdout.trim();
    return { version: (await readFile(file, 'utf8')).trim(), revision };
  } finally {
    await rm(checkout, { recursive: true, force: true });
  }
}

/**
 * The version the image `reference` answers with: examples/hello-http's when the demo built it itself,
 * else the VERSION at the commit of the pipeline run that built it (the image the Environment promoted).
 */
async function deployedVersion(reference: string): Promise<string> {
  const api = await serverApi();
  type Run = { revision: string; images: { reference: string }[] };
  const { items } = await api<{ items: Run[] }>('runs?namespace=capstan-demo&pipeline=hello-http&limit=200');
  const built = items.find((r) => r.images.some((i) => i.reference === reference));
  if (built === undefined) return (await readFile(join(HELLO_SOURCE, 'VERSION'), 'utf8')).trim();
  return (await codeVersion({ at: built.revision })).version;
}

/** A session with the demo's API server (the printed URL, user and password): GET a path of /api/v1. */
async function serverApi(): Promise<<T>(path: string) => Promise<T>> {
  const login = await fetch(`${summary.serverUrl}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: summary.serverUser, password: summary.serverPassword }),
  });
  assert.equal(login.status, 200, await login.clone().text());
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return async <T>(path: string) => {
    const res = await fetch(`${summary.serverUrl}/api/v1/${path}`, { headers: { cookie } });
    assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  };
}

before(async () => {
  cluster = await realNodeCluster();
});

after(async () => {
  // The demo's processes go; the node tier's cluster stays for the next file.
  await demoDown({ name: nodeTestClusterName(), keepCluster: true });
});

describe('capstan demo up --real-node', () => {
  it('builds the demo’s HTTP server, syncs it onto the real node and prints a URL where it answers', async () => {
    summary = await demoUp((line) => process.stderr.write(`[demo] ${line}\n`), {
      realNode: true,
      name: cluster.name,
    });
    assert.match(summary.helloImage ?? '', /^127\.0\.0\.1:\d+\/capstan\/hello-http@sha256:[0-9a-f]{64}$/);
    assert.match(summary.helloUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const app = summary.applications.find((a) => a.name === HELLO_APPLICATION.name);
    assert.deepEqual([app?.sync, app?.health], ['Synced', 'Healthy']);
    // Version 1 on a fresh demo; when the demo ran here before, the version its last promoted image was
    // built from (not the code repository's last commit: a run stopped before its promotion leaves the
    // code ahead of what runs).
    assert.equal(await hello(), answer(await deployedVersion(summary.helloImage ?? '')));
    // It runs on the real node, from the image the demo built.
    const kube = kubeClients(cluster.adminKubeconfig);
    const pods = await kube.core.listNamespacedPod({
      namespace: HELLO_APPLICATION.namespace,
      labelSelector: 'app=hello-http',
    });
    const running = pods.items.filter((p) => p.status?.phase === 'Running');
    assert.equal(running.length, 1);
    assert.equal(running[0]?.spec?.nodeName, cluster.state.realNode?.nodeName);
    assert.equal(running[0]?.spec?.containers[0]?.image, summary.helloImage);
    const node = await kube.core.readNode({ name: running[0]?.spec?.nodeName ?? '' });
    assert.equal(node.metadata?.labels?.[REAL_NODE.label], REAL_NODE.labelValue);
  });

  it('runs the agent as users install it: two Ready pods of install.yaml’s Deployment on the real node, one holding the Lease, syncing every demo Application', async () => {
    const agent = summary.agentPods;
    assert.ok(agent, 'the summary says where the agent runs');
    assert.match(agent.image, /^127\.0\.0\.1:\d+\/capstan\/capstan@sha256:[0-9a-f]{64}$/);
    const kube = kubeClients(cluster.adminKubeconfig);
    const pods = (
      await kube.core.listNamespacedPod({ namespace: agent.namespace, labelSelector: AGENT_POD_SELECTOR })
    ).items.filter((p) => p.metadata?.deletionTimestamp === undefined);
    assert.deepEqual(pods.map((p) => p.metadata?.name).sort(), [...agent.pods].sort());
    for (const pod of pods) {
      assert.equal(pod.spec?.nodeName, cluster.state.realNode?.nodeName);
      assert.equal(pod.status?.containerStatuses?.[0]?.imageID, agent.image);
      assert.ok(pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }
    const leases = kube.config.makeApiClient(k8s.CoordinationV1Api);
    const lease = await leases.readNamespacedLease({ namespace: agent.namespace, name: AGENT_NAME });
    assert.ok(
      agent.pods.includes(lease.spec?.holderIdentity ?? ''),
      `the Lease's holder is one of ${agent.pods.join(', ')}`,
    );
    const names = summary.applications.map((a) => a.name).sort();
    assert.deepEqual(names, [...DEMO_APPLICATIONS.map((a) => a.name), HELLO_APPLICATION.name].sort());
    for (const app of summary.applications)
      assert.deepEqual([app.name, app.sync, app.health], [app.name, 'Synced', 'Healthy']);
  });

  it('prints the agent’s health, metrics and webhook URLs on the machine’s loopback, and they answer', async () => {
    assert.match(summary.agentUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(summary.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.match(summary.webhookUrl, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/webhooks\/generic$/);
    const health = await fetch(`${summary.agentUrl}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await fetch(summary.metricsUrl);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^capstan_/m);
    // The generic webhook with the printed token: the demo's Applications, named by their repository
    // as the pods see it, are asked to refresh (whichever replica answers: an annotation, the leader acts).
    const repoURL = `http://${NODE_NETWORK.nodeAddress}:${new URL(summary.gitUrl).port}/demo-config.git`;
    const refused = await fetch(summary.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repoURL }),
    });
    assert.equal(refused.status, 401);
    const hook = await fetch(summary.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${summary.webhookToken}` },
      body: JSON.stringify({ repoURL, ref: 'refs/heads/main' }),
    });
    assert.equal(hook.status, 200, await hook.clone().text());
    const queued = (await hook.json()) as { status: string; applications: string[] };
    assert.equal(queued.status, 'queued');
    assert.deepEqual(queued.applications, summary.applications.map((a) => `capstan-demo/${a.name}`).sort());
  });

  it('runs the API server from install.yaml beside the agent, serving a real-node Application’s desired manifests and diff at the printed URL', async () => {
    assert.match(summary.serverUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const kube = kubeClients(cluster.adminKubeconfig);
    const serverPods = (
      await kube.core.listNamespacedPod({ namespace: 'capstan-system', labelSelector: SERVER_POD_SELECTOR })
    ).items.filter((p) => p.metadata?.deletionTimestamp === undefined);
    assert.equal(serverPods.length, 1);
    assert.equal(serverPods[0]?.spec?.nodeName, cluster.state.realNode?.nodeName);
    assert.equal(serverPods[0]?.status?.containerStatuses?.[0]?.imageID, summary.agentPods?.image);
    assert.equal((await fetch(`${summary.serverUrl}/readyz`)).status, 200);
    const session = await serverApi();
    const api = (path: string) => session<Record<string, unknown>>(`applications/capstan-demo/${path}`);
    const query = `group=apps&kind=Deployment&namespace=${HELLO_APPLICATION.namespace}&name=hello-http`;
    // The desired manifest, rendered by the server from http://10.200.0.1:<port>/demo-config.git: the
    // image the demo committed by digest.
    const desired = (await api(`${HELLO_APPLICATION.name}/resource/desired?${query}`)) as {
      id: string;
      object?: { spec: { template: { spec: { containers: { image: string }[] } } } };
    };
    assert.equal(desired.id, `Deployment/${HELLO_APPLICATION.namespace}/hello-http`);
    assert.equal(desired.object?.spec.template.spec.containers[0]?.image, summary.helloImage);
    // Synced: the diff of live and desired is empty.
    const diff = (await api(`${HELLO_APPLICATION.name}/resource/diff?${query}`)) as {
      changed: boolean;
      unified: string;
      live?: unknown;
    };
    assert.deepEqual([diff.changed, diff.unified], [false, '']);
    assert.ok(diff.live, 'the live object is there');
    // And an Application of the plain-YAML example, rendered the same way.
    const guestbook = (await api(
      'guestbook/resource/desired?group=apps&kind=Deployment&namespace=demo-guestbook&name=frontend',
    )) as { object?: { kind: string } };
    assert.equal(guestbook.object?.kind, 'Deployment');
  });

  it('a push to hello-http’s code is tested, built, promoted by digest and answers with the new version at that URL', async (t) => {
    const before = await hello();
    const api = await serverApi();
    // The Pipeline's first poll only remembers the branch: the push comes after it.
    await eventually(
      async () => {
        const { items } = await api<{ items: { name: string; status?: { lastPolled?: string } }[] }>(
          'pipelines?namespace=capstan-demo',
        );
        return items.some((p) => p.name === 'hello-http') || false;
      },
      { what: 'the Pipeline hello-http served', timeoutMs: 60_000, intervalMs: 1000 },
    );
    await eventually(
      async () => {
        const pods = await kubeClients(cluster.adminKubeconfig).core.listNamespacedPod({
          namespace: 'capstan-system',
          labelSelector: SERVER_POD_SELECTOR,
        });
        const name = pods.items[0]?.metadata?.name ?? '';
        const log = await run(join(cluster.state.binDir, 'kubectl'), [
          '--kubeconfig',
          cluster.adminKubeconfig,
          'logs',
          '-n',
          'capstan-system',
          name,
          '-c',
          'server',
          '--tail',
          '-1',
        ]);
        return log.stdout.includes('"msg":"pipeline polled","pipeline":"capstan-demo/hello-http"') || false;
      },
      { what: 'the server’s first poll of hello-http.git', timeoutMs: 180_000, intervalMs: 2000 },
    );
    const pushedAt = Date.now();
    const { version, revision } = await codeVersion({ commit: `2-${randomBytes(3).toString('hex')}` });
    assert.notEqual(before, answer(version));
    // The run: found by the poll, the unit test then the image, Succeeded with a digest.
    type Run = {
      id: string;
      phase: string;
      revision: string;
      steps: { name: string; phase: string }[];
      images: { reference: string; digest: string }[];
    };
    const ended = await eventually(
      async () => {
        const { items } = await api<{ items: Run[] }>('runs?namespace=capstan-demo&pipeline=hello-http');
        const found = items.find((r) => r.revision === revision);
        return found && !['Queued', 'Running'].includes(found.phase) ? found : false;
      },
      { what: `the run of ${revision} ended`, timeoutMs: 900_000, intervalMs: 2000 },
    );
    const runDone = Date.now();
    const one = await api<Run>(`runs/${ended.id}`);
    assert.equal(one.phase, 'Succeeded', JSON.stringify(one));
    assert.deepEqual(
      one.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['test', 'Succeeded'],
        ['image', 'Succeeded'],
      ],
    );
    const [image] = one.images;
    assert.ok(image, JSON.stringify(one));
    assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
    assert.match(image.reference, /^127\.0\.0\.1:\d+\/capstan\/hello-http@sha256:[0-9a-f]{64}$/);
    // The promotion of that image into the Environment hello-http: Verified.
    type Promotion = { id: string; state: string; image: string; fromRun?: string; reason?: string };
    const promotion = await eventually(
      async () => {
        const { items } = await api<{ items: Promotion[] }>(
          'promotions?namespace=capstan-demo&environment=hello-http&limit=50',
        );
        const found = items.find((p) => p.fromRun === ended.id);
        if (found?.state === 'Failed') assert.fail(`the promotion failed: ${JSON.stringify(found)}`);
        return found?.state === 'Verified' ? found : false;
      },
      { what: `the promotion of run ${ended.id} Verified`, timeoutMs: 300_000, intervalMs: 2000 },
    );
    assert.equal(promotion.image, image.reference);
    // The Deployment runs that image, and the printed URL answers the new version.
    const kube = kubeClients(cluster.adminKubeconfig);
    const deployment = await kube.apps.readNamespacedDeployment({
      namespace: HELLO_APPLICATION.namespace,
      name: 'hello-http',
    });
    assert.equal(deployment.spec?.template.spec?.containers[0]?.image, image.reference);
    const reply = await eventually(
      async () => {
        const text = await hello();
        if (text !== answer(version)) throw new Error(`the URL answers ${JSON.stringify(text)}`);
        return text;
      },
      { what: `version ${version} answering at the demo URL`, timeoutMs: 180_000, intervalMs: 1000 },
    );
    assert.equal(reply, answer(version));
    t.diagnostic(
      `push → run ended ${((runDone - pushedAt) / 1000).toFixed(1)} s, → new version answering ${((Date.now() - pushedAt) / 1000).toFixed(1)} s`,
    );
    newVersion = version;
    promotedImage = image.reference;
  });

  it('a second demo up reuses what runs and gives the same URL and image', async () => {
    const again = await demoUp(() => undefined, { realNode: true, name: cluster.name });
    assert.equal(again.helloUrl, summary.helloUrl);
    // The image promoted since, which the demo keeps (it does not put back its own first build).
    assert.equal(again.helloImage, promotedImage);
    for (const key of ['serverUrl', 'agentUrl', 'metricsUrl', 'webhookUrl'] as const)
      assert.equal(again[key], summary[key], key);
    assert.deepEqual([...(again.agentPods?.pods ?? [])].sort(), [...(summary.agentPods?.pods ?? [])].sort());
    assert.equal(await hello(), answer(newVersion));
    assert.ok(summary.serverPassword !== undefined && summary.serverPassword !== '');
    assert.equal(again.serverPassword, summary.serverPassword, 'the same admin password, printed again');
  });

  it('demo down, keeping the cluster, removes the agent’s and the server’s pods and stops their forwarders', async () => {
    const stopped = await demoDown({ name: cluster.name, keepCluster: true });
    assert.ok(stopped.includes('agent and server pods'), stopped.join(', '));
    for (const url of [summary.serverUrl, summary.agentUrl, summary.metricsUrl])
      await assert.rejects(
        fetch(url, { signal: AbortSignal.timeout(5000) }),
        TypeError,
        `${url} still answers`,
      );
    const kept = await attach(cluster.name);
    assert.ok(kept, 'the cluster still runs');
    assert.deepEqual(
      kept.state.processes.filter((p) => p.name.startsWith('forward-demo-')).map((p) => p.name),
      [],
    );
  });

  it('meets the server’s claim bound to a kwok node (an earlier install’s) and says so, naming claim, volume, node and what to do', async () => {
    const kube = kubeClients(cluster.adminKubeconfig);
    const namespace = 'capstan-system';
    const claimGone = async () =>
      !(await kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items.some(
        (c) => c.metadata?.name === SERVER_DATA_CLAIM,
      );
    // The demo's own claim (on the real node) goes, then one is bound on a kwok node, as an install
    // whose server ran there leaves it.
    await kube.core
      .deleteNamespacedPersistentVolumeClaim({ namespace, name: SERVER_DATA_CLAIM })
      .catch(() => undefined);
    await eventually(claimGone, { what: 'the demo’s server claim gone', timeoutMs: 60_000 });
    await kube.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: SERVER_DATA_CLAIM },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
    await kube.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'earlier-server' },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': 'kwok-node-0' },
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'server',
              image: 'registry.invalid/capstan:earlier',
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: SERVER_DATA_CLAIM } }],
        },
      },
    });
    try {
      const volume = await eventually(
        async () => {
          const c = await kube.core.readNamespacedPersistentVolumeClaim({
            namespace,
            name: SERVER_DATA_CLAIM,
          });
          return c.status?.phase === 'Bound' ? (c.spec?.volumeName ?? '') : false;
        },
        { what: 'the claim bound on kwok-node-0', timeoutMs: 60_000 },
      );
      const refused = await demoUp(() => undefined, { realNode: true, name: cluster.name }).then(
        () => assert.fail('the demo came up on a server claim it cannot use'),
        (error: unknown) => error,
      );
      assert.ok(refused instanceof CapstanError, String(refused));
      assert.equal(refused.code, 'DEMO_CLAIM_ON_OTHER_NODE');
      for (const part of [
        `PersistentVolumeClaim/${namespace}/${SERVER_DATA_CLAIM}`,
        `PersistentVolume/${volume} on node kwok-node-0`,
        `runs on ${REAL_NODE.name}`,
        `delete deployment/capstan-server pvc/${SERVER_DATA_CLAIM}`,
        `demo down --purge --name ${cluster.name}`,
      ])
        assert.ok(refused.message.includes(part), `${refused.message}\nnames: ${part}`);
    } finally {
      await kube.core.deleteNamespacedPod({ namespace, name: 'earlier-server', gracePeriodSeconds: 0 });
      await kube.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: SERVER_DATA_CLAIM });
      await eventually(claimGone, { what: 'the kwok claim gone', timeoutMs: 60_000 });
    }
  });
});
