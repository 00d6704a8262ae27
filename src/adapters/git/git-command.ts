/**
 * Running git: an argument array (never a shell), a clean environment, a time limit that kills the
 * whole process group (git, git-remote-https, ssh), and bounded output. The caller turns a failed
 * result into an error (see errors.ts); this file only runs and reports.
 */
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { CapstanError } from '../../core/errors.ts';

export interface GitEnvironmentOptions {
  /**
   * A private HOME (no user configuration, keys or credential stores of the machine), also the working
   * folder of every run: git looks for no repository above it.
   */
  readonly home: string;
  /** Adds http to the allowed protocols. */
  readonly allowInsecureHttp: boolean;
  /** Added last: credentials (GIT_CONFIG_*, GIT_SSH_COMMAND), GIT_INDEX_FILE. */
  readonly extra?: Readonly<Record<string, string>>;
}

/**
 * The whole environment of a git process. Nothing is inherited but PATH: no system or global
 * configuration, no prompts, only https and ssh (and http where allowed) as transports, ssh in batch
 * mode with strict host key checking and no user ssh configuration.
 */
export function gitEnvironment(options: GitEnvironmentOptions): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: options.home,
    GIT_CEILING_DIRECTORIES: dirname(options.home),
    LANG: 'C',
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ALLOW_PROTOCOL: options.allowInsecureHttp ? 'https:ssh:http' : 'https:ssh',
    GIT_SSH_COMMAND: 'ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes',
    ...options.extra,
  };
}

export interface GitRunOptions {
  /** The git program (default `git` on PATH, chosen by the caller). */
  readonly binary: string;
  readonly args: readonly string[];
  /** The complete environment (see gitEnvironment). */
  readonly env: Readonly<Record<string, string>>;
  /** The process group is killed after this many milliseconds. */
  readonly timeoutMs: number;
  readonly cwd: string;
  /** Kills the process group when aborted. */
  readonly signal?: AbortSignal;
  /** Cap on stdout bytes; past it the process group is killed and the result marked truncated. Default 1 MiB. */
  readonly maxOutputBytes?: number;
}

export interface GitRunResult {
  /** null when killed by a signal. */
  readonly exitCode: number | null;
  readonly stdout: string;
  /** The last STDERR_TAIL_BYTES of standard error. */
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** Standard output went past maxOutputBytes: the process was killed and stdout is incomplete. */
  readonly truncated: boolean;
  readonly ok: boolean;
}

const DEFAULT_MAX_OUTPUT = 1024 * 1024;
const STDERR_TAIL_BYTES = 16 * 1024;

/**
 * Runs git (in `cwd`, which should be the private HOME, see gitEnvironment) and reports how it ended. Rejects only when the program cannot be started
 * (SOURCE_GIT_UNAVAILABLE); a failure, timeout or abort is a result, for the caller to classify.
 */
export function runGit(options: GitRunOptions): Promise<GitRunResult> {
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  if (options.signal?.aborted === true) {
    return Promise.resolve(ended({ exitCode: null, stdout: '', stderr: '', aborted: true }));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(options.binary, options.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A group of its own, so that a timeout kills git's helpers (git-remote-https, ssh) too.
      detached: true,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let errTail = Buffer.alloc(0);
    let timedOut = false;
    let aborted = false;
    let truncated = false;

    const killGroup = () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };

    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes <= maxOutput) {
        out.push(chunk);
      } else if (!truncated) {
        truncated = true;
        killGroup();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      errTail = Buffer.concat([errTail, chunk]);
      if (errTail.length > STDERR_TAIL_BYTES) errTail = errTail.subarray(errTail.length - STDERR_TAIL_BYTES);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish();
      const why = error.code === 'ENOENT' ? `'${options.binary}' was not found` : error.message;
      reject(
        new CapstanError('SOURCE_GIT_UNAVAILABLE', `cannot run git: ${why}; install git or set gitBinary`, {
          cause: error,
        }),
      );
    });
    child.on('close', (exitCode) => {
      finish();
      resolve(
        ended({
          exitCode,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: errTail.toString('utf8'),
          timedOut,
          aborted,
          truncated,
        }),
      );
    });
  });
}

function ended(
  result: Omit<GitRunResult, 'ok' | 'timedOut' | 'aborted' | 'truncated'> &
    Partial<Pick<GitRunResult, 'timedOut' | 'aborted' | 'truncated'>>,
): GitRunResult {
  const timedOut = result.timedOut ?? false;
  const aborted = result.aborted ?? false;
  const truncated = result.truncated ?? false;
  return {
    ...result,
    timedOut,
    aborted,
    truncated,
    ok: result.exitCode === 0 && !timedOut && !aborted && !truncated,
  };
}

/** git run on the local cache only (no network): arguments, extra environment entries and an output cap. */
export type LocalGit = (
  args: readonly string[],
  extraEnv?: Readonly<Record<string, string>>,
  limits?: { readonly maxOutputBytes?: number },
) => Promise<GitRunResult>;
