// `capstan dev-cluster` as a user runs it: a second cluster beside the test cluster, refusals, and a clean down.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { run } from '../../src/devcluster/exec.ts';
import { freePort } from '../../src/devcluster/ports.ts';
import { pidAlive, runCapstan } from '../../src/testing/cli.ts';
import { testCluster } from '../../src/testing/cluster.ts';

const capstan = (env: NodeJS.ProcessEnv, ...args: string[]) => runCapstan(args, env);
const alive = pidAlive;

describe('capstan dev-cluster', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'capstan-state-'));
  const env = { CAPSTAN_STATE_DIR: stateDir };
  after(async () => {
    await capstan(env, 'dev-cluster', 'down', '--name', 'second');
    await rm(stateDir, { recursive: true, force: true });
  });

  it('refuses a port already in use, clearly, and leaves nothing running', async () => {
    const port = await freePort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const r = await capstan(env, 'dev-cluster', 'up', '--name', 'second', '--port', String(port));
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, new RegExp(`port ${port} on 127.0.0.1 for kube-apiserver is already in use`));
      const status = JSON.parse((await capstan(env, 'dev-cluster', 'status', '-o', 'json')).stdout) as {
        components: unknown[];
      }[];
      assert.ok(status.every((c) => c.components.length === 0));
    } finally {
      holder.close();
    }
  });

  it('runs a second cluster beside the test cluster, refuses a second up, and stops every process on down', async () => {
    const first = await testCluster();
    const upResult = await capstan(
      env,
      'dev-cluster',
      'up',
      '--name',
      'second',
      '--nodes',
      '3',
      '-o',
      'json',
    );
    assert.equal(upResult.code, 0, upResult.stderr);
    assert.match(upResult.stderr, /starting kube-apiserver/, 'progress is printed while starting');
    const summary = JSON.parse(upResult.stdout) as { server: string; kubeconfig: string; nodes: string[] };
    assert.notEqual(summary.server, first.server, 'its own port');
    assert.equal(summary.nodes.length, 3);

    const kubectl = join(first.state.binDir, 'kubectl');
    const nodes = JSON.parse(
      (await run(kubectl, ['--kubeconfig', summary.kubeconfig, 'get', 'nodes', '-o', 'json'])).stdout,
    ) as {
      items: { status: { conditions: { type: string; status: string }[] } }[];
    };
    assert.equal(nodes.items.length, 3);
    assert.ok(
      nodes.items.every((n) => n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True')),
    );
    const kubeconfigPath = await capstan(env, 'dev-cluster', 'kubeconfig', '--name', 'second');
    assert.equal(kubeconfigPath.stdout.trim(), summary.kubeconfig);

    const again = await capstan(env, 'dev-cluster', 'up', '--name', 'second');
    assert.equal(again.code, 4);
    assert.match(again.stderr, /cluster 'second' is already running/);

    const status = JSON.parse(
      (await capstan(env, 'dev-cluster', 'status', '--name', 'second', '-o', 'json')).stdout,
    ) as {
      running: boolean;
      components: { name: string; pid: number; running: boolean }[];
    }[];
    const entry = status[0];
    assert.ok(entry);
    assert.equal(entry.running, true);
    const pids = entry.components.map((c) => c.pid);
    assert.deepEqual(entry.components.map((c) => c.name).sort(), [
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
      // The default StorageClass's provisioner (src/devcluster/local-volumes.ts), kwok-only clusters too.
      'local-volumes',
    ]);

    const downResult = await capstan(env, 'dev-cluster', 'down', '--name', 'second');
    assert.equal(downResult.code, 0, downResult.stderr);
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} is still running after down`);
    const table = await capstan(env, 'dev-cluster', 'status');
    assert.match(table.stdout, /second\s+Stopped/);
    // The first cluster was not touched.
    assert.ok((await first.admin().call('GET', '/readyz')).status === 200);
  });
});
