/**
 * Whether one commit contains another (docs/promotions.md, the gates): the branch of the configuration
 * repository is fetched with its history into a private folder (the later commit by its SHA too, when
 * the branch no longer leads to it), and git answers `merge-base --is-ancestor`. A commit the server
 * does not give is not known to contain anything: the answer is false, never a guess. Credentials are
 * handled as for every git command (credentials.ts).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { GitCredentials } from '../../ports/source.ts';
import { prepareAuth } from './credentials.ts';
import { gitEnvironment, runGit, type GitRunResult } from './git-command.ts';
import { gitFailure } from './git-errors.ts';
import { parseRepoUrl } from './url.ts';

export interface AncestryOptions {
  readonly repoURL: string;
  /** The branch both commits are looked for on. */
  readonly branch: string;
  /** The earlier commit (the promotion's). */
  readonly ancestor: string;
  /** The later one (the Application's revision). */
  readonly descendant: string;
  readonly credentials?: GitCredentials;
  /** Accept http:// repositories (loopback). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Each git command's time limit. Default 2 minutes. */
  readonly timeoutMs?: number;
  readonly git?: string;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** True when `descendant` is `ancestor` or a later commit that contains it. */
export async function containsCommit(options: AncestryOptions): Promise<boolean> {
  for (const sha of [options.ancestor, options.descendant])
    if (!SHA.test(sha))
      throw new CapstanError('PROMOTION_CONFIG_INVALID', `'${sha.slice(0, 80)}' is not a commit SHA`);
  if (options.ancestor === options.descendant) return true;
  const allowInsecureHttp = options.allowInsecureHttp ?? false;
  const repo = parseRepoUrl(options.repoURL, { allowInsecureHttp });
  const home = await mkdtemp(join(tmpdir(), 'capstan-ancestry-'));
  const auth = await prepareAuth(options.credentials, repo, home);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const dest = join(home, 'repo');
  const run = (args: readonly string[]): Promise<GitRunResult> =>
    runGit({
      binary: options.git ?? 'git',
      args: ['-C', dest, ...args],
      env: gitEnvironment({ home, allowInsecureHttp, extra: auth.env }),
      timeoutMs,
      cwd: home,
    });
  const has = async (sha: string) => (await run(['cat-file', '-e', `${sha}^{commit}`])).ok;
  const fetch = (refspec: string) =>
    run(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', repo.url, refspec]);
  try {
    await mkdir(dest);
    const init = await run(['init', '--quiet', '--bare']);
    if (!init.ok)
      throw gitFailure(init, { repo, doing: 'creating a repository', timeoutMs, secrets: auth.secrets });
    // 1. The branch with its history: both commits are on it, unless it moved past them since.
    const branch = await fetch(`+refs/heads/${options.branch}:refs/heads/${options.branch}`);
    if (!branch.ok)
      throw gitFailure(branch, {
        repo,
        doing: `fetching the branch ${options.branch}`,
        timeoutMs,
        secrets: auth.secrets,
      });
    // 2. The later commit by its SHA when the branch does not lead to it (a server may refuse that).
    if (!(await has(options.descendant))) await fetch(`+${options.descendant}:refs/capstan/descendant`);
    if (!(await has(options.descendant)) || !(await has(options.ancestor))) return false;
    // 3. Git's answer: 0 yes, 1 no, anything else a failure.
    const answer = await run(['merge-base', '--is-ancestor', options.ancestor, options.descendant]);
    if (answer.ok) return true;
    if (answer.exitCode === 1) return false;
    throw gitFailure(answer, {
      repo,
      doing: `asking whether ${options.descendant.slice(0, 12)} contains ${options.ancestor.slice(0, 12)}`,
      timeoutMs,
      secrets: auth.secrets,
    });
  } finally {
    await auth.dispose();
    await rm(home, { recursive: true, force: true });
  }
}
