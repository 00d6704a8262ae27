import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { thawCgroups } from '../../../src/devcluster/node-host.ts';

/** A cgroup hierarchy as the kernel shows one: a folder with cgroup.procs, then the cgroups below it. */
async function hierarchy(fs: string, name: string, cgroups: Record<string, Record<string, string>>) {
  await mkdir(join(fs, name), { recursive: true });
  await writeFile(join(fs, name, 'cgroup.procs'), '');
  for (const [path, files] of Object.entries(cgroups)) {
    await mkdir(join(fs, name, path), { recursive: true });
    for (const [file, content] of Object.entries(files)) await writeFile(join(fs, name, path, file), content);
  }
}

test('thawCgroups thaws the frozen cgroups of the cluster (v1 freezer and v2), only those', async (t) => {
  const fs = await mkdtemp(join(tmpdir(), 'capstan-cgroups-'));
  t.after(() => rm(fs, { recursive: true, force: true }));
  await hierarchy(fs, 'freezer', {
    'capstan-demo': { 'freezer.state': 'THAWED\n' },
    'capstan-demo/pod-a/ctr': { 'freezer.state': 'FROZEN\n' },
    'capstan-demo/pod-b': { 'freezer.state': 'THAWED\n' },
    'capstan-other/pod': { 'freezer.state': 'FROZEN\n' },
  });
  await hierarchy(fs, 'unified', {
    'capstan-demo/pod-a': { 'cgroup.freeze': '1\n' },
    'capstan-demo/pod-b': { 'cgroup.freeze': '0\n' },
  });
  // Not a hierarchy (no cgroup.procs): left alone.
  await mkdir(join(fs, 'systemd', 'capstan-demo'), { recursive: true });
  await writeFile(join(fs, 'systemd', 'capstan-demo', 'freezer.state'), 'FROZEN\n');

  const thawed = await thawCgroups('demo', fs);
  assert.deepEqual(thawed.sort(), [
    join(fs, 'freezer', 'capstan-demo', 'pod-a', 'ctr'),
    join(fs, 'unified', 'capstan-demo', 'pod-a'),
  ]);
  const read = (...path: string[]) => readFile(join(fs, ...path), 'utf8');
  assert.equal(await read('freezer', 'capstan-demo', 'pod-a', 'ctr', 'freezer.state'), 'THAWED');
  assert.equal(await read('unified', 'capstan-demo', 'pod-a', 'cgroup.freeze'), '0');
  assert.equal(
    await read('freezer', 'capstan-other', 'pod', 'freezer.state'),
    'FROZEN\n',
    "another cluster's",
  );
  assert.equal(await read('systemd', 'capstan-demo', 'freezer.state'), 'FROZEN\n');
  assert.deepEqual(await thawCgroups('demo', fs), [], 'nothing frozen is left');
  assert.deepEqual(await thawCgroups('absent', fs), []);
});
