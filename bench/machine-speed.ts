// The machine's speed, measured the same way before each unit of work: a fixed single-threaded
// workload (hashing, JSON, sorting: what a controller and an API server spend their CPU on), timed.
// Two machines with the same description (a replaced host, a noisy neighbour) can differ by a third
// in speed, and a run resumed across sittings would then mix them: each unit records its figure, the
// table says the range, and --resume says when a unit ran more than MACHINE_SPEED_TOLERANCE slower or
// faster than the first one measured.
import { createHash } from 'node:crypto';

/** A unit's speed figure: seconds of the fixed workload (the median of three), lower is faster. */
export type MachineSpeed = number;

/** Beyond this relative difference from the first unit, the units are read as on another machine. */
export const MACHINE_SPEED_TOLERANCE = 0.15;

/** One pass of the fixed workload: the same work every time, its result used so that none is skipped. */
export function workload(scale = 1): number {
  const block = Buffer.alloc(1 << 20, 7);
  const hash = createHash('sha256');
  for (let i = 0; i < 96 * scale; i++) hash.update(block);
  const items = Array.from({ length: 40_000 * scale }, (_, i) => ({
    name: `object-${String((i * 7919) % 100_003)}`,
    labels: { app: `app-${String(i % 97)}`, tier: i % 2 === 0 ? 'web' : 'db' },
    data: { revision: String(i), value: 'x'.repeat(i % 64) },
  }));
  const parsed = JSON.parse(JSON.stringify(items)) as typeof items;
  parsed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return (hash.digest()[0] ?? 0) + parsed.length;
}

/** Seconds of the workload on this machine now: the median of three passes after a warm-up. */
export function measureMachineSpeed(scale = 1): MachineSpeed {
  workload(scale / 4);
  const seconds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    workload(scale);
    seconds.push((performance.now() - t0) / 1000);
  }
  seconds.sort((a, b) => a - b);
  return Math.round((seconds[1] ?? 0) * 1000) / 1000;
}

/**
 * The units whose speed differs from the first unit's by more than the tolerance, with how much
 * (`+34 %`: slower), in the order they ran; empty when every unit ran at about one speed.
 */
export function speedOutliers(
  speeds: Readonly<Record<string, MachineSpeed>>,
  tolerance = MACHINE_SPEED_TOLERANCE,
): { readonly id: string; readonly change: number }[] {
  const entries = Object.entries(speeds);
  const first = entries[0]?.[1];
  if (first === undefined || first <= 0) return [];
  return entries
    .map(([id, s]) => ({ id, change: s / first - 1 }))
    .filter((o) => Math.abs(o.change) > tolerance);
}

/** The table's line on the machine's speed: the range, and the units that ran at another speed. */
export function speedLines(doc: { readonly speeds?: Readonly<Record<string, MachineSpeed>> }): string[] {
  const entries = Object.entries(doc.speeds ?? {});
  if (entries.length === 0) return [];
  const values = entries.map(([, s]) => s);
  const fmt = (x: number) => x.toFixed(2);
  const head = `Machine speed (bench/machine-speed.ts: seconds of a fixed CPU workload before each part, lower is faster): ${fmt(Math.min(...values))}–${fmt(Math.max(...values))} s over ${String(entries.length)} part${entries.length === 1 ? '' : 's'}`;
  const outliers = speedOutliers(doc.speeds ?? {});
  if (outliers.length === 0) return [`${head}.`];
  const named = outliers
    .map((o) => `${o.id} ${o.change > 0 ? '+' : ''}${(o.change * 100).toFixed(0)} %`)
    .join('; ');
  return [
    `${head}; **against the first part, these ran at another speed** (their absolute figures are not comparable with the others'; ratios within one run are): ${named}.`,
  ];
}
