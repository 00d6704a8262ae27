import { access, chmod, copyFile, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { cleanEnv, run } from './exec.ts';
import { unmountBelow } from './node-host.ts';
import { publishThroughCache, type ImageInputs } from './image-cache.ts';
import { OCI_IMAGE_SOURCE, packImage, type PackedImage } from './oci-image.ts';
import { pushArchive, type RegistryState } from './registry.ts';

/**
 * Base images made from Debian's packages, with no outside image registry: mmdebstrap builds a root
 * file system from the machine's configured Debian sources, and packImage turns it into an OCI image
 * with fixed times and owners. With SOURCE_DATE_EPOCH set and the files that record the moment of
 * the build removed, the same package versions give the same digest.
 */

export const DEBIAN_SUITE = 'bookworm';
/** What the Node.js runtime needs beside node itself (libstdc++), and what the agent runs (git, ssh, bubblewrap for the render sandbox). */
export const NODE_RUNTIME_PACKAGES = [
  'ca-certificates',
  'tzdata',
  'libstdc++6',
  'git',
  'openssh-client',
  'bubblewrap',
];
/** A numeric non-root user, as Kubernetes' runAsNonRoot checks. */
export const NONROOT = { uid: 65532, name: 'nonroot' } as const;

/** Files that record when or where a root file system was made, not what is in it. */
const UNREPRODUCIBLE = [
  'var/log',
  'var/cache/ldconfig/aux-cache',
  'var/cache/apt',
  'var/lib/apt/lists',
  'var/cache/debconf/templates.dat-old',
  'var/lib/dpkg/status-old',
  'var/lib/dpkg/diversions-old',
  'etc/machine-id',
  'etc/hostname',
  'etc/resolv.conf',
];

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The machine's Debian sources (deb822 or one-line format), which mmdebstrap reads like apt does. */
async function debianSources(): Promise<string> {
  const dir = '/etc/apt/sources.list.d';
  const deb822 = (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.sources'))
    .sort();
  if (deb822[0]) return join(dir, deb822[0]);
  if (await exists('/etc/apt/sources.list')) return '/etc/apt/sources.list';
  throw new CapstanError(
    'BASE_IMAGE_NO_SOURCES',
    'this machine has no Debian sources (/etc/apt/sources.list.d/*.sources or /etc/apt/sources.list)',
  );
}

/** A Debian root file system (minbase variant plus `packages`), reproducibly. Needs root and mmdebstrap. */
export async function debianRootfs(options: { dir: string; packages: readonly string[] }): Promise<void> {
  await unmountBelow(options.dir);
  await rm(options.dir, { recursive: true, force: true });
  try {
    // In a mount namespace of its own: the /proc, /sys and /dev it mounts into the target go with it,
    // even when it is killed half-way (left on the machine, they made the next removal fail: EBUSY).
    await run(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'mmdebstrap',
        '--quiet',
        '--variant=minbase',
        '--mode=root',
        '--format=directory',
        ...(options.packages.length > 0 ? [`--include=${options.packages.join(',')}`] : []),
        DEBIAN_SUITE,
        options.dir,
        await debianSources(),
      ],
      { env: cleanEnv({ SOURCE_DATE_EPOCH: '0' }), timeoutMs: 900_000 },
    );
  } catch (error) {
    throw new CapstanError(
      'BASE_IMAGE_BUILD_FAILED',
      `mmdebstrap could not make a Debian ${DEBIAN_SUITE} root file system: ${error instanceof Error ? error.message : String(error)} (install it with scripts/setup-node.sh)`,
      { cause: error },
    );
  }
  for (const path of UNREPRODUCIBLE) await rm(join(options.dir, path), { recursive: true, force: true });
  await mkdir(join(options.dir, 'var', 'log'), { recursive: true });
}

/** Adds NONROOT to /etc/passwd and /etc/group of `rootfs`. */
export async function withNonRootUser(rootfs: string): Promise<void> {
  const line = (file: string, text: string) => writeFile(join(rootfs, 'etc', file), text, { flag: 'a' });
  await Promise.all([
    line(
      'passwd',
      `${NONROOT.name}:x:${NONROOT.uid}:${NONROOT.uid}:${NONROOT.name}:/home/${NONROOT.name}:/usr/sbin/nologin\n`,
    ),
    line('group', `${NONROOT.name}:x:${NONROOT.uid}:\n`),
  ]);
}

/** The Node.js runtime image: Debian with NODE_RUNTIME_PACKAGES, plus the node binary that npm's `node` package brings. */
export async function buildNodeRuntimeImage(options: {
  workDir: string;
  nodeBinary: string;
  reference: string;
}): Promise<PackedImage> {
  const rootfs = join(options.workDir, 'node-runtime-rootfs');
  await debianRootfs({ dir: rootfs, packages: NODE_RUNTIME_PACKAGES });
  await copyFile(options.nodeBinary, join(rootfs, 'usr', 'local', 'bin', 'node'));
  await chmod(join(rootfs, 'usr', 'local', 'bin', 'node'), 0o755);
  await withNonRootUser(rootfs);
  const image = await packImage({
    rootfs,
    reference: options.reference,
    runtime: {
      entrypoint: ['/usr/local/bin/node'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'],
    },
    output: join(options.workDir, 'node-runtime.oci.tar'),
  });
  await rm(rootfs, { recursive: true, force: true });
  return image;
}

/**
 * A small static base for Go binaries: CA certificates, time zones, /etc/passwd with a non-root user,
 * taken from a Debian root file system made with ca-certificates and tzdata; nothing else.
 */
export async function buildStaticImage(options: {
  workDir: string;
  reference: string;
}): Promise<PackedImage> {
  const debian = join(options.workDir, 'static-source-rootfs');
  await debianRootfs({ dir: debian, packages: ['ca-certificates', 'tzdata'] });
  const rootfs = join(options.workDir, 'static-rootfs');
  await rm(rootfs, { recursive: true, force: true });
  for (const dir of ['etc/ssl/certs', 'usr/share', 'tmp', `home/${NONROOT.name}`])
    await mkdir(join(rootfs, dir), { recursive: true });
  await copyFile(
    join(debian, 'etc/ssl/certs/ca-certificates.crt'),
    join(rootfs, 'etc/ssl/certs/ca-certificates.crt'),
  );
  await cp(join(debian, 'usr/share/zoneinfo'), join(rootfs, 'usr/share/zoneinfo'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/sbin/nologin\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\n');
  await withNonRootUser(rootfs);
  await chmod(join(rootfs, 'tmp'), 0o1777);
  const image = await packImage({
    rootfs,
    reference: options.reference,
    runtime: {
      entrypoint: [],
      user: `${NONROOT.uid}:${NONROOT.uid}`,
      env: ['SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
    },
    output: join(options.workDir, 'static.oci.tar'),
  });
  await rm(debian, { recursive: true, force: true });
  await rm(rootfs, { recursive: true, force: true });
  return image;
}

export interface PublishedBaseImages {
  /** `<registry>/capstan/node:24@sha256:...`: Debian, git, ssh and Node.js 24. */
  readonly nodeRuntime: string;
  /** `<registry>/capstan/static:1@sha256:...`: CA certificates, time zones, a non-root user. */
  readonly static: string;
}

/**
 * What a base image is made from, beside its own recipe: this file and the packer (the recipe), the
 * suite and packages, the machine's Debian sources and the Release files of its last `apt-get update`
 * (a new mirror state gives new package versions, so a new key).
 */
async function baseImageInputs(
  values: Readonly<Record<string, string>>,
  files: readonly string[],
): Promise<ImageInputs> {
  const lists = '/var/lib/apt/lists';
  const releases = (await readdir(lists).catch(() => [] as string[]))
    .filter((f) => f.endsWith('_InRelease') || f.endsWith('_Release'))
    .sort()
    .map((f) => join(lists, f));
  return {
    values: { suite: DEBIAN_SUITE, ...values },
    files: [import.meta.filename, OCI_IMAGE_SOURCE, await debianSources(), ...releases, ...files],
  };
}

/**
 * Builds the base images (or takes them from the machine's image cache, src/devcluster/image-cache.ts)
 * and pushes them to the cluster registry; returns their references by digest.
 */
export async function publishBaseImages(options: {
  registry: RegistryState;
  workDir: string;
  nodeBinary: string;
  progress?: (line: string) => void;
}): Promise<PublishedBaseImages> {
  const say = options.progress ?? (() => undefined);
  await mkdir(options.workDir, { recursive: true });
  say(`the Node.js runtime image (Debian ${DEBIAN_SUITE}: ${NODE_RUNTIME_PACKAGES.join(', ')}; node)`);
  const push = (image: PackedImage, repository: string, tag: string) =>
    pushArchive({ registry: options.registry, archive: image.archive, repository, tag }).then((digest) => ({
      digest,
    }));
  const nodeRuntime = await publishThroughCache({
    registry: options.registry,
    name: 'node-runtime',
    inputs: await baseImageInputs({ packages: NODE_RUNTIME_PACKAGES.join(',') }, [options.nodeBinary]),
    repository: 'capstan/node',
    tag: '24',
    workDir: options.workDir,
    build: async () =>
      push(
        await buildNodeRuntimeImage({
          workDir: options.workDir,
          nodeBinary: options.nodeBinary,
          reference: 'capstan.local/node:24',
        }),
        'capstan/node',
        '24',
      ),
    say,
  });
  say('the static base image (CA certificates, time zones, a non-root user)');
  const stat = await publishThroughCache({
    registry: options.registry,
    name: 'static',
    inputs: await baseImageInputs({ packages: 'ca-certificates,tzdata' }, []),
    repository: 'capstan/static',
    tag: '1',
    workDir: options.workDir,
    build: async () =>
      push(
        await buildStaticImage({ workDir: options.workDir, reference: 'capstan.local/static:1' }),
        'capstan/static',
        '1',
      ),
    say,
  });
  return { nodeRuntime: nodeRuntime.reference, static: stat.reference };
}
