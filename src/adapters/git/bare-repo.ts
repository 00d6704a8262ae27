/**
 * The bare repository that caches one remote: created once (in a temporary folder, renamed into
 * place), never garbage-collected by git on its own, and asked locally whether it holds a commit.
 */
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalGit } from './git-command.ts';
import { cacheFailure } from './git-errors.ts';
import { exists } from './layout.ts';

/** Settings of every cache repository: no automatic gc or maintenance (fetched commits stay), no reflogs. */
const SETTINGS: readonly (readonly [string, string])[] = [
  ['gc.auto', '0'],
  ['maintenance.auto', 'false'],
  ['core.logAllRefUpdates', 'false'],
  ['fetch.writeCommitGraph', 'false'],
];

/** Creates the bare repository at `path` unless it exists. */
export async function ensureBareRepo(git: LocalGit, path: string, tmpRoot: string): Promise<void> {
  if (await exists(join(path, 'HEAD'))) return;
  const tmp = await mkdtemp(join(tmpRoot, 'repo-'));
  try {
    const init = await git(['init', '--quiet', '--bare', '--', tmp]);
    if (!init.ok) throw cacheFailure(init, 'create a cache repository');
    for (const [key, value] of SETTINGS) {
      const set = await git([`--git-dir=${tmp}`, 'config', key, value]);
      if (!set.ok) throw cacheFailure(set, 'configure a cache repository');
    }
    await rename(tmp, path).catch(async (error: unknown) => {
      // Another process made it first: use theirs.
      if (!(await exists(join(path, 'HEAD')))) throw error;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Whether the repository holds the commit (with its tree: fetches are never partial). */
export async function hasCommit(git: LocalGit, repo: string, sha: string): Promise<boolean> {
  const result = await git([`--git-dir=${repo}`, 'cat-file', '-e', `${sha}^{commit}`]);
  return result.ok;
}
