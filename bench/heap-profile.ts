// What holds a Node.js process's memory, from a V8 sampling heap profile (`--heap-prof`, written when
// the process exits: the sampled allocations still alive then, each with the stack that allocated it).
// Run the bench's agent with CAPSTAN_BENCH_AGENT_NODE_FLAGS='--heap-prof --heap-prof-dir=<dir>'.
// Usage: node bench/heap-profile.ts <file.heapprofile> [--top 20] [--mine /src/]
// Each sample is put down to the innermost frames of our own code on its stack (files whose URL holds
// `--mine`), up to three of them: "parseEvent (watch.ts:12) ← …" says which of our paths made what is
// still held, which a table by allocating function alone (JSON.parse, a Map's growth) cannot say.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';
import { label } from './profiles.ts';

/** A node of a V8 sampling heap profile: a call frame, the bytes sampled there, what it called. */
export interface HeapProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  /** Bytes of the samples allocated in this frame itself and alive when the profile was written. */
  readonly selfSize: number;
  readonly children: readonly HeapProfileNode[];
}

export interface HeapProfile {
  readonly head: HeapProfileNode;
}

export interface HeapSite {
  /** Up to three of our own frames, innermost first, joined by ` ← `; or the allocating frame. */
  readonly site: string;
  readonly bytes: number;
  readonly share: number;
}

export interface HeapProfileSummary {
  readonly totalBytes: number;
  readonly top: readonly HeapSite[];
}

/** The bytes of a profile by where our code allocated them, the `top` largest first. */
export function summariseHeapProfile(
  profile: HeapProfile,
  options: { readonly top?: number; readonly mine?: string } = {},
): HeapProfileSummary {
  const mine = options.mine ?? '/src/';
  const bytes = new Map<string, number>();
  let total = 0;
  // Depth-first with the stack of our own frames above each node (outermost first).
  const pending: { node: HeapProfileNode; own: readonly string[] }[] = [{ node: profile.head, own: [] }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { node } = next;
    const own = node.callFrame.url.includes(mine) ? [...next.own, label(node.callFrame)] : next.own;
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site =
        own.length > 0 ? own.slice(-3).reverse().join(' ← ') : `${label(node.callFrame)} (not ours)`;
      bytes.set(site, (bytes.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) pending.push({ node: child, own });
  }
  const top = [...bytes]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, options.top ?? 20)
    .map(([site, n]) => ({ site, bytes: n, share: total > 0 ? n / total : 0 }));
  return { totalBytes: total, top };
}

/** The summary as markdown lines. */
export function heapProfileLines(name: string, s: HeapProfileSummary): string[] {
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  return [
    `${name}: ${mib(s.totalBytes)} MiB sampled alive when the profile was written, by where it was allocated:`,
    '',
    '| allocated in (our frames, innermost first) | MiB | share |',
    '| --- | ---: | ---: |',
    ...s.top.map(
      (t) => `| ${t.site.replaceAll('|', '\\|')} | ${mib(t.bytes)} | ${(t.share * 100).toFixed(1)} % |`,
    ),
  ];
}

function isHeapProfile(value: unknown): value is HeapProfile {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { head?: unknown }).head === 'object' &&
    (value as { head?: unknown }).head !== null
  );
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '20' }, mine: { type: 'string', default: '/src/' } },
    allowPositionals: true,
  });
  const top = Number(values.top);
  const [file] = positionals;
  if (file === undefined || positionals.length !== 1 || !Number.isInteger(top) || top < 1)
    throw new Error('usage: node bench/heap-profile.ts <file.heapprofile> [--top 20] [--mine /src/]');
  let profile: unknown;
  try {
    profile = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not a V8 heap profile (${(error as Error).message})`, { cause: error });
  }
  if (!isHeapProfile(profile))
    throw new Error(`${file}: not a V8 heap profile (no "head" node; written by --heap-prof?)`);
  const summary = summariseHeapProfile(profile, { top, mine: values.mine });
  process.stdout.write(`${heapProfileLines(file, summary).join('\n')}\n`);
}

if (import.meta.main) {
  exitWithUsageOnHelp(import.meta.filename);
  await main();
}
