// The demo with a real node, as a user runs it (`capstan demo up --real-node`): the demo's own HTTP
// server (examples/hello-http) built by the cluster's BuildKit, pushed to the cluster registry, its
// digest committed to the demo repository, synced by the demo's agent as a Deployment and a NodePort
// Service on the real node, answering at the URL the demo prints. A commit that changes VERSION in the
// demo repository makes the new version answer at that URL. The demo's agent runs as users install it:
// install.yaml's Deployment with Capstan's image, two pods on the real node, one holding the Lease.
// Node tier: needs root; runs on the node tier's cluster (CAPSTAN_NODE_TEST_CLUSTER), leaves it running.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { cleanEnv, run } from '../../src/devcluster/exec.ts';
import * as k8s from '@kubernetes/client-node';
import { AGENT_NAME } from '../../src/contracts/install.ts';
import { DEMO_APPLICATIONS, demoDown, demoUp, type DemoSummary } from '../../src/main/demo.ts';
import { AGENT_POD_SELECTOR } from '../../src/main/demo-agent-pod.ts';
import { HELLO_APPLICATION } from '../../src/main/demo-hello.ts';
import { kubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { nodeTestClusterName, realNodeCluster } from '../../src/testing/real-node.ts';
import { REAL_NODE } from '../../src/devcluster/node-config.ts';

let cluster: LocalCluster;
let summary: DemoSummary;
/** The version the second test commits. */
let newVersion = '';
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
 * Clones the demo repository and reads VERSION in hello-http/deployment.yaml; with `commit`, sets it to
 * that, commits and pushes. (The demo's repository keeps its commits between runs of the demo.)
 */
async function repositoryVersion(options: { commit?: string } = {}): Promise<string> {
  const checkout = await mkdtemp(join(tmpdir(), 'capstan-demo-clone-'));
  try {
    await git(checkout, ['clone', '--quiet', summary.gitUrl, '.']);
    const file = join(checkout, HELLO_APPLICATION.path, 'deployment.yaml');
    const doc = parseDocument(await readFile(file, 'utf8'));
    const env = doc.getIn(['spec', 'template', 'spec', 'containers', 0, 'env']) as {
      items: { get(key: string): unknown; set(key: string, value: unknown): void }[];
    };
    const entry = env.items.find((item) => item.get('name') === 'VERSION');
    assert.ok(entry, `${file} sets VERSION`);
    if (options.commit === undefined) return String(entry.get('value'));
    entry.set('value', options.commit);
    await writeFile(file, doc.toString());
    await git(checkout, ['commit', '--quiet', '-am', `hello-http: version ${options.commit}`]);
    await git(checkout, ['push', '--quiet', 'origin', 'HEAD']);
    return options.commit;
  } finally {
    await rm(checkout, { recursive: true, force: true });
  }
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
    // Version 1 on a fresh demo; the version of the last commit when the demo ran here before.
    assert.equal(await hello(), answer(await repositoryVersion()));
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
    assert.equal(summary.agentUrl, '', 'no agent process on the machine');
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

  it('a commit that changes VERSION in the demo repository makes the new version answer at that URL', async () => {
    const before = await hello();
    const version = await repositoryVersion({ commit: `2-${randomBytes(3).toString('hex')}` });
    assert.notEqual(before, answer(version));
    const reply = await eventually(
      async () => {
        const text = await hello();
        if (text !== answer(version)) throw new Error(`the URL answers ${JSON.stringify(text)}`);
        return text;
      },
      { what: `version ${version} answering at the demo URL`, timeoutMs: 180_000, intervalMs: 1000 },
    );
    assert.equal(reply, answer(version));
    newVersion = version;
  });

  it('a second demo up reuses what runs and gives the same URL and image', async () => {
    const again = await demoUp(() => undefined, { realNode: true, name: cluster.name });
    assert.equal(again.helloUrl, summary.helloUrl);
    assert.equal(again.helloImage, summary.helloImage);
    assert.deepEqual([...(again.agentPods?.pods ?? [])].sort(), [...(summary.agentPods?.pods ?? [])].sort());
    assert.equal(await hello(), answer(newVersion));
  });
});
