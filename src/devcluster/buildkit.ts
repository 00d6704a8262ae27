import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { runBuildScript } from './binaries.ts';
import { cleanEnv, run } from './exec.ts';
import { cgroupRoot, type NodePaths } from './node-config.ts';
import type { RegistryState } from './registry.ts';

/**
 * BuildKit for the dev cluster: buildkitd runs inside the real node's network and mount namespaces
 * (its build steps see no network but the node's: loopback, the registry through the forwarder), with
 * Debian's runc, its cgroups under the cluster's own root, and its cache in the node folder.
 */

/** This file: how images are built is part of their recipe (an image cache's key counts it). */
export const BUILDKIT_SOURCE = import.meta.filename;

export const BUILDKIT_BUILD_SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'build-buildkit.sh');

/** buildkitd and buildctl, built from Go modules on first use (scripts/build-buildkit.sh). */
export async function ensureBuildkitBinaries(
  options: { progress?: (line: string) => void } = {},
): Promise<string> {
  const given = process.env['CAPSTAN_BUILDKIT_BIN_DIR'];
  if (given) return given;
  return runBuildScript(
    BUILDKIT_BUILD_SCRIPT,
    'build-buildkit',
    options.progress ? { progress: options.progress } : {},
  );
}

export interface BuildkitPaths {
  readonly root: string;
  readonly config: string;
  readonly socket: string;
}

export function buildkitPaths(paths: NodePaths): BuildkitPaths {
  return {
    root: join(paths.root, 'buildkit'),
    config: join(paths.config, 'buildkitd.toml'),
    socket: join(paths.run, 'buildkitd.sock'),
  };
}

/** buildkitd's configuration: OCI worker with runc, host network (= the node namespace), the registry's CA. */
export function buildkitdConfig(
  bk: BuildkitPaths,
  options: { clusterName: string; runc: string; registry?: RegistryState },
): string {
  const q = JSON.stringify;
  return `root = ${q(bk.root)}

[grpc]
  address = [${q(`unix://${bk.socket}`)}]

[worker.oci]
  enabled = true
  binary = ${q(options.runc)}
  snapshotter = "overlayfs"
  networkMode = "host"
  defaultCgroupParent = ${q(`${cgroupRoot(options.clusterName)}/buildkit`)}
  gc = true

[worker.containerd]
  enabled = false
${
  options.registry
    ? `
[registry.${q(options.registry.address)}]
  # BuildKit speaks plain HTTP to loopback registries unless told otherwise: ours has TLS.
  http = false
  ca = [${q(options.registry.caFile)}]
`
    : ''
}`;
}

export interface BuildOptions {
  readonly buildctl: string;
  readonly socket: string;
  readonly registry: RegistryState;
  /** The build context folder; the Dockerfile is `dockerfile` in it unless `dockerfileDir` says otherwise. */
  readonly context: string;
  readonly dockerfileDir?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `repository:tag` in the cluster registry, e.g. `capstan/hello:1`. */
  readonly image: string;
  /** Where buildctl writes its metadata (the pushed digest); a folder of the caller's. */
  readonly workDir: string;
  readonly timeoutMs?: number;
  /** Stages or images replaced by local folders (BuildKit's named contexts), e.g. `{ tools: '/dir' }`. */
  readonly namedContexts?: Readonly<Record<string, string>>;
  /** Build every step again instead of reusing BuildKit's cache. Default false. */
  readonly noCache?: boolean;
}

/**
 * Builds a Dockerfile with BuildKit and pushes the image to the cluster registry: fixed timestamps
 * (SOURCE_DATE_EPOCH=0, rewritten layer times), so the same inputs give the same digest. Returns the
 * reference by digest.
 */
export async function buildAndPush(options: BuildOptions): Promise<{ reference: string; digest: string }> {
  const dockerConfig = join(options.workDir, 'docker');
  await mkdir(dockerConfig, { recursive: true, mode: 0o700 });
  await copyFile(options.registry.authFile, join(dockerConfig, 'config.json'));
  const metadata = join(options.workDir, 'build-metadata.json');
  const name = `${options.registry.address}/${options.image}`;
  const args = [
    '--addr',
    `unix://${options.socket}`,
    'build',
    '--progress',
    'plain',
    '--frontend',
    'dockerfile.v0',
    // Use BuildKit's built-in Dockerfile frontend: a `# syntax=` line would fetch a frontend image
    // from an outside registry, which build steps here cannot reach (an option named cmdline tells
    // the frontend it has already been chosen).
    '--opt',
    'cmdline=builtin',
    '--local',
    `context=${options.context}`,
    '--local',
    `dockerfile=${options.dockerfileDir ?? options.context}`,
    '--opt',
    'build-arg:SOURCE_DATE_EPOCH=0',
    ...Object.entries(options.buildArgs ?? {}).flatMap(([k, v]) => ['--opt', `build-arg:${k}=${v}`]),
    ...Object.entries(options.namedContexts ?? {}).flatMap(([name, dir]) => [
      '--local',
      `${name}=${dir}`,
      '--opt',
      `context:${name}=local:${name}`,
    ]),
    '--output',
    `type=image,name=${name},push=true,rewrite-timestamp=true,oci-mediatypes=true`,
    '--metadata-file',
    metadata,
    ...(options.noCache === true ? ['--no-cache'] : []),
  ];
  try {
    await run(options.buildctl, args, {
      timeoutMs: options.timeoutMs ?? 600_000,
      env: cleanEnv({ DOCKER_CONFIG: dockerConfig }),
    });
  } catch (error) {
    throw new CapstanError(
      'IMAGE_BUILD_FAILED',
      `building ${name} from ${options.context} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const meta = JSON.parse(await readFile(metadata, 'utf8')) as Partial<Record<string, unknown>>;
  const digest = meta['containerimage.digest'];
  if (typeof digest !== 'string')
    throw new CapstanError('IMAGE_BUILD_FAILED', `buildctl wrote no image digest to ${metadata}`);
  return {
    reference: `${options.registry.address}/${options.image.split(':')[0] ?? options.image}@${digest}`,
    digest,
  };
}
