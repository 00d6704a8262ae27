import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isRunning, startProcess, stopProcess } from '../../../src/devcluster/processes.ts';
import { eventually } from '../../../src/testing/eventually.ts';

describe('managed processes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-proc-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('starts a program detached with its output in a log, and stops it by pid', async () => {
    const record = startProcess({
      name: 'echoer',
      binary: '/bin/sh',
      args: ['-c', 'echo started; sleep 60'],
      log: join(dir, 'echoer.log'),
    });
    assert.ok(record.pid > 0);
    assert.equal(isRunning(record), true);
    // Its output reaches the log (wait for it: on a busy machine the shell may not have run yet).
    await eventually(async () => (await readFile(record.log, 'utf8')).includes('started'), {
      what: 'output in the log',
      timeoutMs: 10_000,
    });
    await stopProcess(record);
    assert.equal(isRunning(record), false);
  });

  it('kills a program that ignores SIGTERM after the grace period, children included', async () => {
    const record = startProcess({
      name: 'stubborn',
      binary: '/bin/sh',
      args: ['-c', "trap '' TERM; sleep 60 & wait"],
      log: join(dir, 'stubborn.log'),
    });
    await new Promise((r) => setTimeout(r, 200));
    await stopProcess(record, { graceMs: 300 });
    assert.equal(isRunning(record), false);
  });

  it('does not take a reused pid for the recorded program', () => {
    assert.equal(isRunning({ pid: process.pid, binary: '/no/such/binary' }), false);
    assert.equal(isRunning({ pid: 2 ** 22 + 7, binary: '/bin/sh' }), false);
  });
});
