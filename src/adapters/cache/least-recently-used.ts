/**
 * Least-recently-used eviction of a cache on disk whose entries are the names of one folder (a tree, a
 * repository, an unpacked chart). Use is an entry's modification time, touched at each use, so that it
 * survives restarts; an entry used in the last `minIdleMs` is never removed (a render may be reading it).
 */
import { lstat, readdir, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';

export interface EvictionBounds {
  /** Entries kept. */
  readonly maxEntries: number;
  /** Bytes kept across all entries (with `bytesOf`). Default: no bound on bytes. */
  readonly maxBytes?: number;
  /** An entry used more recently than this is never removed. */
  readonly minIdleMs: number;
}

/** Marks an entry as just used. */
export async function touch(path: string, now: Date): Promise<void> {
  await utimes(path, now, now).catch(() => undefined);
}

/**
 * Removes the least recently used entries of `folder` while more than `maxEntries` remain or, with
 * `bytesOf` (an entry's size), while they add up to more than `maxBytes`; returns the names removed.
 */
export async function evictLeastRecentlyUsed(
  folder: string,
  bounds: EvictionBounds,
  now: number,
  bytesOf?: (name: string) => Promise<number>,
): Promise<string[]> {
  const names = await readdir(folder).catch(() => []);
  const byBytes = bounds.maxBytes !== undefined && bytesOf !== undefined;
  if (names.length <= bounds.maxEntries && !byBytes) return [];
  const entries = await Promise.all(
    names.map(async (name) => ({
      name,
      at: (await lstat(join(folder, name)).catch(() => undefined))?.mtimeMs ?? 0,
      bytes: byBytes ? await bytesOf(name) : 0,
    })),
  );
  entries.sort((a, b) => a.at - b.at);
  let count = entries.length;
  let bytes = entries.reduce((sum, e) => sum + e.bytes, 0);
  const over = () => count > bounds.maxEntries || (byBytes && bytes > (bounds.maxBytes ?? Infinity));
  const removed: string[] = [];
  for (const entry of entries) {
    if (!over()) break;
    if (now - entry.at < bounds.minIdleMs) break; // everything after it is more recent still
    await rm(join(folder, entry.name), { recursive: true, force: true });
    removed.push(entry.name);
    count -= 1;
    bytes -= entry.bytes;
  }
  return removed;
}

/** The bytes of the files under a folder (not following symlinks). */
export async function folderBytes(path: string): Promise<number> {
  let total = 0;
  const entries = await readdir(path, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    total += (await lstat(join(entry.parentPath, entry.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}
