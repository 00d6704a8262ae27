import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { pullToLayout, pushLayout, type RegistryState } from './registry.ts';

/**
 * The machine's cache of built images, outside the repository and outside any cluster: an image is
 * built once per state of its inputs (a digest of every file, folder and value it is made from) and
 * copied into each cluster's registry from here, instead of being built again for every cluster.
 *
 * An entry is a folder `<root>/<name>/<key>/` holding what the build wrote (an OCI archive or layout)
 * and `entry.json` (what the build returned: its digest). It is written beside and renamed into
 * place, so a reader sees a whole entry or none; the newest KEEP entries of a name are kept.
 */

/** How many entries of one image name are kept (several worktrees or branches may alternate). */
const KEEP = 3;
/** What an entry holds (bumped when that changes, so older entries are not read as newer ones). */
const ENTRY_FORMAT = 'oci-layout-as-pushed/1';
/** `CAPSTAN_IMAGE_CACHE=refresh` builds every image again and replaces its entry (default `use`). */
export const IMAGE_CACHE_ENV = 'CAPSTAN_IMAGE_CACHE';
export type ImageCacheMode = 'use' | 'refresh';

/** `$CAPSTAN_CACHE_DIR/images`, else `$XDG_CACHE_HOME/capstan/images`, else `~/.cache/capstan/images`. */
export function imageCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env['CAPSTAN_CACHE_DIR'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'capstan');
  return join(base, 'images');
}

export function imageCacheMode(env: NodeJS.ProcessEnv = process.env): ImageCacheMode {
  const value = env[IMAGE_CACHE_ENV] ?? 'use';
  if (value === 'use' || value === 'refresh') return value;
  throw new CapstanError(
    'IMAGE_CACHE_MODE',
    `${IMAGE_CACHE_ENV}=${value} is not a cache mode: use 'use' (the default) or 'refresh' (build again and replace)`,
  );
}

/** What an image is made from. Every part goes into its key: change one, and the image is built again. */
export interface ImageInputs {
  /** Named values: versions, package lists, the digest of a base image. */
  readonly values?: Readonly<Record<string, string>>;
  /** Files whose bytes count (a missing one counts as missing, not as an error). */
  readonly files?: readonly string[];
  /** Folders whose every file counts (names, modes and bytes; symbolic links by target), minus `exclude`. */
  readonly trees?: readonly { readonly dir: string; readonly exclude?: readonly string[] }[];
}

/** The sha256 of the inputs' contents (not their paths), as 64 hex digits: the cache key. */
export async function inputsKey(inputs: ImageInputs): Promise<string> {
  // Contents only, never where they are: the same sources in another checkout give the same key.
  const hash = createHash('sha256').update(`format ${ENTRY_FORMAT}\0`);
  for (const [name, value] of Object.entries(inputs.values ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    hash.update(`value ${name}=${value}\0`);
  for (const [i, file] of (inputs.files ?? []).entries())
    hash.update(`file #${String(i)} ${await fileDigest(file)}\0`);
  for (const [i, tree] of (inputs.trees ?? []).entries()) {
    // A missing folder counts as missing: the build itself says what to do about it.
    hash.update(`tree #${String(i)} ${existsSync(tree.dir) ? 'present' : 'missing'}\0`);
    if (!existsSync(tree.dir)) continue;
    for (const file of await treeFiles(tree.dir, tree.exclude ?? [])) {
      const info = await stat(file);
      hash.update(
        `${relative(tree.dir, file)} ${(info.mode & 0o777).toString(8)} ${await fileDigest(file)}\0`,
      );
    }
  }
  return hash.digest('hex');
}

async function fileDigest(path: string): Promise<string> {
  if (!existsSync(path)) return 'missing';
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every regular file below `dir` (symbolic links followed by stat), sorted, minus the excluded folders. */
async function treeFiles(dir: string, exclude: readonly string[]): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => !exclude.some((x) => path === x || path.startsWith(`${x}/`)))
    .sort();
}

export interface CachedBuild<T> {
  /** The entry's folder: what the build wrote there. */
  readonly dir: string;
  /** What the build returned (kept as entry.json). */
  readonly result: T;
  /** True when the entry was there already and nothing was built. */
  readonly reused: boolean;
}

/**
 * The entry of `name` for `key`: read when it is there (and the mode allows), else built by `build`
 * into a fresh folder and kept. `build` returns the JSON-serialisable result that comes back on reuse.
 */
export async function cachedBuild<T>(options: {
  readonly name: string;
  readonly key: string;
  readonly build: (dir: string) => Promise<T>;
  readonly root?: string;
  readonly mode?: ImageCacheMode;
}): Promise<CachedBuild<T>> {
  const mode = options.mode ?? imageCacheMode();
  const folder = join(options.root ?? imageCacheRoot(), options.name);
  const dir = join(folder, options.key);
  const entry = join(dir, 'entry.json');
  if (mode === 'use' && existsSync(entry))
    return { dir, result: JSON.parse(await readFile(entry, 'utf8')) as T, reused: true };
  const fresh = join(folder, `.building-${options.key}-${String(process.pid)}`);
  await rm(fresh, { recursive: true, force: true });
  await mkdir(fresh, { recursive: true });
  try {
    await writeFile(join(fresh, 'entry.json'), `${JSON.stringify(await options.build(fresh))}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(fresh, dir).catch(async (error: unknown) => {
      // Another process built the same inputs and renamed its entry first: the same result, keep it.
      if (!existsSync(entry)) throw error;
      await rm(fresh, { recursive: true, force: true });
    });
    await pruneOlder(folder, KEEP);
    return { dir, result: JSON.parse(await readFile(entry, 'utf8')) as T, reused: false };
  } catch (error) {
    await rm(fresh, { recursive: true, force: true });
    throw error;
  }
}

/** Removes all but the `keep` newest whole entries of one name (a half-written one is its builder's). */
async function pruneOlder(folder: string, keep: number): Promise<void> {
  const names = (await readdir(folder)).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const dated = await Promise.all(names.map(async (n) => ({ n, at: (await stat(join(folder, n))).mtimeMs })));
  for (const { n } of dated.sort((a, b) => b.at - a.at).slice(keep))
    await rm(join(folder, n), { recursive: true, force: true });
}

/**
 * An image in a cluster registry through the machine's cache: when its inputs are new, `build` makes
 * it and pushes it to the registry (returning the digest), and the image is copied out of the registry
 * into the entry as an OCI layout, as pushed (compressed layers); when the entry is there, that layout
 * is pushed unchanged, so every registry gets the same digest (a different one is an error).
 */
export async function publishThroughCache(options: {
  readonly registry: RegistryState;
  readonly name: string;
  readonly inputs: ImageInputs;
  readonly repository: string;
  readonly tag: string;
  /** A folder of the caller's, for skopeo's digest file. */
  readonly workDir: string;
  readonly build: () => Promise<{ digest: string }>;
  readonly say: (line: string) => void;
}): Promise<{ reference: string; digest: string; reused: boolean }> {
  const { registry, repository } = options;
  const entry = await cachedBuild({
    name: options.name,
    key: await inputsKey(options.inputs),
    build: async (dir) => {
      const { digest } = await options.build();
      const reference = `${registry.address}/${repository}@${digest}`;
      await pullToLayout({ registry, reference, layout: join(dir, 'layout'), name: options.name });
      return { digest };
    },
  });
  const reference = (digest: string) => `${registry.address}/${repository}@${digest}`;
  if (!entry.reused)
    return { reference: reference(entry.result.digest), digest: entry.result.digest, reused: false };
  options.say(`  reusing ${options.name} from the image cache (${entry.dir})`);
  await mkdir(options.workDir, { recursive: true });
  const digest = await pushLayout({
    registry,
    layout: join(entry.dir, 'layout'),
    name: options.name,
    repository,
    tag: options.tag,
    digestFile: join(options.workDir, `${options.name}.pushed-digest`),
  });
  if (digest !== entry.result.digest)
    throw new CapstanError(
      'IMAGE_CACHE_ENTRY',
      `the cached image ${entry.dir} was pushed as ${digest}, not as the ${entry.result.digest} it was built as: remove that folder and run again`,
    );
  return { reference: reference(digest), digest, reused: true };
}
