import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CapstanError } from '../../../src/core/errors.ts';
import { cleanEnv, run } from '../../../src/devcluster/exec.ts';
import { pidAlive } from '../../../src/devcluster/processes.ts';
import { eventually } from '../../../src/testing/eventually.ts';

describe('run (external programs)', () => {
  it('returns stdout and stderr of a program given as an argument array, with no shell', async () => {
    const result = await run('printf', ['%s|', 'a b', '$(id)', ';rm']);
    assert.equal(result.stdout, 'a b|$(id)|;rm|');
  });

  it('kills the whole process group after the time limit and says so', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-exec-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'background.pid');
    // A child in the background, its pid written down: the limit must end it too, not only the shell.
    const running = run('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; sleep 30`], { timeoutMs: 300 });
    await assert.rejects(running, (error: unknown) => {
      assert.ok(error instanceof CapstanError);
      assert.equal(error.code, 'EXEC_TIMEOUT');
      assert.equal(error.retryable, true);
      assert.match(error.message, /did not finish within 300 ms/);
      return true;
    });
    const background = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(background > 0);
    await eventually(() => !pidAlive(background), {
      what: 'the background child killed with its group (it would live 30 s)',
      timeoutMs: 10_000,
    });
  });

  it('names a missing program', async () => {
    await assert.rejects(
      run('capstan-no-such-program', []),
      /capstan-no-such-program' was not found on PATH/,
    );
  });

  it('reports a failing program with the end of its stderr', async () => {
    await assert.rejects(
      run('sh', ['-c', 'echo first >&2; echo "the real reason" >&2; exit 3']),
      /the real reason/,
    );
  });

  it('bounds the output it keeps', async () => {
    const result = await run('head', ['-c', '5000000', '/dev/zero'], { maxOutputBytes: 1024 });
    assert.ok(result.stdout.length <= 64 * 1024, `kept ${result.stdout.length} bytes`);
  });

  it('gives children a clean environment', async () => {
    process.env['CAPSTAN_SECRET_FOR_TEST'] = 'hunter2';
    try {
      const result = await run('env', []);
      assert.doesNotMatch(result.stdout, /hunter2/);
      assert.deepEqual(
        Object.keys(cleanEnv({ A: '1' })).sort(),
        ['A', 'HOME', 'LANG', 'PATH'].filter((k) => k !== 'HOME' || process.env['HOME']),
      );
    } finally {
      delete process.env['CAPSTAN_SECRET_FOR_TEST'];
    }
  });
});
