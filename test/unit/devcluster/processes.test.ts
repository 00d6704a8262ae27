import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import {
  deadlineAfter,
  isRunning,
  pidAlive,
  processStartTime,
  startProcess,
  stopProcess,
  waitUntil,
  whyNotRunning,
} from '../../../src/devcluster/processes.ts';
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

  it('a program that dies during start-up is reported with how it ended: its exit code, or the signal from outside', async () => {
    const failing = startProcess({
      name: 'failing',
      binary: '/bin/sh',
      args: ['-c', 'exit 3'],
      log: join(dir, 'failing.log'),
    });
    await assert.rejects(
      waitUntil(failing, Date.now() + 10_000, 'the failing program', () => Promise.resolve(false)),
      (error: Error) => {
        assert.match(error.message, /^failing exited during start-up \(exit code 3\)\. Last lines of /);
        return true;
      },
    );
    // Killed by someone else before it said it was ready: its log is empty, the signal tells what happened.
    const killed = startProcess({
      name: 'killed',
      binary: '/bin/sh',
      args: ['-c', 'sleep 60; :'],
      log: join(dir, 'killed.log'),
    });
    process.kill(-killed.pid, 'SIGTERM'); // its group: the shell and its sleep
    await assert.rejects(
      waitUntil(killed, Date.now() + 10_000, 'the killed program', () => Promise.resolve(false)),
      /killed exited during start-up \(killed by SIGTERM\)/,
    );
    // Nothing this process started: what /proc says of the pid.
    assert.match(await whyNotRunning({ pid: process.pid, binary: '/no/such/binary' }), /now runs .*node/);
    assert.match(await whyNotRunning({ pid: 2 ** 22 + 7, binary: '/bin/sh' }), /is gone/);
  });

  it('does not take a reused pid for the recorded program', async () => {
    assert.equal(isRunning({ pid: process.pid, binary: '/no/such/binary' }), false);
    assert.equal(isRunning({ pid: 2 ** 22 + 7, binary: '/bin/sh' }), false);
    // The same binary under a reused pid (another cluster's forwarder): told apart by the start time.
    const record = startProcess({
      name: 'sleeper',
      binary: '/bin/sh',
      // Two commands: a shell that execs its last command would no longer be /bin/sh.
      args: ['-c', 'sleep 60; :'],
      log: join(dir, 'sleeper.log'),
    });
    after(() => stopProcess(record, { kill: true }));
    assert.equal(record.startTime, processStartTime(record.pid));
    assert.ok(record.startTime !== undefined && record.startTime > 0);
    assert.equal(isRunning(record), true);
    const earlier = { ...record, startTime: (record.startTime ?? 0) - 1 };
    assert.equal(isRunning(earlier), false);
    assert.match(await whyNotRunning(earlier), /is another one, started since \(the pid was reused\)/);
    // A record written before start times were kept is judged by its binary alone.
    const { startTime: _older, ...older } = record;
    assert.equal(isRunning(older), true);
  });

  it('pidAlive: a running process is alive, an unreaped (zombie) one and an unknown pid are not', async () => {
    // The shell starts a child, then becomes a program that never reaps: the child, killed once the shell
    // is gone, stays a zombie. (A child that exits before the exec may be reaped by the shell itself: on a
    // busy machine it was, 10 times in 200, and the zombie this test needs never existed.)
    const parent = spawn('/bin/sh', ['-c', 'sleep 60 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    after(() => parent.kill('SIGKILL'));
    const pid = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (b: Buffer) => {
        resolve(Number(b.toString().trim()));
      }),
    );
    const argv0 = async (of: number) => (await readFile(`/proc/${of}/cmdline`, 'utf8')).split('\0')[0];
    await eventually(async () => (await argv0(parent.pid ?? 0)) === 'sleep', {
      what: 'the shell replaced by sleep',
      timeoutMs: 10_000,
    });
    assert.equal(pidAlive(process.pid), true);
    assert.equal(pidAlive(parent.pid ?? 0), true);
    assert.equal(pidAlive(pid), true);
    process.kill(pid, 'SIGKILL');
    // Before the zombie rule was shared, the lock file's copy counted it alive (it only sent signal 0).
    await eventually(() => !pidAlive(pid), { what: 'the killed child seen as gone', timeoutMs: 10_000 });
    assert.doesNotThrow(
      () => process.kill(pid, 0),
      'the zombie still exists: signal 0 alone would say alive',
    );
    assert.equal(pidAlive(2 ** 22 + 1), false);
  });
});

describe('deadlineAfter', () => {
  // The first `up --real-node` on a new machine builds the node's binaries (262 s on two cores) inside the
  // step whose end started containerd; the cluster's 150 s had run out and containerd failed at once.
  it('gives the ready time again from the end of a step that took longer than the deadline', async () => {
    const clock = { now: 1000 };
    const step = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      clock.now = 400_000; // the step built for four minutes and more
    });
    assert.equal(await deadlineAfter(step, 151_000, 150_000, () => clock.now), 550_000);
  });

  it('keeps the deadline when the step ended in time', async () => {
    assert.equal(await deadlineAfter(Promise.resolve(), 151_000, 150_000, () => 2_000), 152_000);
    assert.equal(await deadlineAfter(Promise.resolve(), 151_000, 100, () => 2_000), 151_000);
  });

  it('never rejects: a failed step keeps the deadline and is reported by whoever awaits it', async () => {
    const failed = Promise.reject(new Error('build failed'));
    failed.catch(() => undefined);
    assert.equal(await deadlineAfter(failed, 151_000, 150_000), 151_000);
  });
});
