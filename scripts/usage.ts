// `--help` for the project's scripts: prints the comment at the top of the script (its usage) and exits.
// Usage: exitWithUsageOnHelp(import.meta.filename) before anything else runs.
import { readFileSync } from 'node:fs';

/** The leading `//` comment of a file, without the comment marks. */
export function leadingComment(file: string): string {
  const lines: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return `${lines.join('\n')}\n`;
}

/** When the arguments ask for help, prints the file's leading comment and exits 0. */
export function exitWithUsageOnHelp(file: string, args: readonly string[] = process.argv.slice(2)): void {
  if (!args.some((arg) => arg === '--help' || arg === '-h')) return;
  process.stdout.write(leadingComment(file));
  process.exit(0);
}
