import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { buildAndPush, BUILDKIT_SOURCE } from './buildkit.ts';
import { cleanEnv, run } from './exec.ts';
import { publishThroughCache, type ImageInputs } from './image-cache.ts';
import type { RegistryState } from './registry.ts';

/** The repository's root: the build context of the project's Dockerfile (.dockerignore allows package files, bin/, src/). */
export const REPOSITORY_ROOT = resolve(import.meta.dirname, '..', '..');

export interface CapstanImageOptions {
  readonly registry: RegistryState;
  readonly buildctl: string;
  readonly socket: string;
  /** An image with node, git, ssh and CA certificates (publishBaseImages' Node.js runtime), by digest. */
  readonly runtimeBase: string;
  /** The control plane's binary folder: kustomize and helm come from there, at the pinned versions. */
  readonly toolsBinDir: string;
  /** jsonnet (go-jsonnet) at the pinned version (scripts/build-tool.sh jsonnet), for Jsonnet sources. */
  readonly jsonnetBinary: string;
  /** capstan-confine, the Landlock render sandbox, built here from scripts/confine (scripts/build-tool.sh confine). */
  readonly confineBinary: string;
  readonly workDir: string;
  readonly progress?: (line: string) => void;
}

/**
 * Builds the project's Dockerfile with the cluster's BuildKit, without network: the runtime base is
 * the cluster's Node.js image, the `tools` stage is the pinned kustomize, helm and jsonnet already
 * built here and capstan-confine,
 * the `deps` stage is `npm ci --omit=dev` run on this machine (npm's own client, from package-lock.json),
 * the `ui` stage is the web UI built here (ui/dist).
 * Pushes `capstan/capstan:dev` and returns its reference by digest. Built once per state of its
 * inputs on this machine: the image is kept in the machine's image cache (an OCI layout) and copied
 * from there, unchanged, into the registry of every other cluster.
 */
export async function buildCapstanImage(
  options: CapstanImageOptions,
): Promise<{ reference: string; digest: string; reused: boolean }> {
  return publishThroughCache({
    registry: options.registry,
    name: 'capstan',
    inputs: capstanImageInputs(options),
    repository: CAPSTAN_REPOSITORY,
    tag: CAPSTAN_TAG,
    workDir: options.workDir,
    build: () => buildWithBuildkit(options),
    say: options.progress ?? (() => undefined),
  });
}

const CAPSTAN_REPOSITORY = 'capstan/capstan';
const CAPSTAN_TAG = 'dev';

/**
 * Everything the image is made from: the Dockerfile and what .dockerignore lets into the context
 * (package files, bin/, src/ but src/testing/), the built web UI, the pinned tools, the runtime
 * base's digest (not its registry's address: each cluster has its own), the BuildKit release, the
 * Node.js that runs npm ci, and this recipe.
 */
function capstanImageInputs(options: CapstanImageOptions): ImageInputs {
  const root = REPOSITORY_ROOT;
  const baseDigest = options.runtimeBase.slice(options.runtimeBase.lastIndexOf('@') + 1);
  return {
    values: {
      runtimeBase: baseDigest,
      buildkit: basename(dirname(options.buildctl)),
      node: process.version,
    },
    files: [
      ...['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json'].map((f) => join(root, f)),
      import.meta.filename,
      BUILDKIT_SOURCE,
      join(options.toolsBinDir, 'kustomize'),
      join(options.toolsBinDir, 'helm'),
      options.jsonnetBinary,
      options.confineBinary,
    ],
    trees: [
      { dir: join(root, 'bin') },
      { dir: join(root, 'src'), exclude: [join(root, 'src', 'testing')] },
      { dir: join(root, 'ui', 'dist') },
    ],
  };
}

/** The build itself: the named contexts, then BuildKit, pushed to the registry. */
async function buildWithBuildkit(
  options: CapstanImageOptions,
): Promise<{ reference: string; digest: string }> {
  const say = options.progress ?? (() => undefined);
  const tools = join(options.workDir, 'tools');
  await rm(tools, { recursive: true, force: true });
  await mkdir(join(tools, 'out'), { recursive: true });
  for (const tool of ['kustomize', 'helm'])
    await copyFile(join(options.toolsBinDir, tool), join(tools, 'out', tool));
  await copyFile(options.jsonnetBinary, join(tools, 'out', 'jsonnet'));
  await copyFile(options.confineBinary, join(tools, 'out', 'capstan-confine'));

  const deps = join(options.workDir, 'deps');
  await mkdir(join(deps, 'app'), { recursive: true });
  for (const file of ['package.json', 'package-lock.json'])
    await copyFile(join(REPOSITORY_ROOT, file), join(deps, 'app', file));
  say('installing the production dependencies (npm ci --omit=dev)');
  try {
    await run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
      {
        cwd: join(deps, 'app'),
        timeoutMs: 600_000,
        env: cleanEnv(),
      },
    );
  } catch (error) {
    throw new CapstanError('IMAGE_BUILD_FAILED', `npm ci --omit=dev failed in ${join(deps, 'app')}`, {
      cause: error,
    });
  }
  const ui = await builtUi(options.workDir);
  say('building the Dockerfile with BuildKit');
  return buildAndPush({
    buildctl: options.buildctl,
    socket: options.socket,
    registry: options.registry,
    context: REPOSITORY_ROOT,
    buildArgs: { RUNTIME_BASE: options.runtimeBase },
    namedContexts: { tools, deps, ui },
    image: `${CAPSTAN_REPOSITORY}:${CAPSTAN_TAG}`,
    workDir: join(options.workDir, 'build'),
  });
}

/** The `ui` stage: the web UI built on this machine (scripts/setup.sh runs scripts/build-ui.sh). */
async function builtUi(workDir: string): Promise<string> {
  const built = join(REPOSITORY_ROOT, 'ui', 'dist');
  if (!existsSync(join(built, 'index.html')))
    throw new CapstanError(
      'IMAGE_BUILD_FAILED',
      `the web UI is not built (no ${built}/index.html): run npm run build:ui`,
    );
  const ui = join(workDir, 'ui');
  await rm(ui, { recursive: true, force: true });
  await cp(built, join(ui, 'app', 'ui', 'dist'), { recursive: true });
  return ui;
}
