// removeCluster (what `capstan demo down --purge` does to the demo's cluster folder): the folder of a
// stopped cluster goes; one with a recorded process still running (a real process here), an `up` or
// `down` at work, or a state file that cannot be read, is refused whole and nothing is removed.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { removeCluster } from '../../../src/devcluster/cluster.ts';
import { clusterPaths } from '../../../src/devcluster/layout.ts';
import { CapstanError } from '../../../src/core/errors.ts';

const root = await mkdtemp(join(tmpdir(), 'capstan-remove-cluster-'));
after(() => rm(root, { recursive: true, force: true }));

/** The pid of a process that has exited. */
const deadPid = () => {
  const pid = spawnSync(process.execPath, ['-e', '']).pid;
  assert.ok(pid);
  return pid;
};

/** A cluster folder as `up` and `down` leave it: state, certificates, etcd data, logs. */
async function clusterFolder(name: string, processes: { name: string; pid: number; binary: string }[]) {
  const paths = clusterPaths(name, root);
  for (const dir of [paths.pki, paths.etcdData, paths.logs, paths.kubeconfigs])
    await mkdir(dir, { recursive: true });
  await writeFile(join(paths.pki, 'ca.key'), 'key\n');
  await writeFile(join(paths.etcdData, 'member'), 'data\n');
  const records = processes.map((p) => ({ ...p, args: [], log: join(paths.logs, `${p.name}.log`) }));
  await writeFile(
    paths.state,
    JSON.stringify({ server: 'https://127.0.0.1:1', startedAt: '', nodes: [], processes: records }),
  );
  return paths;
}

const refusal = async (name: string) => {
  const error = await removeCluster(name, root).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof CapstanError, `removing ${name} is refused, not ${String(error)}`);
  return error;
};

describe('removeCluster: the folder of a stopped cluster, never of a running one', () => {
  it('removes a stopped cluster’s folder whole, and says there was none the second time', async () => {
    const paths = await clusterFolder('stopped', [
      { name: 'etcd', pid: deadPid(), binary: '/opt/capstan/bin/etcd' },
      // A pid that runs now, but another program than the recorded one: a reused pid, not the cluster's.
      { name: 'kube-apiserver', pid: process.pid, binary: '/opt/capstan/bin/kube-apiserver' },
    ]);
    assert.equal(await removeCluster('stopped', root), paths.root);
    assert.equal(existsSync(paths.root), false);
    assert.equal(await removeCluster('stopped', root), undefined);
    assert.equal(await removeCluster('never-made', root), undefined);
  });

  it('refuses a cluster with a recorded process still running, naming it, and removes nothing', async (t) => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
    t.after(() => {
      child.kill('SIGKILL');
    });
    const pid = child.pid;
    assert.ok(pid);
    const paths = await clusterFolder('running', [
      { name: 'etcd', pid: deadPid(), binary: '/opt/capstan/bin/etcd' },
      { name: 'kube-apiserver', pid, binary: process.execPath },
    ]);
    const before = await readdir(paths.root, { recursive: true });
    const error = await refusal('running');
    assert.equal(error.code, 'DEVCLUSTER_RUNNING');
    assert.match(error.message, new RegExp(`kube-apiserver pid ${String(pid)}`));
    assert.match(error.message, /dev-cluster down --name running/);
    assert.deepEqual(await readdir(paths.root, { recursive: true }), before, 'nothing removed');
    // Stopped, it goes.
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(await removeCluster('running', root), paths.root);
  });

  it('refuses a cluster whose up or down is at work, or whose state cannot be read', async (t) => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
    t.after(() => {
      child.kill('SIGKILL');
    });
    const busy = await clusterFolder('busy', []);
    await writeFile(busy.lock, JSON.stringify({ pid: child.pid, what: 'up or down' }));
    assert.equal((await refusal('busy')).code, 'DEVCLUSTER_BUSY');
    assert.equal(existsSync(busy.state), true);
    const unreadable = await clusterFolder('unreadable', []);
    await writeFile(unreadable.state, '{ half a state');
    const error = await refusal('unreadable');
    assert.equal(error.code, 'DEVCLUSTER_STATE');
    assert.match(error.message, /state\.json cannot be read/);
    assert.equal(existsSync(unreadable.state), true);
  });

  it('refuses a name that is not a cluster’s (no path reaches outside the clusters’ folder)', async () => {
    assert.equal((await refusal('../elsewhere')).code, 'DEVCLUSTER_BAD_NAME');
  });
});
