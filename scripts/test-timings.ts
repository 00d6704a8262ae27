// A reporter for node's test runner that writes one JSON line per test file: its path, its wall time
// (from the runner's file-level `test:complete`, so start-up and imports count) and its number of tests;
// then one JSON line per failed test (its file, line, name and the first lines of its error), and the run's
// closing counts as the TAP reporter writes them (`# pass 47`, `# fail 1`, ...).
// scripts/test.ts passes it as `--test-reporter=./scripts/test-timings.ts`, reads the tier's counts from
// it, prints the slowest files of each tier and, last, every failed test with its error (so the tail of a
// CI log says why, not only which). (A third reporter beside spec and TAP would exceed the
// runner's listener limit and print a warning, so this one replaces TAP.)

export interface FileTiming {
  readonly file: string;
  readonly seconds: number;
  readonly tests: number;
}

export interface TestFailure {
  readonly file: string;
  readonly line?: number | undefined;
  readonly name: string;
  /** The first lines of what the test threw (an assertion's message and diff, or an error's). */
  readonly error: string;
}

interface RunnerEvent {
  readonly type: string;
  readonly data: {
    readonly name?: string;
    readonly file?: string;
    readonly line?: number;
    readonly nesting?: number;
    readonly details?: { readonly duration_ms?: number; readonly type?: string; readonly error?: unknown };
    readonly message?: string;
  };
}

const ERROR_LINES = 14;
const ERROR_CHARS = 2_000;

function subtestsFailed(error: unknown): boolean {
  return (error as { failureType?: unknown } | undefined)?.failureType === 'subtestsFailed';
}

/** What a failed test threw: the runner wraps it (failureType, cause); the cause says why. */
export function errorText(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  const text =
    cause instanceof Error
      ? `${cause.name}: ${cause.message}${'code' in cause && typeof cause.code === 'string' && cause.code !== 'ERR_ASSERTION' ? ` (${cause.code})` : ''}`
      : String(cause);
  const lines = text.split('\n');
  const kept = lines.slice(0, ERROR_LINES).join('\n').slice(0, ERROR_CHARS);
  return kept.length < text.length ? `${kept}\n…` : kept;
}

export default async function* timings(source: AsyncIterable<RunnerEvent>): AsyncGenerator<string> {
  // Counted and written at the end: with more than one file at a time, the runner may report a file's
  // tests after the file itself.
  const tests = new Map<string, number>();
  const seconds = new Map<string, { name: string; seconds: number }>();
  const failures: TestFailure[] = [];
  for await (const event of source) {
    const { name, file, line, nesting, details, message } = event.data;
    // The run's closing counts ('pass 47', 'fail 1', ...), as the TAP reporter writes them.
    if (event.type === 'test:diagnostic' && file === undefined && nesting === 0) yield `# ${message ?? ''}\n`;
    if (file === undefined || name === undefined) continue;
    // The file itself is a test named by its path, at the top level.
    const isFile = nesting === 0 && file.endsWith(name);
    const ended = event.type === 'test:pass' || event.type === 'test:fail';
    if (ended && !isFile && details?.type !== 'suite') tests.set(file, (tests.get(file) ?? 0) + 1);
    // A suite or a file that fails because a test in it did is not listed again (that test is); one that
    // fails for its own reason (a hook, an import) is, since nothing else would say why.
    if (event.type === 'test:fail' && !subtestsFailed(details?.error)) {
      failures.push({ file, line, name, error: errorText(details?.error) });
    }
    if (event.type === 'test:complete' && isFile) {
      seconds.set(file, { name, seconds: (details?.duration_ms ?? 0) / 1000 });
    }
  }
  for (const [file, { name, seconds: wall }] of seconds) {
    const timing: FileTiming = { file: name, seconds: wall, tests: tests.get(file) ?? 0 };
    yield `${JSON.stringify(timing)}\n`;
  }
  for (const failure of failures) yield `${JSON.stringify({ failure })}\n`;
}

/** The slowest `count` files of what the reporter wrote, slowest first. */
export function slowest(lines: string, count: number): FileTiming[] {
  return lines
    .split('\n')
    .filter((line) => line.startsWith('{"file"'))
    .map((line) => JSON.parse(line) as FileTiming)
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, count);
}

/** The failed tests the reporter wrote, in the order they ended. */
export function failuresOf(lines: string): TestFailure[] {
  return lines
    .split('\n')
    .filter((line) => line.startsWith('{"failure"'))
    .map((line) => (JSON.parse(line) as { failure: TestFailure }).failure);
}
