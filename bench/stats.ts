/** Order statistics for benchmark samples. */
export interface Summary {
  /** Runs counted: the samples measured and the runs that hit the limit. */
  readonly runs: number;
  readonly median: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
  /** Runs that did not finish within the limit: counted as "at least the limit". */
  readonly censored?: number;
  /** The figures that are lower bounds because a run that hit the limit falls on them. */
  readonly atLeast?: readonly ('median' | 'p99' | 'min' | 'max')[];
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

/**
 * Median, p99, min and max of `samples`. Runs that hit a time limit (`censored.count` of them) are not
 * dropped, which would make a system that often misses the limit look fast: each counts as a value of
 * at least `censored.limit` in the order statistics, and a figure that one of them falls on (or is
 * interpolated from) is marked as a lower bound in `atLeast`.
 */
export function summarise(
  samples: readonly number[],
  censored?: { readonly count: number; readonly limit: number },
): Summary {
  const count = censored?.count ?? 0;
  const limit = censored?.limit ?? Number.NaN;
  // A censored run sorts at its limit, after a measured sample of the same value.
  const runs = [
    ...samples.map((value) => ({ value, censored: false })),
    ...Array.from({ length: count }, () => ({ value: limit, censored: true })),
  ].sort((x, y) => x.value - y.value || Number(x.censored) - Number(y.censored));
  const values = runs.map((r) => r.value);
  const figures = { median: 0.5, p99: 0.99, min: 0, max: 1 } as const;
  const atLeast = (Object.keys(figures) as (keyof typeof figures)[]).filter((figure) => {
    const pos = (runs.length - 1) * figures[figure];
    return runs[Math.floor(pos)]?.censored === true || runs[Math.ceil(pos)]?.censored === true;
  });
  return {
    runs: runs.length,
    median: quantile(values, 0.5),
    p99: quantile(values, 0.99),
    min: values[0] ?? Number.NaN,
    max: values[values.length - 1] ?? Number.NaN,
    ...(count > 0 ? { censored: count, atLeast } : {}),
  };
}
