// What an interrupted run of a real node leaves on the machine, and the next 'up' and 'down' of it:
// an empty network namespace is replaced (one with a process in it is a running node, refused and left
// untouched); the mount namespace's folder, still mounted, is replaced rather than stacked on, and
// 'down' removes every mount below it. Node tier: needs root. (CI once failed every node test on the
// first leftover; a fresh-clone run's 'down' failed with EBUSY on the second.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { CapstanError } from '../../src/core/errors.ts';
import { run } from '../../src/devcluster/exec.ts';
import { NODE_NETWORK, netnsName, nodePaths } from '../../src/devcluster/node-config.ts';
import {
  createMountNamespace,
  createNodeNetns,
  removeMountNamespace,
  removeNodeNetns,
  unmountBelow,
} from '../../src/devcluster/node-host.ts';

const CLUSTER = `netns-test-${process.pid}`;

it('replaces an empty namespace left behind, and refuses one a process runs in', async (t) => {
  const ns = netnsName(CLUSTER);
  t.after(() => removeNodeNetns(CLUSTER));
  await run('ip', ['netns', 'add', ns]); // what an interrupted run leaves: no address, nothing in it

  await createNodeNetns(CLUSTER);
  const addresses = (await run('ip', ['-n', ns, '-o', 'addr', 'show', 'dev', 'lo'])).stdout;
  assert.match(addresses, new RegExp(`inet ${NODE_NETWORK.nodeAddress.replaceAll('.', '\\.')}/32`));

  const sleeper = spawn('ip', ['netns', 'exec', ns, 'sleep', '60'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  await once(sleeper, 'spawn');
  // 'ip netns exec' enters the namespace before it runs sleep: wait for the positive signal.
  for (let i = 0; (await run('ip', ['netns', 'pids', ns])).stdout.trim() === ''; i++) {
    assert.ok(i < 500, 'the process never appeared in the namespace');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await assert.rejects(createNodeNetns(CLUSTER), (error: unknown) => {
    assert.ok(error instanceof CapstanError);
    assert.equal(error.code, 'NODE_NETNS_EXISTS');
    assert.match(error.message, /with processes \d+/);
    return true;
  });
  const after = (await run('ip', ['-n', ns, '-o', 'addr', 'show', 'dev', 'lo'])).stdout;
  assert.equal(after, addresses, 'the running namespace is left as it was');
});

it('a mount namespace left by an interrupted run is replaced, not stacked on, and every mount goes at down', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'capstan-mntns-'));
  const paths = nodePaths(root, `mntns-test-${process.pid}`);
  t.after(async () => {
    await unmountBelow(paths.run);
    await rm(paths.run, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });
  const mountsAt = async (path: string): Promise<number> =>
    (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.split(' ')[4] === path)
      .length;
  // What an interrupted run leaves: the private bind of the pins' folder, still mounted.
  await mkdir(paths.mountNamespaces, { recursive: true });
  await run('mount', ['--bind', paths.mountNamespaces, paths.mountNamespaces]);
  await run('mount', ['--make-private', paths.mountNamespaces]);

  const created = await createMountNamespace(paths);
  assert.equal(await mountsAt(paths.mountNamespaces), 1, 'one bind, not one on top of the old');
  assert.equal(await mountsAt(paths.mountNamespace), 1, 'the namespace is pinned');

  // A stack at down (however it came) goes too.
  await run('mount', ['--bind', paths.mountNamespaces, paths.mountNamespaces]);
  await removeMountNamespace(paths, created);
  assert.equal(existsSync(paths.run), false, `${paths.run} is gone`);
  const left = (await readFile('/proc/self/mountinfo', 'utf8')).includes(paths.run);
  assert.equal(left, false, 'no mount below the run folder is left');
});
