/**
 * A commit's author, e-mail, date and subject: read with `git log -1` from the cache, and kept as JSON
 * beside its tree so that a later checkout needs no git at all.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { CommitInfo } from '../../ports/source.ts';
import type { LocalGit } from './git-command.ts';
import { cacheFailure } from './git-errors.ts';

/** Fields separated by NUL, which no field can hold. %aI: the author date in strict ISO 8601. */
const FORMAT = '--format=%H%x00%an%x00%ae%x00%aI%x00%s';
const MAX_SUBJECT = 1000;

export async function readCommitInfo(git: LocalGit, repo: string, sha: string): Promise<CommitInfo> {
  const result = await git([
    `--git-dir=${repo}`,
    'log',
    '-1',
    '--no-mailmap',
    '--no-show-signature',
    FORMAT,
    sha,
    '--',
  ]);
  if (!result.ok) throw cacheFailure(result, `read commit ${sha}`);
  const info = parseCommitInfo(result.stdout);
  if (info === undefined) throw cacheFailure(result, `read commit ${sha} (unexpected output)`);
  return info;
}

export function parseCommitInfo(output: string): CommitInfo | undefined {
  const [sha, author, email, date, subject] = output.replace(/\n$/, '').split('\0');
  if (sha === undefined || author === undefined || email === undefined || date === undefined)
    return undefined;
  return { sha, author, email, date, subject: (subject ?? '').slice(0, MAX_SUBJECT) };
}

/** Writes the commit's JSON atomically (a temporary file renamed into place). */
export async function saveCommitInfo(path: string, info: CommitInfo): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** The saved CommitInfo of a commit; undefined when missing or unreadable. */
export async function loadCommitInfo(path: string, sha: string): Promise<CommitInfo | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return isCommitInfo(value) && value.sha === sha ? value : undefined;
  } catch {
    return undefined;
  }
}

function isCommitInfo(value: unknown): value is CommitInfo {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return ['sha', 'author', 'email', 'date', 'subject'].every((key) => typeof record[key] === 'string');
}
