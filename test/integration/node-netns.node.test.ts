// The node's network namespace: one left empty by an interrupted run (its processes killed, its
// state folder removed) is replaced by the next 'up'; one with a process in it is a running node and
// is refused, untouched. Node tier: needs root. (CI once failed every node test on such a leftover.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { it } from 'node:test';
import { CapstanError } from '../../src/core/errors.ts';
import { run } from '../../src/devcluster/exec.ts';
import { NODE_NETWORK, netnsName } from '../../src/devcluster/node-config.ts';
import { createNodeNetns, removeNodeNetns } from '../../src/devcluster/node-host.ts';

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
