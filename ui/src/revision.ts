/**
 * A source revision as the pages show it: a commit's first 12 hex digits; a chart's version with the
 * first 12 hex digits of its archive's digest (`1.2.0@sha256:3f2a…` → `1.2.0@3f2a0c9d81be`), as
 * src/core/revision.ts does for the CLI.
 */
export function shortRevision(revision: string): string {
  const chart = /^(.+)@sha256:([0-9a-f]{64})$/.exec(revision);
  if (chart) return `${chart[1] ?? ''}@${(chart[2] ?? '').slice(0, 12)}`;
  return revision.slice(0, 12);
}
