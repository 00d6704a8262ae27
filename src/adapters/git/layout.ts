/**
 * The source cache on disk, under one folder (`cacheDir`):
 *
 * ```
 * repos/<sha256 of the normalised URL>.git   one bare repository per remote, shallow, fetched by commit
 * trees/<commit sha>/                          the files of one commit, shared by every caller (read-only)
 * commits/<commit sha>.json                    its CommitInfo, written before the tree is renamed into place
 * home/                                        git's private HOME (no user configuration)
 * tmp/                                         work in progress: trees, indexes, ssh keys; renamed or removed
 * ```
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface CacheLayout {
  readonly root: string;
  readonly repos: string;
  readonly trees: string;
  readonly commits: string;
  readonly home: string;
  readonly tmp: string;
  repo(cacheKey: string): string;
  tree(sha: string): string;
  commit(sha: string): string;
}

export function cacheLayout(cacheDir: string): CacheLayout {
  const root = resolve(cacheDir);
  const repos = join(root, 'repos');
  const trees = join(root, 'trees');
  const commits = join(root, 'commits');
  return {
    root,
    repos,
    trees,
    commits,
    home: join(root, 'home'),
    tmp: join(root, 'tmp'),
    repo: (cacheKey) => join(repos, `${cacheKey}.git`),
    tree: (sha) => join(trees, sha),
    commit: (sha) => join(commits, `${sha}.json`),
  };
}

/** Creates the folders (private to this user). */
export async function prepareLayout(layout: CacheLayout): Promise<void> {
  for (const dir of [layout.root, layout.repos, layout.trees, layout.commits, layout.home, layout.tmp]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
}

/** Whether a path exists (any error reading it counts as no). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
