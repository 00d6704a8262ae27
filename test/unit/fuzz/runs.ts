// How many cases each property runs: a bounded run in the unit tier (seconds), more with `npm run fuzz`
// (CAPSTAN_FUZZ_RUNS). A failure prints fast-check's seed and path: rerun it with CAPSTAN_FUZZ_SEED.
import type { Parameters } from 'fast-check';

export function fuzzParameters<T>(unitRuns: number): Parameters<T> {
  const runs = Number(process.env['CAPSTAN_FUZZ_RUNS'] ?? unitRuns);
  const seed = process.env['CAPSTAN_FUZZ_SEED'];
  return { numRuns: runs, ...(seed === undefined ? {} : { seed: Number(seed) }) };
}
