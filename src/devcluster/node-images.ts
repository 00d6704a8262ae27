import { copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { run } from './exec.ts';
import { LOCAL_IMAGES } from './node-config.ts';
import { packImage, type PackedImage } from './oci-image.ts';

/** Debian's busybox-static: one static binary that is every small tool a test pod needs. */
export const BUSYBOX = '/bin/busybox';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/** The sandbox image: our pause program alone. */
export async function buildPauseImage(options: { binDir: string; workDir: string }): Promise<PackedImage> {
  const rootfs = join(options.workDir, 'pause-rootfs');
  await rm(rootfs, { recursive: true, force: true });
  await mkdir(rootfs, { recursive: true });
  await copyFile(join(options.binDir, 'capstan-pause'), join(rootfs, 'pause'));
  const image = await packImage({
    rootfs,
    reference: LOCAL_IMAGES.pause,
    runtime: { entrypoint: ['/pause'], user: '65534:65534' },
    output: join(options.workDir, 'pause.oci.tar'),
  });
  await rm(rootfs, { recursive: true, force: true });
  return image;
}

/** A small image for test pods: busybox with a link per applet, /etc/passwd, /tmp. */
export async function buildBusyboxImage(options: { workDir: string }): Promise<PackedImage> {
  const rootfs = join(options.workDir, 'busybox-rootfs');
  await rm(rootfs, { recursive: true, force: true });
  for (const dir of ['bin', 'etc', 'tmp', 'root']) await mkdir(join(rootfs, dir), { recursive: true });
  let applets: string;
  try {
    applets = (await run(BUSYBOX, ['--list'])).stdout;
  } catch (error) {
    throw new CapstanError(
      'NODE_BUSYBOX_MISSING',
      `${BUSYBOX} cannot run: install Debian's busybox-static (scripts/setup-node.sh does)`,
      { cause: error },
    );
  }
  await copyFile(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  for (const applet of applets.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox'))
    await symlink('busybox', join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc', 'passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc', 'group'), GROUP);
  const image = await packImage({
    rootfs,
    reference: LOCAL_IMAGES.busybox,
    runtime: { entrypoint: ['/bin/sh'], env: ['PATH=/bin'] },
    output: join(options.workDir, 'busybox.oci.tar'),
  });
  await rm(rootfs, { recursive: true, force: true });
  return image;
}

/** Imports an OCI archive into the node's containerd, in the namespace the kubelet uses. */
export async function importImage(options: {
  ctr: string;
  socket: string;
  image: PackedImage;
}): Promise<void> {
  await run(
    options.ctr,
    [
      '--address',
      options.socket,
      '--namespace',
      'k8s.io',
      'images',
      'import',
      '--platform',
      'linux/amd64',
      options.image.archive,
    ],
    { timeoutMs: 120_000 },
  );
}
