/**
 * Whether one commit contains another (docs/promotions.md, the gates): the branch of the configuration
 * repository is fetched into a private folder, shallow at first (its last `depth` commits, the later
 * commit by its SHA too when the branch no longer leads to it), and git answers `merge-base
 * --is-ancestor`. While git does not say yes and the history fetched is cut short, it is deepened
 * (eight times as deep each time) up to `maxDepth` commits: a promotion a few commits behind the
 * Application's revision costs a few commits' fetch, not the branch's whole history. A commit the
 * server does not give, or one further back than `maxDepth`, is not known to contain anything: the
 * answer is false, never a guess. Credentials are handled as for every git command (credentials.ts).
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
  /** Commits of the branch fetched first. Default 64. */
  readonly depth?: number;
  /** The deepest history fetched before the answer is no. Default 4096 commits. */
  readonly maxDepth?: number;
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
  const fetch = (refspec: string, depth: number) =>
    run([
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      `--depth=${String(depth)}`,
      '--',
      repo.url,
      refspec,
    ]);
  const failed = (result: GitRunResult, doing: string) =>
    gitFailure(result, { repo, doing, timeoutMs, secrets: auth.secrets });
  const maxDepth = Math.max(1, options.maxDepth ?? 4096);
  try {
    await mkdir(dest);
    const init = await run(['init', '--quiet', '--bare']);
    if (!init.ok) throw failed(init, 'creating a repository');
    let bySha = false;
    for (let depth = Math.min(maxDepth, Math.max(1, options.depth ?? 64)); ; depth *= 8) {
      depth = Math.min(depth, maxDepth);
      // 1. The branch's last `depth` commits: both commits are there, unless it moved past them since.
      const branch = await fetch(`+refs/heads/${options.branch}:refs/heads/${options.branch}`, depth);
      if (!branch.ok) throw failed(branch, `fetching the branch ${options.branch}`);
      // 2. The later commit by its SHA when the branch does not lead to it (a server may refuse that).
      if (bySha || !(await has(options.descendant))) {
        bySha = true;
        await fetch(`+${options.descendant}:refs/capstan/descendant`, depth);
      }
      // 3. Git's answer: 0 yes, 1 no (or not known yet: a commit beyond the history fetched), else a failure.
      if ((await has(options.descendant)) && (await has(options.ancestor))) {
        const answer = await run(['merge-base', '--is-ancestor', options.ancestor, options.descendant]);
        if (answer.ok) return true;
        if (answer.exitCode !== 1)
          throw failed(
            answer,
            `asking whether ${options.descendant.slice(0, 12)} contains ${options.ancestor.slice(0, 12)}`,
          );
      }
      // 4. Deeper, while the history fetched is cut short and the bound allows.
      const shallow = await run(['rev-parse', '--is-shallow-repository']);
      if (depth >= maxDepth || shallow.stdout.trim() !== 'true') return false;
    }
  } finally {
    await auth.dispose();
    await rm(home, { recursive: true, force: true });
  }
}
