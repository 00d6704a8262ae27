// scripts/build-binaries.sh with a real Go toolchain: clear messages when Go is missing or a build fails,
// and one build at a time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BUILD_SCRIPT, ensureBinaries } from '../../src/devcluster/binaries.ts';
import { CapstanError } from '../../src/core/errors.ts';

function script(env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [BUILD_SCRIPT], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stderr });
    });
  });
}

describe('build-binaries.sh', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-build-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('says that no Go toolchain was found, with exit 3, and ensureBinaries reports it as such', async () => {
    const r = await script({ CAPSTAN_GO: join(dir, 'no-go-here'), CAPSTAN_CACHE_DIR: dir });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no Go toolchain: .* is not on PATH\. Install Go 1\.26 or newer/);
    // The message ends with its sentence: the exit code is the exit code, not part of the text.
    assert.match(r.stderr, /and run again\.\n$/);
    await assert.rejects(
      ensureBinaries({
        env: { ...process.env, CAPSTAN_GO: join(dir, 'no-go-here'), CAPSTAN_CACHE_DIR: dir },
      }),
      (error: unknown) =>
        error instanceof CapstanError &&
        error.code === 'GO_TOOLCHAIN_MISSING' &&
        /Install Go/.test(error.message),
    );
  });

  it('fails clearly when the build fails, and waits for a build already running', async () => {
    const cache = join(dir, 'cache');
    await mkdir(join(cache, 'bin'), { recursive: true });
    // Hold the build lock for a moment, as another build would.
    const holder = spawn('flock', [join(cache, 'bin', '.lock'), 'sleep', '1.5'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const r = await script({
      CAPSTAN_CACHE_DIR: cache,
      GOPROXY: 'off',
      GOMODCACHE: join(dir, 'empty-modcache'),
      GOCACHE: join(dir, 'gocache'),
    });
    holder.kill();
    assert.match(r.stderr, /another build is running; waiting for it to finish/);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /build-binaries: error: resolving k8s\.io\/kubernetes v1\.36\.\d+ failed/);
  });
});
