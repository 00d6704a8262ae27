/**
 * A promotion's commit (docs/promotions.md): one branch of the configuration repository fetched alone
 * (`--depth 1`) into a private folder, the image reference set in one file (confined to the checkout:
 * no `..`, no symlink out), committed and pushed without force. A push refused because the branch
 * moved meanwhile is retried from the new tip, up to `maxAttempts` times; nothing is ever forced.
 * Credentials are handled as for every git command (credentials.ts): never in argv, URLs or messages.
 */
import { lstat, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import {
  checkConfigPath,
  imageIn,
  parseDigestReference,
  withImageAt,
  type ImageLocation,
} from '../../core/promotion.ts';
import type { GitCredentials } from '../../ports/source.ts';
import { prepareAuth, redactSecrets } from './credentials.ts';
import { gitEnvironment, runGit, type GitRunResult } from './git-command.ts';
import { gitFailure } from './git-errors.ts';
import { parseRepoUrl, type RepoUrl } from './url.ts';

export interface ImageWriteOptions {
  readonly repoURL: string;
  readonly branch: string;
  /** The file, relative to the repository's root. */
  readonly file: string;
  readonly location: ImageLocation;
  /** `name@sha256:…` */
  readonly reference: string;
  readonly message: string;
  readonly author: { readonly name: string; readonly email: string };
  readonly credentials?: GitCredentials;
  /** Accept http:// repositories (loopback). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Pushes refused because the branch moved are retried from its new tip this many times in all. Default 5. */
  readonly maxAttempts?: number;
  /** Each git command's time limit. Default 2 minutes. */
  readonly timeoutMs?: number;
  readonly git?: string;
  /** Called once the change is committed, before each push (tests move the branch here). */
  readonly beforePush?: (attempt: number) => Promise<void>;
}

export interface ImageWriteResult {
  /** The commit that holds the reference: the new one, or the branch's tip when it held it already. */
  readonly commit: string;
  readonly changed: boolean;
  /** What the file held before. */
  readonly previous: string | undefined;
  /** Pushes tried (more than one: the branch moved in between). */
  readonly attempts: number;
}

/** Largest file a promotion edits. */
const MAX_FILE_BYTES = 1024 * 1024;

type Attempt =
  { readonly kind: 'done'; readonly result: Omit<ImageWriteResult, 'attempts'> } | { readonly kind: 'moved' };

/** Sets the image reference in the file on the branch, commits and pushes; retries when the branch moved. */
export async function writeImageReference(options: ImageWriteOptions): Promise<ImageWriteResult> {
  parseDigestReference(options.reference);
  checkConfigPath(options.file, 'the file');
  const repo = parseRepoUrl(options.repoURL, { allowInsecureHttp: options.allowInsecureHttp ?? false });
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const outcome = await attemptWrite(options, repo, attempt);
    if (outcome.kind === 'done') return { ...outcome.result, attempts: attempt };
  }
  throw new CapstanError(
    'PROMOTION_PUSH_FAILED',
    `the branch ${options.branch} of ${repo.display} moved under each of ${String(maxAttempts)} pushes; try again`,
    { retryable: true, subject: repo.display },
  );
}

async function attemptWrite(options: ImageWriteOptions, repo: RepoUrl, attempt: number): Promise<Attempt> {
  const home = await mkdtemp(join(tmpdir(), 'capstan-promote-'));
  const auth = await prepareAuth(options.credentials, repo, home);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const dest = join(home, 'checkout');
  const run = (args: readonly string[]): Promise<GitRunResult> =>
    runGit({
      binary: options.git ?? 'git',
      args: ['-C', dest, ...args],
      env: gitEnvironment({ home, allowInsecureHttp: options.allowInsecureHttp ?? false, extra: auth.env }),
      timeoutMs,
      cwd: home,
    });
  const git = async (args: readonly string[], doing: string): Promise<string> => {
    const result = await run(args);
    if (!result.ok) throw gitFailure(result, { repo, doing, timeoutMs, secrets: auth.secrets });
    return result.stdout.trim();
  };
  try {
    // 1. The branch's tip, alone.
    await mkdir(dest);
    await git(['init', '--quiet'], 'creating the checkout');
    await git(
      ['fetch', '--quiet', '--depth', '1', '--no-tags', '--', repo.url, `refs/heads/${options.branch}`],
      `fetching the branch ${options.branch}`,
    );
    await git(['checkout', '--quiet', '--detach', 'FETCH_HEAD'], 'checking out');
    // 2. The file, confined to the checkout, with the reference set.
    const file = await confinedFile(dest, options.file);
    const before = await readFile(file, 'utf8');
    const previous = imageIn(before, { file: options.file, location: options.location });
    const after = withImageAt(before, {
      file: options.file,
      location: options.location,
      reference: options.reference,
    });
    if (after === before) {
      const tip = await git(['rev-parse', 'HEAD'], 'reading the commit');
      return { kind: 'done', result: { commit: tip, changed: false, previous } };
    }
    await writeFile(file, after);
    // 3. One commit, pushed without force: a moved branch refuses it, and the caller tries again.
    await git(['add', '--', options.file], 'staging the file');
    await git(
      [
        '-c',
        `user.name=${options.author.name}`,
        '-c',
        `user.email=${options.author.email}`,
        'commit',
        '--quiet',
        '--no-verify',
        '-m',
        options.message,
      ],
      'committing',
    );
    const commit = await git(['rev-parse', 'HEAD'], 'reading the commit');
    await options.beforePush?.(attempt);
    const pushed = await run(['push', '--porcelain', '--', repo.url, `HEAD:refs/heads/${options.branch}`]);
    if (pushed.ok) return { kind: 'done', result: { commit, changed: true, previous } };
    if (/\[rejected\]|non-fast-forward|fetch first|stale info/i.test(pushed.stdout + pushed.stderr))
      return { kind: 'moved' };
    throw new CapstanError(
      'PROMOTION_PUSH_FAILED',
      `pushing to ${options.branch} of ${repo.display} failed: ${redactSecrets(lastLines(pushed.stderr + pushed.stdout), auth.secrets)}`,
      { retryable: true, subject: repo.display },
    );
  } finally {
    await auth.dispose();
    await rm(home, { recursive: true, force: true });
  }
}

const lastLines = (text: string): string => text.trim().split('\n').slice(-3).join(' ').slice(0, 500);

/** The file's path inside the checkout, refusing a symlink that leads out of it, a folder, or a file too large. */
async function confinedFile(root: string, relative: string): Promise<string> {
  const realRoot = await realpath(root);
  const wanted = join(root, relative);
  const refuse = (why: string) =>
    new CapstanError('PROMOTION_PATH_INVALID', `the file '${relative}' ${why}`, { subject: relative });
  let real: string;
  try {
    real = await realpath(wanted);
  } catch {
    throw refuse('is not in the repository on that branch: check spec.config.file and spec.config.branch');
  }
  if (!real.startsWith(realRoot + sep))
    throw refuse('leads out of the repository (a symbolic link): refused');
  const info = await lstat(real);
  if (!info.isFile()) throw refuse('is not a file');
  if (info.size > MAX_FILE_BYTES) throw refuse(`is larger than ${String(MAX_FILE_BYTES)} bytes`);
  return real;
}
