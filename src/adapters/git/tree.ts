/**
 * The files of one commit on disk, made once per commit: read into a private index, checked out into a
 * temporary folder with `checkout-index` (git refuses paths with `..` or `.git` and writes through no
 * symlink), then renamed into place so that nobody ever sees half a tree. Its CommitInfo is saved first.
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommitInfo } from '../../ports/source.ts';
import { loadCommitInfo, readCommitInfo, saveCommitInfo } from './commit-info.ts';
import type { LocalGit } from './git-command.ts';
import { cacheFailure } from './git-errors.ts';
import { exists, type CacheLayout } from './layout.ts';

/** The tree of a commit that is already on disk, with its CommitInfo; undefined when not (yet) there. */
export async function existingTree(layout: CacheLayout, sha: string): Promise<CommitInfo | undefined> {
  if (!(await exists(layout.tree(sha)))) return undefined;
  return loadCommitInfo(layout.commit(sha), sha);
}

/** Writes the tree of a commit held by `repo` to trees/<sha>/ (unless there) and returns its CommitInfo. */
export async function materialiseTree(
  git: LocalGit,
  layout: CacheLayout,
  repo: string,
  sha: string,
): Promise<CommitInfo> {
  const present = await existingTree(layout, sha);
  if (present !== undefined) return present;

  // 1. The commit's metadata, saved before the tree appears (a tree on disk implies its JSON).
  const info = await readCommitInfo(git, repo, sha);
  await saveCommitInfo(layout.commit(sha), info);

  // 2. The files, into a temporary folder beside the trees, through an index of our own.
  const work = await mkdtemp(join(layout.tmp, `tree-${sha.slice(0, 12)}-`));
  const files = join(work, 'files');
  const env = { GIT_INDEX_FILE: join(work, 'index') };
  try {
    await mkdir(files);
    const read = await git([`--git-dir=${repo}`, 'read-tree', sha], env);
    if (!read.ok) throw cacheFailure(read, `read the tree of commit ${sha}`);
    const write = await git(
      [`--git-dir=${repo}`, `--work-tree=${files}`, 'checkout-index', '--all', '--force'],
      env,
    );
    if (!write.ok) throw cacheFailure(write, `write the files of commit ${sha}`);

    // 3. Into place at once; if another process got there first, theirs is the same tree.
    await rename(files, layout.tree(sha)).catch(async (error: unknown) => {
      if (!(await exists(layout.tree(sha)))) throw error;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return info;
}
