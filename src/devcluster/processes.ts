import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { CapstanError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';

/** A process that a local cluster started, as recorded in its state file. */
export interface ProcessRecord {
  readonly name: string;
  readonly pid: number;
  readonly binary: string;
  readonly args: readonly string[];
  readonly log: string;
  /**
   * When the process started (field 22 of /proc/<pid>/stat, clock ticks since boot): a pid is reused
   * (this machine's pid_max is 32 768, a test run wraps it), and a reused pid running the same binary
   * (another cluster's forwarder) is told apart by it. Absent in records written before it was kept.
   */
  readonly startTime?: number;
}

export interface StartOptions {
  readonly name: string;
  readonly binary: string;
  /** A program and its arguments that start `binary` (e.g. nsenter into the node's namespaces); it must exec it. */
  readonly launcher?: readonly string[];
  readonly args: readonly string[];
  readonly log: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts a long-running program in its own process group with its output appended to a log file.
 * It outlives this process (the CLI's `up` returns while the cluster runs).
 */
export function startProcess(options: StartOptions): ProcessRecord {
  const fd = openSync(options.log, 'a');
  try {
    const [launcher, ...launcherArgs] = options.launcher ?? [];
    const child = spawn(
      launcher ?? options.binary,
      launcher === undefined ? options.args : [...launcherArgs, options.binary, ...options.args],
      {
        cwd: options.cwd,
        env: options.env ?? {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME: process.env['HOME'] ?? '/',
        },
        stdio: ['ignore', fd, fd],
        detached: true,
      },
    );
    const pid = child.pid;
    if (pid === undefined) throw new Error(`cannot start ${options.binary}`);
    child.on('error', () => undefined);
    const ended = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        exits.set(pid, { binary: options.binary, code, signal, ended });
        resolve();
      });
    });
    exits.set(pid, { binary: options.binary, ended });
    child.unref();
    const startTime = processStartTime(pid);
    return {
      name: options.name,
      pid,
      binary: options.binary,
      args: options.args,
      log: options.log,
      ...(startTime === undefined ? {} : { startTime }),
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * How the processes this process started ended, by pid (while it runs to see them end): what explains a
 * component that "exited during start-up" with nothing in its log, such as a signal from outside.
 */
const exits = new Map<
  number,
  {
    readonly binary: string;
    readonly code?: number | null;
    readonly signal?: NodeJS.Signals | null;
    readonly ended: Promise<void>;
  }
>();

/**
 * Why a recorded process is not running (isRunning false), as far as this machine can tell. A process
 * this one started is waited for (up to `waitMs`) until its exit is reaped: until then it is a zombie,
 * which says nothing of how it ended. (Only on the failure path: a long wait costs a working start nothing.)
 */
export async function whyNotRunning(
  record: Pick<ProcessRecord, 'pid' | 'binary' | 'startTime'>,
  waitMs = 5000,
): Promise<string> {
  const started = exits.get(record.pid);
  if (started?.binary === record.binary && started.code === undefined) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([started.ended, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
  const exit = exits.get(record.pid);
  if (exit?.binary === record.binary && exit.code !== undefined) {
    if (exit.signal != null) return `killed by ${exit.signal}`;
    return `exit code ${String(exit.code)}`;
  }
  const state = processState(record.pid);
  if (state === undefined) return `process ${String(record.pid)} is gone`;
  if (record.startTime !== undefined && processStartTime(record.pid) !== record.startTime)
    return `process ${String(record.pid)} is another one, started since (the pid was reused)`;
  if (state === 'Z' || state === 'X') return `process ${String(record.pid)} ended (not yet reaped)`;
  let argv0: string;
  try {
    argv0 = readFileSync(`/proc/${String(record.pid)}/cmdline`, 'utf8').split('\0')[0] ?? '';
  } catch (error) {
    return `process ${String(record.pid)} cannot be read: ${(error as Error).message}`;
  }
  return argv0 === record.binary
    ? `process ${String(record.pid)} runs it (state ${state}): ended and back, or a transient read`
    : `process ${String(record.pid)} now runs ${argv0 === '' ? '(nothing readable)' : argv0}`;
}

/**
 * True while the pid runs: it exists (ours, or another user's: EPERM) and is not a zombie (an exited
 * process its parent has not reaped holds no lock and does no work). The one rule for locks, the dev
 * cluster and tests.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = processState(pid);
  return state !== 'Z' && state !== 'X';
}

/**
 * True when the pid is alive (pidAlive), is the process that was started (its start time, when
 * recorded) and still runs the recorded binary: pids are reused.
 */
export function isRunning(record: Pick<ProcessRecord, 'pid' | 'binary' | 'startTime'>): boolean {
  if (!pidAlive(record.pid)) return false;
  if (record.startTime !== undefined && processStartTime(record.pid) !== record.startTime) return false;
  try {
    const argv0 = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return argv0 === record.binary;
  } catch {
    return false;
  }
}

/** The fields of /proc/<pid>/stat after the command's name (state first); undefined when unreadable. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The state letter of /proc/<pid>/stat (R, S, Z, …); undefined when it cannot be read. */
function processState(pid: number): string | undefined {
  return statFields(pid)?.[0];
}

/** When the pid's process started (stat field 22: clock ticks since boot); undefined when unreadable. */
export function processStartTime(pid: number): number | undefined {
  const field = statFields(pid)?.[19];
  return field === undefined ? undefined : Number(field);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const SYSTEM_TIME = { now: () => new Date(), sleep };

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // the whole process group
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

export interface StopOptions {
  /** Time to wait after SIGTERM before SIGKILL. Default 10 s. */
  readonly graceMs?: number;
  /** Send SIGKILL at once (a crash, for fault tests). */
  readonly kill?: boolean;
}

/** Stops a recorded process by pid: SIGTERM, then SIGKILL after the grace period. Returns once it is gone. */
export async function stopProcess(record: ProcessRecord, options: StopOptions = {}): Promise<void> {
  if (!isRunning(record)) return;
  signal(record.pid, options.kill === true ? 'SIGKILL' : 'SIGTERM');
  const deadline = Date.now() + (options.graceMs ?? 10_000);
  while (isRunning(record)) {
    if (Date.now() > deadline) {
      signal(record.pid, 'SIGKILL');
      await sleep(100);
      if (!isRunning(record)) return;
    }
    await sleep(50);
  }
}

/** The last lines of a component's log, to explain why it did not start. */
export function logTail(record: ProcessRecord, lines = 12): string {
  try {
    return readFileSync(record.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function diedError(record: ProcessRecord): Promise<CapstanError> {
  const why = await whyNotRunning(record);
  return new CapstanError(
    'DEVCLUSTER_COMPONENT_EXITED',
    `${record.name} exited during start-up (${why}). Last lines of ${record.log}:\n${logTail(record)}`,
    {
      subject: record.name,
    },
  );
}

/**
 * A deadline that starts counting when `step` ends, if that gives more time than `deadline`: a step
 * that builds binaries on first use (minutes on two cores) must not use up the time of what follows
 * it. Never rejects: a failed step is reported by whoever awaits the step itself.
 */
export async function deadlineAfter(
  step: Promise<unknown>,
  deadline: number,
  readyMs: number,
  now: () => number = Date.now,
): Promise<number> {
  return step.then(
    () => Math.max(deadline, now() + readyMs),
    () => deadline,
  );
}

export async function waitUntil(
  record: ProcessRecord,
  deadline: number,
  what: string,
  probe: () => Promise<boolean>,
): Promise<void> {
  const polled = await pollUntil(
    async () => {
      if (!isRunning(record)) throw await diedError(record);
      // An error means it is not listening yet.
      return await probe().catch(() => false);
    },
    {
      deadline,
      intervalMs: 150,
      time: SYSTEM_TIME,
      stopOn: (error) => error instanceof CapstanError && error.code === 'DEVCLUSTER_COMPONENT_EXITED',
    },
  );
  if (!polled.met)
    throw new CapstanError(
      'DEVCLUSTER_TIMEOUT',
      `${what} was not ready in time. Last lines of ${record.log}:\n${logTail(record)}`,
      { retryable: true, subject: record.name },
    );
}
