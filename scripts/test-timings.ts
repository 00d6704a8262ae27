// A reporter for node's test runner that writes one JSON line per test file: its path, its wall time
// (from the runner's file-level `test:complete`, so start-up and imports count) and its number of tests;
// then the run's closing counts as the TAP reporter writes them (`# pass 47`, `# fail 1`, ...).
// scripts/test.ts passes it as `--test-reporter=./scripts/test-timings.ts`, reads the tier's counts from
// it and prints the slowest files of each tier. (A third reporter beside spec and TAP would exceed the
// runner's listener limit and print a warning, so this one replaces TAP.)

export interface FileTiming {
  readonly file: string;
  readonly seconds: number;
  readonly tests: number;
}

interface RunnerEvent {
  readonly type: string;
  readonly data: {
    readonly name?: string;
    readonly file?: string;
    readonly nesting?: number;
    readonly details?: { readonly duration_ms?: number; readonly type?: string };
    readonly message?: string;
  };
}

export default async function* timings(source: AsyncIterable<RunnerEvent>): AsyncGenerator<string> {
  // Counted and written at the end: with more than one file at a time, the runner may report a file's
  // tests after the file itself.
  const tests = new Map<string, number>();
  const seconds = new Map<string, { name: string; seconds: number }>();
  for await (const event of source) {
    const { name, file, nesting, details, message } = event.data;
    // The run's closing counts ('pass 47', 'fail 1', ...), as the TAP reporter writes them.
    if (event.type === 'test:diagnostic' && file === undefined && nesting === 0) yield `# ${message ?? ''}\n`;
    if (file === undefined || name === undefined) continue;
    // The file itself is a test named by its path, at the top level.
    const isFile = nesting === 0 && file.endsWith(name);
    const ended = event.type === 'test:pass' || event.type === 'test:fail';
    if (ended && !isFile && details?.type !== 'suite') tests.set(file, (tests.get(file) ?? 0) + 1);
    if (event.type === 'test:complete' && isFile) {
      seconds.set(file, { name, seconds: (details?.duration_ms ?? 0) / 1000 });
    }
  }
  for (const [file, { name, seconds: wall }] of seconds) {
    const timing: FileTiming = { file: name, seconds: wall, tests: tests.get(file) ?? 0 };
    yield `${JSON.stringify(timing)}\n`;
  }
}

/** The slowest `count` files of what the reporter wrote, slowest first. */
export function slowest(lines: string, count: number): FileTiming[] {
  return lines
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as FileTiming)
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, count);
}
