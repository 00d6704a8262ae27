// The machine's image cache: the key is a digest of every input (a changed byte, mode, value or file
// changes it; an excluded folder and modification times do not), an image is built once per key and
// reused after, `refresh` builds again, a failed build leaves no entry, old entries are pruned.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  cachedBuild,
  imageCacheMode,
  imageCacheRoot,
  inputsKey,
} from '../../../src/devcluster/image-cache.ts';

describe('the image cache', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-image-cache-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  await mkdir(join(src, 'testing'), { recursive: true });
  await writeFile(join(src, 'a.ts'), 'export const a = 1;\n');
  await writeFile(join(src, 'testing', 'fake.ts'), 'fake\n');
  await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
  const inputs = (value = '1') => ({
    values: { base: value },
    files: [join(dir, 'Dockerfile')],
    trees: [{ dir: src, exclude: [join(src, 'testing')] }],
  });

  it('keys the inputs: bytes, modes, values and new files count; excluded folders and times do not', async () => {
    const first = await inputsKey(inputs());
    assert.match(first, /^[0-9a-f]{64}$/);
    assert.equal(await inputsKey(inputs()), first, 'the same inputs, the same key');
    const elsewhere = join(dir, 'elsewhere');
    await cp(src, join(elsewhere, 'src'), { recursive: true });
    await cp(join(dir, 'Dockerfile'), join(elsewhere, 'Dockerfile'));
    const copied = await inputsKey({
      values: { base: '1' },
      files: [join(elsewhere, 'Dockerfile')],
      trees: [{ dir: join(elsewhere, 'src'), exclude: [join(elsewhere, 'src', 'testing')] }],
    });
    assert.equal(copied, first, 'the same contents in another folder (another checkout), the same key');
    await utimes(join(src, 'a.ts'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    await writeFile(join(src, 'testing', 'fake.ts'), 'changed\n');
    assert.equal(await inputsKey(inputs()), first, 'times and excluded files do not count');
    assert.notEqual(await inputsKey(inputs('2')), first, 'a value counts');
    await writeFile(join(src, 'a.ts'), 'export const a = 2;\n');
    const edited = await inputsKey(inputs());
    assert.notEqual(edited, first, 'a changed byte counts');
    await chmod(join(src, 'a.ts'), 0o755);
    const executable = await inputsKey(inputs());
    assert.notEqual(executable, edited, 'a mode counts');
    await writeFile(join(src, 'b.ts'), '');
    assert.notEqual(await inputsKey(inputs()), executable, 'a new file counts');
    await rm(join(dir, 'Dockerfile'));
    assert.notEqual(await inputsKey(inputs()), executable, 'a missing file counts as missing');
    const absent = await inputsKey({ trees: [{ dir: join(dir, 'no-such-folder') }] });
    assert.notEqual(absent, await inputsKey({ trees: [{ dir: src }] }), 'a missing folder counts as missing');
  });

  it('builds once per key and reuses the entry after; refresh builds again', async () => {
    const root = join(dir, 'cache');
    let builds = 0;
    const build = async (into: string) => {
      builds += 1;
      await writeFile(join(into, 'image.tar'), `image ${String(builds)}`);
      return { digest: `sha256:${String(builds)}` };
    };
    const key = 'a'.repeat(64);
    const first = await cachedBuild({ name: 'img', key, build, root, mode: 'use' });
    assert.deepEqual([first.reused, first.result, builds], [false, { digest: 'sha256:1' }, 1]);
    const second = await cachedBuild({ name: 'img', key, build, root, mode: 'use' });
    assert.deepEqual([second.reused, second.result, builds], [true, { digest: 'sha256:1' }, 1]);
    assert.equal(await readFile(join(second.dir, 'image.tar'), 'utf8'), 'image 1');
    const refreshed = await cachedBuild({ name: 'img', key, build, root, mode: 'refresh' });
    assert.deepEqual([refreshed.reused, refreshed.result, builds], [false, { digest: 'sha256:2' }, 2]);
    assert.equal(await readFile(join(refreshed.dir, 'image.tar'), 'utf8'), 'image 2');
  });

  it('keeps nothing of a failed build, and the error is the build’s', async () => {
    const root = join(dir, 'failing');
    const key = 'b'.repeat(64);
    await assert.rejects(
      cachedBuild({
        name: 'img',
        key,
        root,
        mode: 'use',
        build: async (into) => {
          await writeFile(join(into, 'half.tar'), 'half');
          throw new Error('the build failed');
        },
      }),
      /the build failed/,
    );
    assert.deepEqual(await readdir(join(root, 'img')), [], 'no entry and no half-written folder');
  });

  it('keeps the three newest entries of a name', async () => {
    const root = join(dir, 'pruned');
    const keys = ['1', '2', '3', '4'].map((c) => c.repeat(64));
    for (const [i, key] of keys.entries()) {
      const entry = await cachedBuild({
        name: 'img',
        key,
        root,
        mode: 'use',
        build: () => Promise.resolve({ key }),
      });
      await utimes(entry.dir, new Date(2020, 0, i + 1), new Date(2020, 0, i + 1));
    }
    assert.ok(!existsSync(join(root, 'img', keys[0] ?? '')), 'the oldest is gone');
    assert.deepEqual((await readdir(join(root, 'img'))).sort(), keys.slice(1).sort());
  });

  it('lives outside the repository, under the Capstan cache folder, and refuses an unknown mode', () => {
    assert.equal(imageCacheRoot({ CAPSTAN_CACHE_DIR: '/c' }), '/c/images');
    assert.equal(imageCacheRoot({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/capstan/images');
    assert.equal(imageCacheMode({}), 'use');
    assert.equal(imageCacheMode({ CAPSTAN_IMAGE_CACHE: 'refresh' }), 'refresh');
    assert.throws(() => imageCacheMode({ CAPSTAN_IMAGE_CACHE: 'sometimes' }), /IMAGE_CACHE|not a cache mode/);
  });
});
