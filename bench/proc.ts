// The operating system's own accounting of a process (Linux /proc): CPU seconds and resident memory.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat's times. */
function ticks(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

export interface ProcessUsage {
  /** User + system CPU seconds of the process and of the children it has waited for (git, kustomize, helm). */
  readonly cpuSeconds: number;
  /** Resident set size now, bytes. */
  readonly rssBytes: number;
  /** Peak resident set size of the process since it started (VmHWM), bytes. */
  readonly peakRssBytes: number;
}

/** Parses /proc/<pid>/stat: fields after the command name (which may contain spaces and parentheses). */
export function parseStat(stat: string): { utime: number; stime: number; cutime: number; cstime: number } {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14.
  const field = (n: number) => Number(rest[n - 3]);
  return { utime: field(14), stime: field(15), cutime: field(16), cstime: field(17) };
}

/** Parses a `VmRSS:   1234 kB` line of /proc/<pid>/status into bytes. */
export function parseStatusKb(status: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

export function processUsage(pid: number): ProcessUsage {
  const stat = parseStat(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  return {
    cpuSeconds: (stat.utime + stat.stime + stat.cutime + stat.cstime) / ticks(),
    rssBytes: parseStatusKb(status, 'VmRSS'),
    peakRssBytes: parseStatusKb(status, 'VmHWM'),
  };
}

/** The sum over several processes (a system made of several controllers). */
export function totalUsage(pids: readonly number[]): ProcessUsage {
  let cpuSeconds = 0;
  let rssBytes = 0;
  let peakRssBytes = 0;
  for (const pid of pids) {
    const u = processUsage(pid);
    cpuSeconds += u.cpuSeconds;
    rssBytes += u.rssBytes;
    peakRssBytes += u.peakRssBytes;
  }
  return { cpuSeconds, rssBytes, peakRssBytes };
}

/** Where a process's CPU went: its main thread, its other threads, the children it waited for. */
export interface CpuSplit {
  /** The program's name (/proc/<pid>/comm). */
  readonly name: string;
  readonly pid: number;
  readonly mainThread: number;
  readonly otherThreads: number;
  readonly children: number;
}

/**
 * The CPU seconds of a process split by where they were spent: /proc/<pid>/stat's utime+stime are
 * every thread's, cutime+cstime the waited-for children's (git, kustomize), and the main thread's own
 * are in /proc/<pid>/task/<pid>/stat.
 */
export function cpuSplit(pid: number): CpuSplit {
  // The main thread first: read after it, the whole process's count is never the smaller.
  const main = parseStat(readFileSync(`/proc/${String(pid)}/task/${String(pid)}/stat`, 'utf8'));
  const all = parseStat(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  const mainThread = (main.utime + main.stime) / ticks();
  return {
    name: readFileSync(`/proc/${String(pid)}/comm`, 'utf8').trim(),
    pid,
    mainThread,
    otherThreads: (all.utime + all.stime) / ticks() - mainThread,
    children: (all.cutime + all.cstime) / ticks(),
  };
}

/** What each part grew by between two readings of the same process. */
export function cpuSplitBetween(before: CpuSplit, after: CpuSplit): CpuSplit {
  return {
    name: after.name,
    pid: after.pid,
    mainThread: after.mainThread - before.mainThread,
    otherThreads: after.otherThreads - before.otherThreads,
    children: after.children - before.children,
  };
}

/** The machine's load averages (runnable and waiting tasks over 1, 5 and 15 minutes), /proc/loadavg. */
export interface LoadAverage {
  readonly one: number;
  readonly five: number;
  readonly fifteen: number;
}

/** Parses /proc/loadavg (`0.78 1.08 1.42 2/344 21733`); undefined when it does not start with three numbers. */
export function parseLoadAverage(text: string): LoadAverage | undefined {
  const [one, five, fifteen] = text.trim().split(/\s+/).slice(0, 3).map(Number);
  if (one === undefined || five === undefined || fifteen === undefined) return undefined;
  if (![one, five, fifteen].every(Number.isFinite)) return undefined;
  return { one, five, fifteen };
}

/** The machine's load now, or undefined where there is no /proc/loadavg. */
export function loadAverage(file = '/proc/loadavg'): LoadAverage | undefined {
  try {
    return parseLoadAverage(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
