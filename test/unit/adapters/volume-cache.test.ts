// Restoring and saving pipeline caches on a folder standing for the cache volume
// (src/adapters/cache/volume-cache.ts): cold, then warm; a new lockfile is a new entry and the older
// goes; a missing key file is no cache; links are kept as links; one Pipeline never reads another's.
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  restoreCaches,
  saveCaches,
  type VolumeCacheOptions,
} from '../../../src/adapters/cache/volume-cache.ts';

const folders: string[] = [];
afterEach(async () => {
  await Promise.all(folders.splice(0).map((f) => rm(f, { recursive: true, force: true })));
});

const owner = { project: 'team-a', namespace: 'team-a', pipeline: 'web' };
const npm = { name: 'npm', key: 'package-lock.json', paths: ['node_modules', 'deep/.npm'] };

/** A volume and a fresh checkout with `lock` as its lockfile. */
async function setUp(): Promise<{
  volume: string;
  checkout: (lock?: string) => Promise<VolumeCacheOptions & { lines: string[] }>;
}> {
  const volume = await mkdtemp(join(tmpdir(), 'capstan-cache-volume-'));
  folders.push(volume);
  return {
    volume,
    checkout: async (lock) => {
      const workspace = await mkdtemp(join(tmpdir(), 'capstan-cache-ws-'));
      folders.push(workspace);
      if (lock !== undefined) await writeFile(join(workspace, 'package-lock.json'), lock);
      const lines: string[] = [];
      return { dir: volume, workspace, owner, caches: [npm], log: (line) => lines.push(line), lines };
    },
  };
}

describe('volume caches', () => {
  it('a first run starts cold and saves; a second run with the same lockfile finds what the first made', async () => {
    const { checkout } = await setUp();
    const first = await checkout('lock v1');
    assert.deepEqual(await restoreCaches(first), { restored: [] });
    assert.match(
      first.lines[0] ?? '',
      /^capstan: cache npm: no entry for key [0-9a-f]{12}; the steps start cold$/,
    );
    // What the first run's steps made.
    await mkdir(join(first.workspace, 'node_modules/left-pad'), { recursive: true });
    await writeFile(join(first.workspace, 'node_modules/left-pad/index.js'), 'module.exports = 1;\n');
    await mkdir(join(first.workspace, 'deep/.npm'), { recursive: true });
    await writeFile(join(first.workspace, 'deep/.npm/_cacache'), 'x');
    await symlink('/etc/passwd', join(first.workspace, 'node_modules/link'));
    assert.deepEqual(await saveCaches(first), { saved: ['npm'] });
    assert.deepEqual(await saveCaches(first), { saved: [] }, 'an entry is saved once');

    const second = await checkout('lock v1');
    assert.deepEqual(await restoreCaches(second), { restored: ['npm'] });
    assert.equal(
      await readFile(join(second.workspace, 'node_modules/left-pad/index.js'), 'utf8'),
      'module.exports = 1;\n',
    );
    assert.equal(await readFile(join(second.workspace, 'deep/.npm/_cacache'), 'utf8'), 'x');
    const link = join(second.workspace, 'node_modules/link');
    assert.ok((await lstat(link)).isSymbolicLink(), 'a link stays a link');
    assert.equal(await readlink(link), '/etc/passwd');
  });

  it('a new lockfile is a new entry, and the older entry goes', async () => {
    const { volume, checkout } = await setUp();
    const first = await checkout('lock v1');
    await mkdir(join(first.workspace, 'node_modules'), { recursive: true });
    await writeFile(join(first.workspace, 'node_modules/a'), '1');
    await saveCaches(first);
    const changed = await checkout('lock v2');
    assert.deepEqual(await restoreCaches(changed), { restored: [] });
    await mkdir(join(changed.workspace, 'node_modules'), { recursive: true });
    await writeFile(join(changed.workspace, 'node_modules/a'), '2');
    await saveCaches(changed);
    const entries = await readdir(join(volume, 'npm'));
    assert.equal(entries.length, 1, 'one entry per cache');
    const back = await checkout('lock v1');
    assert.deepEqual(await restoreCaches(back), { restored: [] }, 'the older entry is gone');
  });

  it('a checkout without the key file uses no cache, and says so', async () => {
    const { checkout } = await setUp();
    const none = await checkout();
    assert.deepEqual(await restoreCaches(none), { restored: [] });
    assert.deepEqual(await saveCaches(none), { saved: [] });
    assert.deepEqual(none.lines, [
      'capstan: cache npm: no package-lock.json in the checkout; not used',
      'capstan: cache npm: no package-lock.json in the checkout; not used',
    ]);
  });

  it("another Pipeline (or project) with the same lockfile does not read this one's entry", async () => {
    const { checkout } = await setUp();
    const web = await checkout('same lock');
    await mkdir(join(web.workspace, 'node_modules'), { recursive: true });
    await saveCaches(web);
    const api = await checkout('same lock');
    assert.deepEqual(await restoreCaches({ ...api, owner: { ...owner, pipeline: 'api' } }), { restored: [] });
    assert.deepEqual(await restoreCaches({ ...api, owner: { ...owner, project: 'team-b' } }), {
      restored: [],
    });
  });

  it('neither reads, saves nor restores through a link that leads out of the checkout', async () => {
    const { checkout } = await setUp();
    const outside = await mkdtemp(join(tmpdir(), 'capstan-cache-outside-'));
    folders.push(outside);
    await writeFile(join(outside, 'secret'), 'not for the cache');
    const first = await checkout('lock v1');
    // The repository commits `deep` as a link out of the checkout, and `node_modules` with it.
    await symlink(outside, join(first.workspace, 'deep'));
    await mkdir(join(first.workspace, 'node_modules'));
    await writeFile(join(first.workspace, 'node_modules/x.js'), '1');
    assert.deepEqual(await saveCaches(first), { saved: ['npm'] });
    assert.ok(first.lines.some((l) => /deep\/\.npm leads out of the checkout \(a link\); not saved/.test(l)));

    const second = await checkout('lock v1');
    await symlink(outside, join(second.workspace, 'deep'));
    assert.deepEqual(await restoreCaches(second), { restored: ['npm'] });
    assert.equal(await readFile(join(second.workspace, 'node_modules/x.js'), 'utf8'), '1');
    assert.deepEqual(await readdir(outside), ['secret'], 'nothing was written out of the checkout');

    const third = await checkout();
    await symlink(join(outside, 'secret'), join(third.workspace, 'package-lock.json'));
    assert.deepEqual(await restoreCaches(third), { restored: [] });
    assert.ok(third.lines.some((l) => /package-lock\.json leads out of the checkout/.test(l)));
  });
});
