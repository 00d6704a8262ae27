import { spawn } from 'node:child_process';
import { CapstanError } from '../core/errors.ts';

export interface RunOptions {
  /** Kill the process group after this many milliseconds. Default 60 000. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /** The whole environment of the child (no inheritance beyond PATH and HOME unless given). */
  readonly env?: NodeJS.ProcessEnv;
  /** Cap on captured stdout+stderr bytes. Default 1 MiB. */
  readonly maxOutputBytes?: number;
  readonly input?: string;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** A minimal environment: no shell, no inherited secrets. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C' };
  if (process.env['HOME']) env['HOME'] = process.env['HOME'];
  return { ...env, ...extra };
}

/** Runs a program with an argument array, a time limit and bounded output; rejects with a clear error. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxBytes = options.maxOutputBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let timedOut = false;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= maxBytes) into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }, timeoutMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = error.code === 'ENOENT' ? 'EXEC_NOT_FOUND' : 'EXEC_FAILED';
      const hint = error.code === 'ENOENT' ? `'${command}' was not found on PATH` : error.message;
      reject(new CapstanError(code, `cannot run ${command}: ${hint}`, { cause: error }));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(
          new CapstanError(
            'EXEC_TIMEOUT',
            `${command} did not finish within ${timeoutMs} ms and was killed`,
            { retryable: true },
          ),
        );
      } else if (status !== 0) {
        const detail =
          stderr.trim().split('\n').slice(-5).join('\n') || `exit ${status ?? signal ?? 'unknown'}`;
        reject(new CapstanError('EXEC_FAILED', `${command} ${args[0] ?? ''} failed: ${detail}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
    child.stdin.on('error', () => undefined); // a child that exits without reading its input
    child.stdin.end(options.input ?? '');
  });
}
