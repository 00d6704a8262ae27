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
