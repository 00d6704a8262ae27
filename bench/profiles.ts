// CPU profiles of the steady state (`npm run bench -- --profile`): where each system spends its CPU.
// Go profiles (the peers' /debug/pprof/profile) are summarised by `go tool pprof -top`; V8 profiles
// (Capstan's --cpu-prof, written when the agent exits and covering its whole life) are cut to the
// window on the monotonic clock and summarised here, by self time per function.
// Usage: node bench/profiles.ts <folder> [--top 15]   (a folder bench/results/NAME-profiles/r<run>)
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';
import type { CpuSplit } from './proc.ts';
import type { ProfileTaken } from './system.ts';

/** A V8 CPU profile as `--cpu-prof` writes it (the fields used here). */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
  }[];
  /** µs on the monotonic clock. */
  readonly startTime: number;
  readonly endTime: number;
  /** The node sampled at each tick, and the µs since the previous sample. */
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface FunctionCost {
  /** `name (file:line)`, or V8's own entries: `(garbage collector)`, `(program)`, `(idle)`. */
  readonly fn: string;
  /** Seconds sampled in this function itself (not in what it called). */
  readonly selfSeconds: number;
  /** Its share of the busy samples (all but `(idle)`). */
  readonly share: number;
}

export interface CpuProfileSummary {
  /** Seconds of the window the profile covers, busy and idle. */
  readonly windowSeconds: number;
  /** Seconds sampled busy (not `(idle)`). */
  readonly busySeconds: number;
  readonly top: readonly FunctionCost[];
}

/** A V8 call frame as `name (file:line)`, or its name alone for V8's own entries. */
export function label(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  // Line numbers are 0-based in the profile.
  return `${name} (${basename(frame.url)}:${String(frame.lineNumber + 1)})`;
}

/**
 * Self time per function over the samples taken within [fromMicros, toMicros] (the whole profile when
 * not given), the `top` largest first. A sample's time is the delta to the next one.
 */
export function summariseCpuProfile(
  profile: CpuProfile,
  options: { readonly fromMicros?: number; readonly toMicros?: number; readonly top?: number } = {},
): CpuProfileSummary {
  const from = options.fromMicros ?? Number.NEGATIVE_INFINITY;
  const to = options.toMicros ?? Number.POSITIVE_INFINITY;
  const labels = new Map(profile.nodes.map((n) => [n.id, label(n.callFrame)]));
  const self = new Map<string, number>();
  let at = profile.startTime;
  let first: number | undefined;
  let last: number | undefined;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < from || at > to) continue;
    first ??= at;
    last = at;
    const spent = profile.timeDeltas[i + 1] ?? 0;
    const fn = labels.get(profile.samples[i] ?? -1) ?? '(unknown)';
    self.set(fn, (self.get(fn) ?? 0) + spent);
  }
  const busy = [...self].filter(([fn]) => fn !== '(idle)').reduce((sum, [, us]) => sum + us, 0);
  const top = [...self]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, options.top ?? 15)
    .map(([fn, us]) => ({ fn, selfSeconds: us / 1e6, share: busy > 0 && fn !== '(idle)' ? us / busy : 0 }));
  return {
    windowSeconds: first === undefined || last === undefined ? 0 : (last - first) / 1e6,
    busySeconds: busy / 1e6,
    top,
  };
}

/** The summary as markdown lines. */
export function cpuProfileLines(process: string, s: CpuProfileSummary): string[] {
  return [
    `${process}: ${s.busySeconds.toFixed(2)} CPU s sampled busy in a ${s.windowSeconds.toFixed(0)} s window (V8 profile, self time):`,
    '',
    '| function | self s | share of busy |',
    '| --- | ---: | ---: |',
    ...s.top.map(
      (f) =>
        `| ${f.fn.replaceAll('|', '\\|')} | ${f.selfSeconds.toFixed(2)} | ${f.fn === '(idle)' ? '—' : `${(f.share * 100).toFixed(1)} %`} |`,
    ),
  ];
}

/**
 * `go tool pprof -top` of a Go CPU profile, its first `top` functions by their own time (or, with
 * `cumulative`, by the time spent in them and what they called); or why it could not run.
 */
export function summarisePprof(file: string, top = 15, cumulative = false): Promise<string[]> {
  return new Promise((resolve) => {
    execFile(
      'go',
      ['tool', 'pprof', '-top', ...(cumulative ? ['-cum'] : []), `-nodecount=${String(top)}`, file],
      { timeout: 120_000, maxBuffer: 4 * 2 ** 20 },
      (error, stdout, stderr) => {
        if (error)
          resolve([
            `(go tool pprof could not read ${file}: ${(stderr || error.message).trim().split('\n')[0] ?? ''})`,
          ]);
        else resolve(['```', ...stdout.trimEnd().split('\n'), '```']);
      },
    );
  });
}

/** The summary of one profile as markdown lines. */
export async function summariseTaken(taken: ProfileTaken, top = 15): Promise<string[]> {
  // A Go profile's own-time top is mostly the runtime (the collector, syscalls): the cumulative one
  // says which of the controller's functions caused it.
  if (taken.format === 'pprof')
    return [
      `${taken.process} (Go pprof, \`go tool pprof -top\`):`,
      '',
      ...(await summarisePprof(taken.path, top)),
      '',
      `${taken.process}, by cumulative time (\`go tool pprof -top -cum\`):`,
      '',
      ...(await summarisePprof(taken.path, 2 * top, true)),
    ];
  let profile: CpuProfile;
  try {
    profile = JSON.parse(await readFile(taken.path, 'utf8')) as CpuProfile;
  } catch (error) {
    return [
      `${taken.process}: no V8 profile at ${taken.path} (${error instanceof Error ? error.message : String(error)})`,
    ];
  }
  return cpuProfileLines(
    taken.process,
    summariseCpuProfile(profile, {
      ...(taken.fromMicros === undefined ? {} : { fromMicros: taken.fromMicros }),
      ...(taken.toMicros === undefined ? {} : { toMicros: taken.toMicros }),
      top,
    }),
  );
}

/**
 * Where each process's CPU went in the window, from /proc: what a profile of the main thread (V8's)
 * cannot see, its other threads and the programs it ran, is there.
 */
export function cpuSplitLines(split: readonly CpuSplit[]): string[] {
  if (split.length === 0) return [];
  const f = (n: number) => n.toFixed(2);
  return [
    'CPU seconds in the window by where they were spent (/proc: the main thread, the other threads, the children waited for):',
    '',
    '| process | main thread | other threads | children | all |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...split.map(
      (s) =>
        `| ${s.name} (${String(s.pid)}) | ${f(s.mainThread)} | ${f(s.otherThreads)} | ${f(s.children)} | ${f(s.mainThread + s.otherThreads + s.children)} |`,
    ),
  ];
}

const MANIFEST = 'profiles.json';

/** What profiles.json holds for one system. */
interface ManifestEntry {
  readonly profiles: readonly ProfileTaken[];
  readonly split?: readonly CpuSplit[];
}

/**
 * Adds a system's profiles (and its processes' CPU split over the same window) to the folder's manifest
 * (profiles.json: system → entry), writes the summary of every system in it to summary.md, and
 * returns this system's summary.
 */
export async function recordProfiles(
  dir: string,
  system: string,
  taken: readonly ProfileTaken[],
  split: readonly CpuSplit[] = [],
): Promise<string> {
  const manifest = await readManifest(dir);
  const entry: ManifestEntry = { profiles: [...taken], split: [...split] };
  manifest[system] = entry;
  await writeFile(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(join(dir, 'summary.md'), `${(await summariseFolder(dir)).join('\n')}\n`);
  return (await summariseSystem(system, entry)).join('\n');
}

async function readManifest(dir: string): Promise<Record<string, ManifestEntry>> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Record<string, ManifestEntry>;
  } catch {
    return {};
  }
}

async function summariseSystem(system: string, entry: ManifestEntry, top = 15): Promise<string[]> {
  const lines = [`## ${system}`, ''];
  const split = cpuSplitLines(entry.split ?? []);
  if (split.length > 0) lines.push(...split, '');
  for (const t of entry.profiles) lines.push(...(await summariseTaken(t, top)), '');
  return lines;
}

/** The summaries of every profile a folder's manifest lists, by system. */
export async function summariseFolder(dir: string, top = 15): Promise<string[]> {
  const manifest = await readManifest(dir);
  if (Object.keys(manifest).length === 0)
    return [`(no ${MANIFEST} in ${dir}: was the run made with --profile?)`];
  const lines = [`# CPU profiles of the steady state (${dir})`, ''];
  for (const [system, entry] of Object.entries(manifest))
    lines.push(...(await summariseSystem(system, entry, top)));
  return lines;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '15' } },
    allowPositionals: true,
  });
  const top = Number(values.top);
  if (positionals.length !== 1 || !Number.isInteger(top) || top < 1)
    throw new Error('usage: node bench/profiles.ts <folder of profiles.json> [--top 15]');
  process.stdout.write(`${(await summariseFolder(positionals[0] ?? '', top)).join('\n')}\n`);
}

if (import.meta.main) {
  exitWithUsageOnHelp(import.meta.filename);
  await main();
}
