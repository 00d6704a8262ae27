/**
 * Turning a failed git run into a CapstanError with a stable code, a message that says what was wrong
 * and what to do, the repository (redacted) as subject, and whether a retry can help. Git's own words
 * are quoted (last lines of stderr, credentials removed); git runs with LC_ALL=C, so they are English.
 */
import { CapstanError, type ErrorCode } from '../../core/errors.ts';
import { redactSecrets } from './credentials.ts';
import type { GitRunResult } from './git-command.ts';
import { redactText, type RepoUrl } from './url.ts';

export interface FailureContext {
  readonly repo: RepoUrl;
  /** What git was doing, for the message: `listing the branches and tags`, `fetching commit abc123`. */
  readonly doing: string;
  readonly timeoutMs: number;
  /** Strings removed from anything quoted (see GitAuth.secrets). */
  readonly secrets: readonly string[];
  /** The message when the server says a reference or commit does not exist. */
  readonly notFound?: string;
  readonly maxOutputBytes?: number;
}

interface Rule {
  readonly code: ErrorCode;
  readonly pattern: RegExp;
  readonly retryable: boolean;
  readonly message: (context: FailureContext) => string;
}

const RULES: readonly Rule[] = [
  {
    code: 'SOURCE_BAD_URL',
    pattern: /transport '[^']*' not allowed/i,
    retryable: false,
    message: (c) => `git refused the transport of ${c.repo.display}: use https:// or ssh://`,
  },
  {
    code: 'SOURCE_HOST_KEY_UNKNOWN',
    pattern: /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/i,
    retryable: false,
    message: (c) =>
      `the ssh host key of ${c.repo.display} is not in the given known_hosts (or has changed): add the server's current host key to known_hosts`,
  },
  {
    code: 'SOURCE_AUTH_FAILED',
    pattern:
      /Authentication failed|could not read (Username|Password)|returned error: 40[13]|HTTP 40[13]|Permission denied \(|Invalid username or password|incorrect passphrase|Load key .*: (invalid format|error in libcrypto)/i,
    retryable: false,
    message: (c) =>
      `${c.repo.display} refused access (it needs credentials, or refused the ones given): check the user name and password, token or ssh key in the source's credentials, and that they may read this repository`,
  },
  {
    code: 'SOURCE_REF_NOT_FOUND',
    pattern:
      /not our ref|couldn't find remote ref|no such remote ref|unadvertised object|Server does not allow request for unadvertised/i,
    retryable: false,
    message: (c) => c.notFound ?? `a reference was not found in ${c.repo.display}`,
  },
  {
    code: 'SOURCE_REPO_NOT_FOUND',
    pattern:
      /repository '[^']*' not found|Repository not found|returned error: 404|HTTP 404|does not appear to be a git repository|project you were looking for could not be found/i,
    retryable: false,
    message: (c) =>
      `the repository ${c.repo.display} was not found: check the URL (a private repository may also answer "not found" to wrong credentials)`,
  },
  {
    code: 'SOURCE_UNREACHABLE',
    pattern:
      /Could not resolve host|Failed to connect|Connection refused|Connection timed out|timed out|Connection reset|Connection closed|returned error: 5\d\d|HTTP 5\d\d|remote end hung up|early EOF|Could not read from remote repository|unable to access|SSL|TLS|Network is unreachable|No route to host|Empty reply from server|RPC failed/i,
    retryable: true,
    message: (c) =>
      `cannot reach the git server of ${c.repo.display}: check the URL, the network and that the server is up; Capstan retries`,
  },
];

/** The error for a git run that did not succeed. */
export function gitFailure(result: GitRunResult, context: FailureContext): CapstanError {
  const subject = context.repo.display;
  if (result.timedOut) {
    return new CapstanError(
      'SOURCE_TIMEOUT',
      `the git server of ${subject} did not answer within ${seconds(context.timeoutMs)} s, so git was stopped (${context.doing}): check that the server is up and reachable, or raise the time limit; Capstan retries`,
      { subject, retryable: true },
    );
  }
  if (result.aborted) {
    return new CapstanError(
      'SOURCE_CANCELLED',
      `git was cancelled by its caller (${context.doing} at ${subject})`,
      {
        subject,
        retryable: true,
      },
    );
  }
  if (result.truncated) {
    return new CapstanError(
      'SOURCE_OUTPUT_TOO_LARGE',
      `the answer of ${subject} was larger than ${context.maxOutputBytes ?? 'the limit of'} bytes, so git was stopped (${context.doing})`,
      { subject },
    );
  }
  const said = quoteGit(result.stderr, context.secrets);
  const rule = RULES.find((r) => r.pattern.test(result.stderr));
  const code = rule?.code ?? 'SOURCE_GIT_FAILED';
  const message =
    rule?.message(context) ??
    `git failed (${context.doing} at ${subject}, exit ${result.exitCode ?? 'by signal'})`;
  return new CapstanError(code, said === '' ? message : `${message} (git: ${said})`, {
    subject,
    retryable: rule?.retryable ?? true,
  });
}

/** git's advice after any ssh failure, which hides the line that says what failed. */
const BOILERPLATE =
  /^(hint:|Please make sure you have the correct access rights|and the repository exists\.)/;

/** The last meaningful lines of git's stderr, without hints, credentials or URLs' user info. */
function quoteGit(stderr: string, secrets: readonly string[]): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !BOILERPLATE.test(line));
  const text = redactText(redactSecrets(lines.slice(-3).join(' / '), secrets));
  return text.length > 600 ? `…${text.slice(-600)}` : text;
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

/** The error for a failed git run on the local cache (disk full, a damaged cache folder). */
export function cacheFailure(result: GitRunResult, doing: string): CapstanError {
  const said = quoteGit(result.stderr, []);
  const how = result.timedOut ? 'did not finish in time' : `failed (exit ${result.exitCode ?? 'by signal'})`;
  return new CapstanError(
    'SOURCE_CACHE_FAILED',
    `git ${how} while trying to ${doing} in the source cache${said === '' ? '' : ` (git: ${said})`}: check the free space and permissions of the cache folder`,
    { retryable: true },
  );
}
