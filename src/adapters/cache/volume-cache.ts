/**
 * Restores and saves pipeline caches on a mounted volume (src/core/pipeline-cache.ts), inside the run
 * Pod: `<dir>/<cache name>/<key>/<n>` holds the n-th path of the cache, `<dir>/<cache name>/<key>/entry.json`
 * says the entry is whole. A save writes a temporary folder and renames it into place, so a run that
 * dies half-way leaves no half entry; it then removes the cache's older entries (one entry per cache
 * is kept). Symbolic links are copied as links, never followed.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import {
  cacheEntryPath,
  cacheKey,
  keyFileDigest,
  type CacheDefinition,
  type CacheOwner,
} from '../../core/pipeline-cache.ts';

export interface VolumeCacheOptions {
  /** Where the cache volume is mounted. */
  readonly dir: string;
  /** The run's checkout. */
  readonly workspace: string;
  readonly owner: CacheOwner;
  readonly caches: readonly CacheDefinition[];
  /** One line per cache, for the run's log. */
  readonly log: (line: string) => void;
}

const ENTRY_FILE = 'entry.json';

/**
 * `path` of the workspace, when it stays there once links are followed: the file schema allows only
 * relative paths without `..`, but a folder on the way may be a link the repository committed (to `/`,
 * say), and a cache must neither read nor write outside the checkout through it. Its deepest existing
 * ancestor (itself included) is resolved.
 */
async function insideWorkspace(workspace: string, path: string): Promise<string | undefined> {
  const root = await realpath(workspace);
  let probe = join(workspace, path);
  for (;;) {
    const resolved = await realpath(probe).catch(() => undefined);
    if (resolved !== undefined)
      return resolved === root || resolved.startsWith(root + sep) ? join(workspace, path) : undefined;
    if (probe === workspace || dirname(probe) === probe) return undefined;
    probe = dirname(probe);
  }
}

/** The key of a cache at this checkout, or undefined (and a log line) when its key file is missing. */
async function keyOf(options: VolumeCacheOptions, cache: CacheDefinition): Promise<string | undefined> {
  let content: Buffer;
  try {
    const file = await insideWorkspace(options.workspace, cache.key);
    if (file === undefined) {
      options.log(`capstan: cache ${cache.name}: ${cache.key} leads out of the checkout (a link); not used`);
      return undefined;
    }
    content = await readFile(file);
  } catch {
    options.log(`capstan: cache ${cache.name}: no ${cache.key} in the checkout; not used`);
    return undefined;
  }
  return cacheKey(options.owner, cache, keyFileDigest(content));
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Copies each cache's entry for this checkout into the workspace; a missing entry is a cold start. */
export async function restoreCaches(options: VolumeCacheOptions): Promise<{ restored: string[] }> {
  const restored: string[] = [];
  for (const cache of options.caches) {
    const key = await keyOf(options, cache);
    if (key === undefined) continue;
    const entry = join(options.dir, cacheEntryPath(cache.name, key));
    if (!(await exists(join(entry, ENTRY_FILE)))) {
      options.log(`capstan: cache ${cache.name}: no entry for key ${key.slice(0, 12)}; the steps start cold`);
      continue;
    }
    for (const [index, path] of cache.paths.entries()) {
      const from = join(entry, String(index));
      const to = await insideWorkspace(options.workspace, path);
      if (to === undefined) {
        options.log(`capstan: cache ${cache.name}: ${path} leads out of the checkout (a link); not restored`);
        continue;
      }
      if (await exists(from)) {
        await cp(from, to, {
          recursive: true,
          force: true,
          verbatimSymlinks: true,
        });
      }
    }
    restored.push(cache.name);
    options.log(`capstan: cache ${cache.name}: restored ${cache.paths.join(', ')} (key ${key.slice(0, 12)})`);
  }
  return { restored };
}

/** Saves each cache whose entry for this checkout is not there yet, then drops the cache's other entries. */
export async function saveCaches(options: VolumeCacheOptions): Promise<{ saved: string[] }> {
  const saved: string[] = [];
  for (const cache of options.caches) {
    const key = await keyOf(options, cache);
    if (key === undefined) continue;
    const folder = join(options.dir, cache.name);
    const entry = join(options.dir, cacheEntryPath(cache.name, key));
    if (await exists(join(entry, ENTRY_FILE))) {
      options.log(`capstan: cache ${cache.name}: key ${key.slice(0, 12)} already saved`);
      continue;
    }
    const temporary = join(folder, `.tmp-${randomBytes(6).toString('hex')}`);
    await mkdir(temporary, { recursive: true });
    try {
      for (const [index, path] of cache.paths.entries()) {
        const from = await insideWorkspace(options.workspace, path);
        if (from === undefined) {
          options.log(`capstan: cache ${cache.name}: ${path} leads out of the checkout (a link); not saved`);
          continue;
        }
        if (await exists(from)) {
          await cp(from, join(temporary, String(index)), { recursive: true, verbatimSymlinks: true });
        }
      }
      await writeFile(join(temporary, ENTRY_FILE), `${JSON.stringify({ key, paths: cache.paths })}\n`);
      await rm(entry, { recursive: true, force: true });
      await rename(temporary, entry);
    } finally {
      await rm(temporary, { recursive: true, force: true });
    }
    // Older entries go; another run's save in progress (a .tmp- folder) is left alone.
    for (const name of await readdir(folder)) {
      if (name !== key && /^[0-9a-f]{64}$/.test(name))
        await rm(join(folder, name), { recursive: true, force: true });
    }
    saved.push(cache.name);
    options.log(`capstan: cache ${cache.name}: saved ${cache.paths.join(', ')} (key ${key.slice(0, 12)})`);
  }
  return { saved };
}
