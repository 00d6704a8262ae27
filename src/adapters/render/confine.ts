/**
 * Confinement of repository paths to the checkout (DESIGN.md, "Every path from a repository is
 * confined to its checkout: no `..`, no symlink out").
 */
import { lstat, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, posix, resolve, sep } from 'node:path';
import { CapstanError } from '../../core/errors.ts';

/** A path inside the checkout. */
export interface ConfinedPath {
  /** Real absolute path (symlinks resolved), inside the checkout. */
  readonly absolute: string;
  /** Normalised path relative to the checkout root, with '/' separators; '.' for the root. */
  readonly relative: string;
}

/**
 * Joins a path written in a repository file (`../base`, `values-prod.yaml`) to the folder it is
 * relative to (itself relative to the root), refusing absolute paths and any `..` that leaves the
 * checkout. `what` names the entry for messages: `values file`, `apps/kustomization.yaml: resources`.
 */
export function joinInside(from: string, entry: string, what: string): string {
  if (entry.includes('\0')) throw escapeError(entry, what, 'contains a NUL character');
  if (isAbsolute(entry) || posix.isAbsolute(entry)) {
    throw escapeError(entry, what, 'is an absolute path; paths in a repository must be relative to it');
  }
  const joined = posix.normalize(posix.join(from === '' ? '.' : from, entry));
  const relative = joined.replace(/\/+$/, '') || '.';
  if (relative === '..' || relative.startsWith('../')) {
    throw escapeError(entry, what, 'leaves the checkout (through ..)');
  }
  return relative;
}

/**
 * Resolves a path relative to the checkout root (given as its real path) and makes sure that it,
 * and every symlink on the way, stays inside the checkout. Fails with RENDER_PATH_ESCAPE or
 * RENDER_NOT_FOUND, naming the path as written.
 */
export async function confine(root: string, path: string, what = 'path'): Promise<ConfinedPath> {
  const relative = joinInside('.', path === '' ? '.' : path, what);
  const absolute = resolve(root, relative);
  let real: string;
  try {
    real = await realpath(absolute);
  } catch (error) {
    // A missing path under a symlink that leaves the checkout is an escape, not just missing.
    const existing = await realAncestor(root, absolute);
    if (existing !== undefined && !isInside(root, existing)) {
      throw escapeError(path, what, 'resolves outside the checkout through a symlink');
    }
    throw await notFound(absolute, relative, what, error);
  }
  if (!isInside(root, real)) {
    throw escapeError(path, what, 'resolves outside the checkout through a symlink');
  }
  return { absolute: real, relative };
}

/** True when `path` is `root` or below it (both absolute and normalised). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The real path of the nearest existing ancestor of `absolute` (at most up to root). */
async function realAncestor(root: string, absolute: string): Promise<string | undefined> {
  for (let current = dirname(absolute); isInside(root, current); current = dirname(current)) {
    const real = await realpath(current).catch(() => undefined);
    if (real !== undefined) return real;
    if (current === root) break;
  }
  return undefined;
}

function escapeError(path: string, what: string, problem: string): CapstanError {
  return new CapstanError(
    'RENDER_PATH_ESCAPE',
    `${what} ${JSON.stringify(path)} ${problem}; Capstan reads only files inside the repository's checkout`,
    { subject: path },
  );
}

async function notFound(
  absolute: string,
  relative: string,
  what: string,
  error: unknown,
): Promise<CapstanError> {
  const code = (error as NodeJS.ErrnoException).code;
  let problem = 'does not exist';
  if (code === 'ELOOP') problem = 'cannot be resolved (a loop of symlinks)';
  else if (code === 'ENOTDIR') problem = 'does not exist (a part of it is not a folder)';
  else if (code === 'ENOENT') {
    const link = await lstat(absolute).catch(() => undefined);
    if (link?.isSymbolicLink()) problem = 'is a symlink to something that does not exist';
  } else if (code !== undefined) problem = `cannot be read (${code})`;
  return new CapstanError('RENDER_NOT_FOUND', `${what} ${relative} ${problem}`, {
    subject: relative,
    cause: error,
  });
}
