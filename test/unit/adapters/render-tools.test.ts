// Where kustomize, helm and jsonnet come from (src/adapters/render/tools.ts with the real scripts/build-tool.sh):
// the variable, PATH, the binary caches, and a build of the one tool only when nothing provides it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CapstanError } from '../../../src/core/errors.ts';
import { findTool, lazyTool } from '../../../src/adapters/render/tools.ts';

/** The first executable of that name on this process's PATH. */
async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir === '') continue;
    const ok = await access(join(dir, name), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) return join(dir, name);
  }
  return undefined;
}

/** GOMODCACHE, GOCACHE and GOPATH as `go env` reports them for this user. */
async function goCaches(go: string): Promise<NodeJS.ProcessEnv> {
  const { stdout } = await promisify(execFile)(go, ['env', 'GOMODCACHE', 'GOCACHE', 'GOPATH']);
  const [GOMODCACHE = '', GOCACHE = '', GOPATH = ''] = stdout.trim().split('\n');
  return { GOMODCACHE, GOCACHE, GOPATH };
}

/** PATH with the folders of node and bash only: no kustomize, helm or go. */
const BARE_PATH = [dirname(process.execPath), '/usr/bin', '/bin'].join(':');

describe('finding a rendering tool', async () => {
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-tools-'));
  after(() => rm(scratch, { recursive: true, force: true }));
  const program = async (path: string) => {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, '#!/bin/sh\necho tool\n');
    await chmod(path, 0o755);
    return path;
  };
  const noGo = join(scratch, 'no-such-go');
  const cache = join(scratch, 'cache');
  /** An environment with nothing that provides the tool, a cache of its own and a Go that does not exist. */
  const bare = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: BARE_PATH,
    HOME: scratch,
    CAPSTAN_CACHE_DIR: cache,
    CAPSTAN_GO: noGo,
    ...extra,
  });

  it('takes CAPSTAN_KUSTOMIZE first, even when one is on PATH', async () => {
    const given = await program(join(scratch, 'given', 'my-kustomize'));
    const onPath = await program(join(scratch, 'path1', 'kustomize'));
    const env = bare({ CAPSTAN_KUSTOMIZE: given, PATH: `${dirname(onPath)}:${BARE_PATH}` });
    assert.equal(await findTool('kustomize', { env }), given);
  });

  it('refuses a CAPSTAN_HELM that names no program, naming the variable', async () => {
    const env = bare({ CAPSTAN_HELM: join(scratch, 'nowhere', 'helm') });
    await assert.rejects(findTool('helm', { env }), (error: unknown) => {
      assert.ok(error instanceof CapstanError);
      assert.equal(error.code, 'RENDER_TOOL_MISSING');
      assert.match(
        error.message,
        /^CAPSTAN_HELM=\S+ is not an executable file: point it at the helm program/,
      );
      return true;
    });
  });

  it('takes the tool from PATH before any cache', async () => {
    const onPath = await program(join(scratch, 'path2', 'helm'));
    await program(join(scratch, 'bin-dir', 'helm'));
    const env = bare({ PATH: `${dirname(onPath)}:${BARE_PATH}`, CAPSTAN_BIN_DIR: join(scratch, 'bin-dir') });
    assert.equal(await findTool('helm', { env }), onPath);
  });

  it('takes CAPSTAN_BIN_DIR when PATH has none', async () => {
    const inBinDir = await program(join(scratch, 'bin-dir2', 'kustomize'));
    assert.equal(
      await findTool('kustomize', { env: bare({ CAPSTAN_BIN_DIR: dirname(inBinDir) }) }),
      inBinDir,
    );
  });

  it("uses the control-plane set's copy when that set is complete and of the pinned version", async () => {
    const own = join(scratch, 'cache-set');
    const set = join(own, 'bin', 'k8s-v1.36.3_etcd-v3.6.16_kwok-v0.8.0_kustomize-v5.8.1_helm-v3.21.4_r2');
    const helm = await program(join(set, 'helm'));
    const env = bare({ CAPSTAN_CACHE_DIR: own });
    // Incomplete (a build in progress): not used, and without Go nothing is built.
    await assert.rejects(findTool('helm', { env }), { code: 'RENDER_TOOL_MISSING' });
    await writeFile(join(set, '.complete'), '');
    assert.equal(await findTool('helm', { env }), helm);
  });

  it("uses build-tool.sh's own cache of one tool", async () => {
    const own = join(scratch, 'cache-tool');
    const kustomize = await program(join(own, 'tools', 'kustomize-v5.8.1', 'kustomize'));
    await writeFile(join(own, 'tools', 'kustomize-v5.8.1', '.complete'), '');
    assert.equal(await findTool('kustomize', { env: bare({ CAPSTAN_CACHE_DIR: own }) }), kustomize);
  });

  it('without the tool and without Go: says what to do, and the message carries no exit code', async () => {
    const steps: string[] = [];
    await assert.rejects(
      findTool('kustomize', { env: bare(), progress: (l) => steps.push(l) }),
      (error: unknown) => {
        assert.ok(error instanceof CapstanError);
        assert.equal(error.code, 'RENDER_TOOL_MISSING');
        assert.match(
          error.message,
          /kustomize v5\.8\.1 is not installed and there is no Go toolchain to build it/,
        );
        assert.match(
          error.message,
          /put kustomize on PATH, set CAPSTAN_KUSTOMIZE to its path, or install Go/,
        );
        assert.doesNotMatch(error.message, /\s\d+\s*$/);
        return true;
      },
    );
    assert.deepEqual(steps, [], 'nothing was built, so nothing is said to be built');
  });

  it('builds jsonnet alone from Go modules when nothing provides it, says so, then finds it in its cache', async (t) => {
    const go = await findOnPath('go');
    if (go === undefined) {
      t.skip('no Go toolchain on PATH');
      return;
    }
    const own = join(scratch, 'cache-build');
    // The machine's Go module and build caches (a build from them needs no download), this test's own tool cache.
    const goEnv = await goCaches(go);
    const env = bare({ CAPSTAN_CACHE_DIR: own, CAPSTAN_GO: go, ...goEnv });
    const steps: string[] = [];
    const built = await findTool('jsonnet', { env, progress: (line) => steps.push(line) });
    assert.equal(built, join(own, 'tools', 'jsonnet-v0.22.0', 'jsonnet'));
    assert.match(
      steps[0] ?? '',
      /^building jsonnet v0\.22\.0 from Go modules into .* \(only this tool, once; /,
    );
    assert.match(steps.at(-1) ?? '', /^built jsonnet v0\.22\.0 in \d+s$/);
    assert.deepEqual(
      await readdir(join(own, 'tools')),
      ['.lock-jsonnet', 'jsonnet-v0.22.0'],
      'nothing else built',
    );
    const { stdout: output } = await promisify(execFile)(built, ['--version']);
    assert.match(output, /Jsonnet commandline interpreter \(Go implementation\) v0\.22\.0/);
    // The second time it is found in the cache: nothing is built, nothing said.
    const again: string[] = [];
    assert.equal(await findTool('jsonnet', { env, progress: (line) => again.push(line) }), built);
    assert.deepEqual(again, []);
  });

  it('a lazy locator looks only when asked, once, and again after a failure', async () => {
    const dir = join(scratch, 'path3');
    const env = bare({ PATH: `${dir}:${BARE_PATH}` });
    const locate = lazyTool('helm', { env });
    await assert.rejects(locate(), { code: 'RENDER_TOOL_MISSING' });
    const helm = await program(join(dir, 'helm'));
    assert.equal(await locate(), helm);
    await rm(helm);
    assert.equal(await locate(), helm, 'the answer is remembered');
  });
});
