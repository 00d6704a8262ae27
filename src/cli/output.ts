import { stringify } from 'yaml';
import { CapstanError } from '../core/errors.ts';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Exit codes shared by every command (docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** `diff` found differences; `wait` ended without the wanted state. */
  differences: 1,
  usage: 2,
  prerequisite: 3,
  failed: 4,
  /** `import` converted what it could and left something out (each field listed on stderr). */
  incomplete: 5,
} as const;

export function parseOutput(value: string | undefined): OutputFormat {
  const format = value ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`-o must be one of ${OUTPUT_FORMATS.join(', ')}, not '${format}'`);
  }
  return format as OutputFormat;
}

/** `-o`: table, json, yaml, and `wide` (a table with more columns) where the command has one. */
export function outputFormat(
  value: string | undefined,
  options: { wideAllowed: boolean },
): OutputFormat | 'wide' {
  const formats = ['table', 'json', 'yaml', ...(options.wideAllowed ? ['wide'] : [])];
  const format = value ?? 'table';
  if (!formats.includes(format))
    throw new UsageError(`-o must be one of ${formats.join(', ')}, not '${format}'`);
  return format as OutputFormat | 'wide';
}

/** Prints a machine-readable document (json, yaml) or calls the table printer. */
export function print(format: OutputFormat, data: unknown, table: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(stringify(data));
  else process.stdout.write(table());
}

/** Aligned columns, kubectl style: upper-case headers, two spaces between columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export class UsageError extends CapstanError {
  constructor(message: string) {
    super('USAGE', message);
  }
}
