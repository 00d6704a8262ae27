// unmountBelow: what a killed build leaves mounted inside a directory (mmdebstrap mounts /proc, /sys and
// /dev into its target) is unmounted, deepest first, so the directory can be removed; mounts elsewhere
// stay. Node tier: needs root.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { run } from '../../src/devcluster/exec.ts';
import { unmountBelow } from '../../src/devcluster/node-host.ts';

const mountTargets = async (): Promise<string[]> =>
  (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((line) => line.split(' ')[4] ?? '');

it('unmounts nested mounts left in a directory, and leaves a sibling mounted', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'capstan-unmount-'));
  const rootfs = join(base, 'rootfs');
  const sibling = join(base, 'rootfs-other');
  t.after(async () => {
    await run('umount', ['--lazy', sibling]).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });
  for (const dir of [join(rootfs, 'proc'), join(rootfs, 'dev'), sibling])
    await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'proc', 'proc', join(rootfs, 'proc')]);
  await run('mount', ['-t', 'tmpfs', 'tmpfs', join(rootfs, 'dev')]);
  await mkdir(join(rootfs, 'dev', 'shm'));
  await run('mount', ['-t', 'tmpfs', 'tmpfs', join(rootfs, 'dev', 'shm')]);
  await run('mount', ['-t', 'tmpfs', 'tmpfs', sibling]);
  await assert.rejects(
    rm(rootfs, { recursive: true, force: true }),
    /EBUSY/,
    'a mount point cannot be removed',
  );

  await unmountBelow(rootfs);

  const targets = await mountTargets();
  assert.deepEqual(
    targets.filter((target) => target.startsWith(`${rootfs}/`)),
    [],
  );
  assert.ok(targets.includes(sibling), 'a directory whose name only starts the same stays mounted');
  await rm(rootfs, { recursive: true });
});
