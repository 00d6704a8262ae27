/**
 * Runs a rendering tool (kustomize, helm) the way DESIGN.md's safety rules ask: an argument array
 * (no shell), the environment given and nothing else, its own process group killed on timeout or
 * cancellation, stdout capped, and the tail of stderr in the error.
 */
import { spawn } from 'node:child_process';
import { CapstanError } from '../../core/errors.ts';
import { timeoutError } from './context.ts';

export interface ToolRun {
  /** Path of the program. */
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The child's whole environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /**
   * The render this run is part of: a timeout is its RENDER_TIMEOUT (context.ts), naming its folder and
   * its whole time limit (`timeoutMs` is what is left of it). Without it, the timeout names the run.
   */
  readonly render?: { readonly subject: string; readonly limitMs: number };
  /** stdout beyond this many bytes kills the tool (RENDER_OUTPUT_TOO_LARGE). */
  readonly maxOutputBytes: number;
  readonly signal?: AbortSignal | undefined;
  /** For messages and the error subject: `helm template charts/web`. */
  readonly description: string;
  /** The sandbox it runs in (sandbox.ts), named in its failures: `landlock`. Default: none named. */
  readonly sandbox?: string;
  /** Rewrites stderr before it goes into an error (for example to make paths repository-relative). */
  readonly redact?: (text: string) => string;
  /** Told the (redacted) stderr of a run that succeeded, when it wrote any: the tool's warnings. */
  readonly onWarnings?: (text: string) => void;
}

/** How much of stderr is kept (its end), and how many of its last lines go into an error. */
const STDERR_KEEP_BYTES = 16 * 1024;
const STDERR_LINES = 20;
/** After a kill, how long to wait for the process to be reaped before giving up on it. */
const REAP_GRACE_MS = 2000;

/** Runs the tool and returns its stdout; rejects with a CapstanError (RENDER_*). */
export function runTool(run: ToolRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(run.command, [...run.args], {
      cwd: run.cwd,
      env: { ...run.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so that a kill takes its children too
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = Buffer.alloc(0);
    let stopped: 'timeout' | 'too-large' | 'cancelled' | undefined;
    let settled = false;

    const finish = (error: CapstanError | undefined, output?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(reapTimer);
      run.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(output ?? '');
    };
    let reapTimer: NodeJS.Timeout | undefined;
    const stop = (reason: NonNullable<typeof stopped>): void => {
      if (stopped !== undefined) return;
      stopped = reason;
      killGroup(child.pid);
      // Should a grandchild keep the pipes open, do not wait for it forever.
      reapTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(stopError(run, reason));
      }, REAP_GRACE_MS);
    };
    const onAbort = (): void => {
      stop('cancelled');
    };
    const timer = setTimeout(() => {
      stop('timeout');
    }, run.timeoutMs);
    if (run.signal?.aborted) stop('cancelled');
    else run.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      if (stopped !== undefined) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > run.maxOutputBytes) stop('too-large');
      else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_KEEP_BYTES) stderr = stderr.subarray(stderr.length - STDERR_KEEP_BYTES);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish(spawnError(run, error));
    });
    child.on('close', (status, signal) => {
      if (stopped !== undefined) {
        finish(stopError(run, stopped));
        return;
      }
      if (status === 0) {
        const warnings = stderrTail(stderr, run.redact);
        if (warnings !== '') run.onWarnings?.(warnings);
        finish(undefined, Buffer.concat(stdout).toString('utf8'));
        return;
      }
      finish(exitError(run, { status, signal, stderr }));
    });
  });
}

/** The tool could not be started (not found, not executable). */
function spawnError(run: ToolRun, error: NodeJS.ErrnoException): CapstanError {
  const problem = error.code === 'ENOENT' ? `${run.command} does not exist` : error.message;
  return new CapstanError(
    'RENDER_TOOL_FAILED',
    `${run.description}${inSandbox(run)}: cannot run the tool: ${problem}`,
    { subject: run.description, cause: error },
  );
}

/** The tool ended with a failure or was killed: its status and the end of its stderr. */
function exitError(
  run: ToolRun,
  ended: { status: number | null; signal: NodeJS.Signals | null; stderr: Buffer },
): CapstanError {
  const tail = stderrTail(ended.stderr, run.redact);
  const how =
    ended.status === null ? `was killed by ${ended.signal ?? 'a signal'}` : `failed (exit ${ended.status})`;
  return new CapstanError(
    'RENDER_TOOL_FAILED',
    `${run.description} ${how}${inSandbox(run)}${tail ? `:\n${tail}` : ''}`,
    { subject: run.description },
  );
}

/** ` in the landlock sandbox`, so that a refusal reads as the sandbox's (Permission denied, no such file). */
function inSandbox(run: ToolRun): string {
  return run.sandbox === undefined ? '' : ` in the ${run.sandbox} sandbox`;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function stopError(run: ToolRun, reason: 'timeout' | 'too-large' | 'cancelled'): CapstanError {
  const subject = run.description;
  switch (reason) {
    case 'timeout':
      if (run.render !== undefined)
        return timeoutError(run.render.subject, run.render.limitMs, `${run.description} was killed`);
      return new CapstanError(
        'RENDER_TIMEOUT',
        `${run.description} did not finish within ${run.timeoutMs} ms and was killed; it may succeed on a retry, or raise the render time limit`,
        { subject, retryable: true },
      );
    case 'too-large':
      return new CapstanError(
        'RENDER_OUTPUT_TOO_LARGE',
        `${run.description} wrote more than ${run.maxOutputBytes} bytes and was stopped; render less, or raise the limit on total bytes`,
        { subject },
      );
    case 'cancelled':
      return new CapstanError('RENDER_CANCELLED', `${run.description} was cancelled`, {
        subject,
        retryable: true,
        cause: run.signal?.reason,
      });
  }
}

function stderrTail(stderr: Buffer, redact: ((text: string) => string) | undefined): string {
  const text = stderr.toString('utf8');
  const lines = (redact ? redact(text) : text).trimEnd().split('\n');
  return lines.slice(-STDERR_LINES).join('\n').trim();
}
