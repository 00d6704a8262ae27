// Packing a root file system into an OCI image archive: the same files give the same digest, whatever
// their times; a changed file or a changed entrypoint gives another; the archive is a valid layout.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { run } from '../../../src/devcluster/exec.ts';
import { packImage } from '../../../src/devcluster/oci-image.ts';

describe('OCI image archives from a root file system', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-oci-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await writeFile(join(rootfs, 'bin', 'hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  await writeFile(join(rootfs, 'greeting'), 'hi\n');
  const pack = (output: string, entrypoint = ['/bin/hello']) =>
    packImage({
      rootfs,
      reference: 'capstan.local/hello:1',
      runtime: { entrypoint },
      output: join(dir, output),
    });

  it('gives the same digest for the same files, even with other modification times', async () => {
    const first = await pack('a.tar');
    await utimes(join(rootfs, 'greeting'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const second = await pack('b.tar');
    assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(second.digest, first.digest);
    assert.deepEqual(
      await readFile(second.archive),
      await readFile(first.archive),
      'the archives are byte for byte the same',
    );
  });

  it('gives another digest when a file or the entrypoint changes', async () => {
    const before = await pack('c.tar');
    assert.notEqual((await pack('d.tar', ['/bin/sh'])).digest, before.digest);
    await writeFile(join(rootfs, 'greeting'), 'hello\n');
    assert.notEqual((await pack('e.tar')).digest, before.digest);
  });

  it('writes an OCI layout whose index names the image and whose blobs match their digests', async () => {
    const image = await pack('f.tar');
    const layout = join(dir, 'layout');
    await mkdir(layout);
    await run('tar', ['-xf', image.archive, '-C', layout]);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string; annotations: Partial<Record<string, string>> }[];
    };
    const [entry] = index.manifests;
    assert.ok(entry);
    assert.equal(entry.digest, image.digest);
    assert.equal(entry.annotations['io.containerd.image.name'], 'capstan.local/hello:1');
    const blob = async (digest: string) =>
      readFile(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)));
    const manifest = JSON.parse((await blob(image.digest)).toString()) as {
      config: { digest: string };
      layers: { digest: string; mediaType: string }[];
    };
    for (const d of [image.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)])
      assert.equal(
        `sha256:${createHash('sha256')
          .update(await blob(d))
          .digest('hex')}`,
        d,
      );
    const config = JSON.parse((await blob(manifest.config.digest)).toString()) as {
      config: { Entrypoint: string[] };
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(config.config.Entrypoint, ['/bin/hello']);
    assert.deepEqual(config.rootfs.diff_ids, [manifest.layers[0]?.digest]);
    const listing = (
      await run('tar', ['-tvf', join(layout, 'blobs', 'sha256', (manifest.layers[0]?.digest ?? '').slice(7))])
    ).stdout;
    assert.match(listing, / 0\/0 .* 1970-01-01 00:00 \.\/bin\/hello$/m, 'owners 0, time 0');
  });
});
