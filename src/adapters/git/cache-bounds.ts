/**
 * Bounds on the source cache on disk, so that repositories named by Applications cannot fill the
 * agent's volume:
 * - a commit's files are measured (`git ls-tree -r -l`, sizes as stored in git) before they are written,
 *   and refused past `maxTreeBytes` (a highly compressible file is small in the pack, large on disk);
 * - a repository is measured after each fetch, and dropped and refused past `maxRepositoryBytes`;
 * - past `maxTrees` trees or `maxRepositories` repositories, the least recently used ones go first
 *   (../cache/least-recently-used.ts: use is the folder's modification time, touched at each checkout; a
 *   folder used in the last `minIdleMs` is never removed).
 */
import { rm } from 'node:fs/promises';
import { CapstanError } from '../../core/errors.ts';
import { evictLeastRecentlyUsed as evictFolders, folderBytes } from '../cache/least-recently-used.ts';
import type { LocalGit } from './git-command.ts';
import { cacheFailure } from './git-errors.ts';
import type { CacheLayout } from './layout.ts';

export interface CacheBounds {
  /** Largest total size of one commit's files. Default 1 GiB. */
  readonly maxTreeBytes?: number;
  /** Largest size of one repository's cache (its packs) after a fetch. Default 2 GiB. */
  readonly maxRepositoryBytes?: number;
  /** Trees kept on disk. Default 512. */
  readonly maxTrees?: number;
  /** Repositories kept on disk. Default 256. */
  readonly maxRepositories?: number;
  /** A tree or repository used more recently than this is never removed. Default 10 minutes. */
  readonly minIdleMs?: number;
}

export const DEFAULT_CACHE_BOUNDS: Required<CacheBounds> = {
  maxTreeBytes: 1024 ** 3,
  maxRepositoryBytes: 2 * 1024 ** 3,
  maxTrees: 512,
  maxRepositories: 256,
  minIdleMs: 10 * 60_000,
};

/** `git ls-tree` of a very large commit stays well under this. */
const MAX_LS_TREE_BYTES = 256 * 1024 * 1024;

/** Refuses (SOURCE_TOO_LARGE) a commit whose files add up to more than the bound, before writing them. */
export async function checkTreeSize(
  git: LocalGit,
  repo: string,
  sha: string,
  display: string,
  maxBytes: number,
): Promise<void> {
  const listed = await git(
    [`--git-dir=${repo}`, 'ls-tree', '-r', '-l', '-z', '--full-tree', sha],
    undefined,
    {
      maxOutputBytes: MAX_LS_TREE_BYTES,
    },
  );
  if (!listed.ok) throw cacheFailure(listed, `list the files of commit ${sha}`);
  let total = 0;
  for (const entry of listed.stdout.split('\0')) {
    // `<mode> <type> <object> <size>\t<path>`; submodules and symlinks count what git stores.
    const size = Number(/^\S+ \S+ \S+ +(\d+)\t/.exec(entry)?.[1] ?? 0);
    total += size;
    if (total > maxBytes) {
      throw new CapstanError(
        'SOURCE_TOO_LARGE',
        `commit ${sha} of ${display} has more than ${maxBytes} bytes of files; it was not written to disk. Keep large files out of the configuration repository, or raise the agent's tree size limit`,
        { subject: display },
      );
    }
  }
}

/** Refuses (SOURCE_TOO_LARGE) and removes a repository's cache that grew past the bound. */
export async function checkRepositorySize(path: string, display: string, maxBytes: number): Promise<void> {
  const size = await folderBytes(path);
  if (size <= maxBytes) return;
  await rm(path, { recursive: true, force: true });
  throw new CapstanError(
    'SOURCE_TOO_LARGE',
    `${display} takes ${size} bytes in the source cache, more than the limit of ${maxBytes}; it was removed. Use a smaller repository for configuration, or raise the agent's repository size limit`,
    { subject: display },
  );
}

/** Removes the least recently used trees and repositories past the bounds (see the file comment). */
export async function evictLeastRecentlyUsed(
  layout: CacheLayout,
  bounds: Required<CacheBounds>,
  now: number,
): Promise<{ trees: string[]; repositories: string[] }> {
  const { minIdleMs } = bounds;
  const trees = await evictFolders(layout.trees, { maxEntries: bounds.maxTrees, minIdleMs }, now);
  for (const sha of trees) await rm(layout.commit(sha), { force: true });
  const repositories = (
    await evictFolders(layout.repos, { maxEntries: bounds.maxRepositories, minIdleMs }, now)
  ).map((name) => name.replace(/\.git$/, ''));
  return { trees, repositories };
}
