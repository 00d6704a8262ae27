// Per-phase timings of `dev-cluster up` (`--timings`): when each phase started, relative to the start
// of `up`, and how long it took. Phases may overlap (the real node's runtime starts beside the
// control plane), so they are listed by start, not summed.

export interface PhaseTiming {
  readonly phase: string;
  /** Milliseconds from the start of `up` to the start of the phase. */
  readonly startMs: number;
  readonly durationMs: number;
}

export class Timings {
  readonly #t0 = Date.now();
  /** By start: a phase takes its place when it begins, its duration when it ends. */
  readonly #phases: PhaseTiming[] = [];

  /** Runs a phase and records its start and duration (also when it fails). */
  async time<T>(phase: string, step: () => Promise<T>): Promise<T> {
    const start = Date.now();
    const index = this.#phases.push({ phase, startMs: start - this.#t0, durationMs: 0 }) - 1;
    try {
      return await step();
    } finally {
      this.#phases[index] = { phase, startMs: start - this.#t0, durationMs: Date.now() - start };
    }
  }

  /** The phases by start. */
  get phases(): readonly PhaseTiming[] {
    return [...this.#phases];
  }

  /** Milliseconds since the timings began. */
  elapsedMs(): number {
    return Date.now() - this.#t0;
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A table of the phases: start, duration, name; then the total. */
export function formatTimings(phases: readonly PhaseTiming[], totalMs: number): string[] {
  return [
    '   start  duration  phase',
    ...phases.map(
      (p) => `${seconds(p.startMs).padStart(8)}  ${seconds(p.durationMs).padStart(8)}  ${p.phase}`,
    ),
    `${''.padStart(8)}  ${seconds(totalMs).padStart(8)}  total`,
  ];
}
