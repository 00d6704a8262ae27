import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readHolder, takeLock } from '../../../src/devcluster/lockfile.ts';

const lockPath = () => join(mkdtempSync(join(tmpdir(), 'capstan-lock-')), 'test.lock');
/** The id of a process that has exited. */
const deadPid = () => {
  const pid = spawnSync(process.execPath, ['-e', '']).pid;
  assert.ok(pid);
  return pid;
};

describe('lock files', () => {
  it('is held by one taker at a time, naming the holder, until released', () => {
    const path = lockPath();
    const first = takeLock(path, 'test run in /a');
    assert.ok('release' in first);
    const second = takeLock(path, 'test run in /b');
    assert.ok('heldBy' in second);
    assert.equal(second.heldBy.pid, process.pid);
    assert.equal(second.heldBy.what, 'test run in /a');
    assert.match(second.heldBy.since ?? '', /^\d{4}-\d\d-\d\dT/);
    first.release();
    assert.equal(existsSync(path), false);
    const third = takeLock(path, 'test run in /b');
    assert.ok('release' in third);
    third.release();
  });

  it('takes over a lock whose process is gone', () => {
    const path = lockPath();
    writeFileSync(path, JSON.stringify({ pid: deadPid(), what: 'a run that crashed' }));
    const taken = takeLock(path, 'test run in /c');
    assert.ok('release' in taken);
    assert.equal(readHolder(path)?.what, 'test run in /c');
    taken.release();
  });

  it('takes over a lock whose pid was reused by another process (its start time differs)', () => {
    const path = lockPath();
    const taken = takeLock(path, 'test run in /d');
    assert.ok('release' in taken);
    const holder = readHolder(path);
    assert.ok(holder?.startTime !== undefined, 'the holder’s start time is written');
    // The same pid, alive, but started at another time: a process that got the crashed holder's pid.
    writeFileSync(path, JSON.stringify({ ...holder, startTime: holder.startTime - 1, what: 'reused' }));
    const again = takeLock(path, 'test run in /e');
    assert.ok('release' in again, 'not refused by a process that only has the same pid');
    assert.equal(readHolder(path)?.what, 'test run in /e');
    again.release();
  });

  it('reads the older form, a bare process id, and holds against it while that process lives', () => {
    const path = lockPath();
    writeFileSync(path, String(process.pid));
    assert.deepEqual(readHolder(path), { pid: process.pid });
    assert.ok('heldBy' in takeLock(path, 'up or down'));
    writeFileSync(path, String(deadPid()));
    assert.ok('release' in takeLock(path, 'up or down'));
  });

  it('does not remove a lock another process took after this one lost it', () => {
    const path = lockPath();
    const mine = takeLock(path, 'mine');
    assert.ok('release' in mine);
    const other = { pid: process.ppid, what: 'theirs' };
    writeFileSync(path, JSON.stringify(other));
    mine.release();
    assert.equal(readHolder(path)?.what, 'theirs');
  });

  it('treats an unreadable lock file as stale', () => {
    const path = lockPath();
    writeFileSync(path, 'not a lock');
    assert.equal(readHolder(path), undefined);
    assert.ok('release' in takeLock(path, 'up or down'));
  });
});
