/**
 * The checkout of a pipeline run: one commit of a repository into an empty folder (the run Pod's
 * workspace), fetched alone (`--depth 1`), with git's clean environment, a time limit and the
 * credentials of the run's Secret kept out of argv and messages. `capstan pipeline checkout` runs it
 * in the run Pod's first container, in Capstan's own image.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { GitCredentials } from '../../ports/source.ts';
import { prepareAuth } from './credentials.ts';
import { gitEnvironment, runGit } from './git-command.ts';
import { gitFailure } from './git-errors.ts';
import { parseRepoUrl } from './url.ts';

export interface CheckoutOptions {
  readonly repoURL: string;
  /** The full commit (40 or 64 hex digits). */
  readonly revision: string;
  /** An empty (or missing) folder. */
  readonly dest: string;
  readonly credentials?: GitCredentials;
  /** Accept http:// repositories (the dev cluster's git server). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Each git command's time limit. Default 5 minutes. */
  readonly timeoutMs?: number;
  readonly git?: string;
}

const FULL_COMMIT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** Fetches `revision` of `repoURL` alone and checks it out into `dest`; returns the commit checked out. */
export async function checkoutRevision(options: CheckoutOptions): Promise<string> {
  if (!FULL_COMMIT.test(options.revision)) {
    throw new CapstanError(
      'SOURCE_BAD_REVISION',
      `'${options.revision.slice(0, 80)}' is not a full commit: a run checks out the commit it was started for (40 hex digits)`,
    );
  }
  const repo = parseRepoUrl(options.repoURL, { allowInsecureHttp: options.allowInsecureHttp ?? false });
  const home = await mkdtemp(join(tmpdir(), 'capstan-checkout-'));
  const auth = await prepareAuth(options.credentials, repo, home);
  const timeoutMs = options.timeoutMs ?? 300_000;
  const git = async (args: readonly string[], doing: string) => {
    const result = await runGit({
      binary: options.git ?? 'git',
      args,
      env: gitEnvironment({
        home,
        allowInsecureHttp: options.allowInsecureHttp ?? false,
        extra: auth.env,
      }),
      timeoutMs,
      cwd: home,
    });
    if (!result.ok) throw gitFailure(result, { repo, doing, timeoutMs, secrets: auth.secrets });
    return result.stdout.trim();
  };
  try {
    await mkdir(options.dest, { recursive: true });
    await git(['init', '--quiet', '--', options.dest], 'creating the workspace');
    // The workspace (an emptyDir) belongs to root, the checkout runs as Capstan's user: git would
    // refuse it as of dubious ownership. This one folder is trusted, by this command only.
    const inDest = ['-c', `safe.directory=${options.dest}`, '-C', options.dest];
    await git(
      [...inDest, 'fetch', '--quiet', '--depth', '1', '--no-tags', '--', repo.url, options.revision],
      `fetching ${options.revision}`,
    );
    await git([...inDest, 'checkout', '--quiet', '--detach', 'FETCH_HEAD'], 'checking out');
    return await git([...inDest, 'rev-parse', 'HEAD'], 'reading the commit');
  } finally {
    await auth.dispose();
    await rm(home, { recursive: true, force: true });
  }
}
