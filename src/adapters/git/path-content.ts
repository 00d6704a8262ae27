/**
 * Content ids of paths in a commit: what the files under a folder (or one file) of a checkout are, read
 * from the cache repository with one `git ls-tree` for all the paths, without reading any file.
 *
 * A path's id is its git object id (a tree's id covers everything below it), plus the ids of the
 * `.gitattributes` files above it, which also decide the bytes written at checkout (line endings,
 * `ident`). Equal ids mean equal files on disk. A path has no id (undefined) when it is not in the commit
 * as a plain folder or file: missing, reached through a symlink, or with a symlink in or under it — a
 * reader that follows a symlink reads files outside the path, which its id would not cover.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { LocalGit } from './git-command.ts';
import { cacheFailure } from './git-errors.ts';

/** The listing of the files under an application's folders stays well under this. */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;
const SYMLINK_MODE = '120000';

export interface TreeEntry {
  readonly mode: string;
  readonly type: string;
  readonly oid: string;
}

/** A path as a repository names it (`apps/web`, `.` for the root), or undefined when it is not one. */
export function normalisePath(path: string): string | undefined {
  if (path.includes('\0') || posix.isAbsolute(path)) return undefined;
  const normal = posix.normalize(path === '' ? '.' : path).replace(/\/+$/, '') || '.';
  if (normal === '..' || normal.startsWith('../')) return undefined;
  return normal;
}

/** Content ids of `paths` (already normalised) in commit `sha` of the repository at `repo`. */
export async function readContentIds(
  git: LocalGit,
  repo: string,
  sha: string,
  paths: readonly string[],
): Promise<Map<string, string | undefined>> {
  const ids = new Map<string, string | undefined>();
  if (paths.length === 0) return ids;

  // 1. One listing: each path with everything below it, the folders on the way, and the .gitattributes above.
  const pathspecs = new Set<string>();
  for (const path of paths) {
    pathspecs.add(path);
    for (const folder of ancestors(path))
      pathspecs.add(folder === '.' ? '.gitattributes' : `${folder}/.gitattributes`);
  }
  const listed = await git(
    [`--git-dir=${repo}`, 'ls-tree', '-r', '-t', '-z', '--full-tree', sha, '--', ...pathspecs],
    { GIT_LITERAL_PATHSPECS: '1' },
    { maxOutputBytes: MAX_LISTING_BYTES },
  );
  if (!listed.ok) throw cacheFailure(listed, `list the files of commit ${sha}`);
  const entries = parseListing(listed.stdout);

  // 2. Each path's id, when it is a plain folder or file.
  for (const path of paths) ids.set(path, contentId(entries, path));
  return ids;
}

/** Every entry of a commit, from one listing; undefined when the listing is longer than `maxBytes`. */
export async function readCommitListing(
  git: LocalGit,
  repo: string,
  sha: string,
  maxBytes: number,
): Promise<CommitListing | undefined> {
  const listed = await git(
    [`--git-dir=${repo}`, 'ls-tree', '-r', '-t', '-z', '--full-tree', sha],
    {},
    { maxOutputBytes: maxBytes },
  );
  if (listed.truncated) return undefined;
  if (!listed.ok) throw cacheFailure(listed, `list the files of commit ${sha}`);
  return parseListing(listed.stdout);
}

/**
 * Content ids of `paths` (already normalised) from a listing of the whole commit: the same as
 * readContentIds gives, since a path's id is made only of the entries under it and of the
 * `.gitattributes` files above it, all of which the whole listing holds.
 */
export function contentIdsOf(
  listing: CommitListing,
  paths: readonly string[],
): Map<string, string | undefined> {
  return new Map(paths.map((path) => [path, contentId(listing, path)]));
}

/** The entries of a commit by path (readCommitListing). */
export type CommitListing = ReadonlyMap<string, TreeEntry>;

function contentId(entries: ReadonlyMap<string, TreeEntry>, path: string): string | undefined {
  const below = path === '.' ? '' : `${path}/`;
  for (const [name, entry] of entries) {
    if (entry.mode === SYMLINK_MODE && (name === path || name.startsWith(below))) return undefined;
  }
  let id: string;
  if (path === '.') {
    // The root has no entry of its own: its top-level entries identify it.
    const top = [...entries].filter(([name]) => !name.includes('/'));
    if (top.length === 0) return undefined;
    id = `tree:${hashOf(top.map(([name, e]) => `${e.mode} ${e.oid} ${name}`).join('\n'))}`;
  } else {
    const entry = entries.get(path);
    if (entry === undefined || (entry.type !== 'tree' && entry.type !== 'blob')) return undefined;
    id = `${entry.type}:${entry.oid}`;
  }
  const attributes = ancestors(path)
    .map((folder) => (folder === '.' ? '.gitattributes' : `${folder}/.gitattributes`))
    .flatMap((file) => {
      const entry = entries.get(file);
      return entry === undefined ? [] : [`${file}=${entry.mode}:${entry.oid}`];
    });
  return attributes.length === 0 ? id : `${id};attributes:${attributes.join(',')}`;
}

/** The folders above a path, from the root down: `apps/web` → `.`, `apps`. */
function ancestors(path: string): string[] {
  if (path === '.') return [];
  const parts = path.split('/');
  const folders = ['.'];
  for (let i = 1; i < parts.length; i++) folders.push(parts.slice(0, i).join('/'));
  return folders;
}

/** `ls-tree -z` output: `<mode> SP <type> SP <object> TAB <path> NUL` per entry. */
function parseListing(output: string): Map<string, TreeEntry> {
  const entries = new Map<string, TreeEntry>();
  for (const record of output.split('\0')) {
    const tab = record.indexOf('\t');
    if (tab < 0) continue;
    const [mode = '', type = '', oid = ''] = record.slice(0, tab).split(' ');
    entries.set(record.slice(tab + 1), { mode, type, oid });
  }
  return entries;
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
