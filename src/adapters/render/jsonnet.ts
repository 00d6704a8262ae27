/**
 * Jsonnet in directory mode, as Argo CD does it: each `*.jsonnet` file of the folder is evaluated with
 * the application's top-level arguments, external variables and library folders (`-J`), and what it
 * gives (one object, an array of objects, or a `{kind: List, items}`) joins the folder's manifests.
 * `*.libsonnet` files are libraries, never evaluated by themselves.
 *
 * Before jsonnet runs, the imports of every file it would load are followed from the evaluated files:
 * an absolute import or one that leaves the checkout is refused with its file and line, and the files
 * found tell what a render reads (jsonnetInputs). jsonnet then runs in the render sandbox, which sees
 * only the checkout, so an import the walk could not see (one built at run time) cannot leave it either.
 * Its errors name the file and line jsonnet reports, relative to the checkout.
 */
import { stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject } from '../../core/manifest.ts';
import type { JsonnetOptions, JsonnetVariable } from '../../ports/renderer.ts';
import { confine, joinInside, type ConfinedPath } from './confine.ts';
import { checkpoint, NO_NETWORK, renderAccess, type RenderContext } from './context.ts';
import { runTool } from './exec.ts';
import { readBounded, tooLarge } from './read.ts';

/** A Jsonnet file that is evaluated; libraries (`.libsonnet`) are only imported. */
export const JSONNET_PROGRAM = /\.jsonnet$/;

/** A file of the checkout: its real path and its path relative to the root. */
export interface JsonnetFile {
  readonly absolute: string;
  readonly relative: string;
}

/** Evaluates each program (in the order given) and returns the objects they give, in that order. */
export async function renderJsonnet(
  context: RenderContext,
  programs: readonly JsonnetFile[],
  options: JsonnetOptions,
  binary: string,
): Promise<ParsedObject[]> {
  // 1. The library folders, confined to the checkout.
  const libs = await libraryFolders(context, options);
  // 2. Every import reachable from the programs (and from code given as arguments) stays inside the checkout.
  await walkImports(context, { programs, libs, options });
  // 3. Each program, evaluated in the sandbox; its output parsed as manifests.
  const objects: ParsedObject[] = [];
  for (const program of programs) {
    const output = await evaluate(context, { program, libs, options, binary });
    objects.push(...(await parseOutput(context, program, output)));
  }
  return objects;
}

/** What evaluating the programs reads: the programs, every file they import and the library folders. */
export async function jsonnetInputs(
  context: RenderContext,
  programs: readonly JsonnetFile[],
  options: JsonnetOptions,
): Promise<string[]> {
  const libs = await libraryFolders(context, options);
  const read = await walkImports(context, { programs, libs, options });
  return [...read, ...libs.map((lib) => lib.relative)];
}

// ---------------------------------------------------------------------------------------------
// Library folders and imports

async function libraryFolders(context: RenderContext, options: JsonnetOptions): Promise<ConfinedPath[]> {
  const libs: ConfinedPath[] = [];
  for (const [index, lib] of (options.libs ?? []).entries()) {
    const folder = await confine(context.root, lib, `jsonnet library folder (libs[${index}])`);
    if (!(await stat(folder.absolute)).isDirectory()) {
      throw new CapstanError(
        'RENDER_NOT_FOUND',
        `jsonnet library folder ${folder.relative} is not a folder`,
        {
          subject: folder.relative,
        },
      );
    }
    libs.push(folder);
  }
  return libs;
}

/** One `import`, `importstr` or `importbin` with a literal path, and its line. */
export interface JsonnetImport {
  readonly path: string;
  readonly line: number;
  /** `import` loads Jsonnet (whose imports are followed); importstr and importbin load data. */
  readonly code: boolean;
}

const IMPORT = /\b(import|importstr|importbin)\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')/g;

/** The imports of a Jsonnet text that name a literal path (what jsonnet resolves before running). */
export function importsOf(text: string): JsonnetImport[] {
  const imports: JsonnetImport[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const raw = match[2] ?? match[3] ?? '';
    const line = text.slice(0, match.index).split('\n').length;
    imports.push({ path: raw.replace(/\\(.)/g, '$1'), line, code: match[1] === 'import' });
  }
  return imports;
}

/**
 * Follows the imports from the programs: relative to the importing file first, then in the library
 * folders (the last one first, as jsonnet's -J). Refuses an absolute import, or one that leaves the
 * checkout, naming its file and line. An import found nowhere is left to jsonnet, which names it.
 * Returns every file read, relative to the root.
 */
async function walkImports(
  context: RenderContext,
  walk: { programs: readonly JsonnetFile[]; libs: readonly ConfinedPath[]; options: JsonnetOptions },
): Promise<string[]> {
  const { libs, options } = walk;
  const read = new Set<string>();
  const queue: { relative: string; code: boolean }[] = walk.programs.map((p) => ({
    relative: p.relative,
    code: true,
  }));
  // Code given as an argument imports relative to where jsonnet runs: the root.
  const code = [...(options.tlas ?? []), ...(options.extVars ?? [])].filter((v) => v.code === true);
  for (const variable of code) {
    for (const entry of importsOf(variable.value)) {
      const found = await resolveImport(context, { from: `(argument ${variable.name})`, entry, libs });
      if (found !== undefined) queue.push({ relative: found, code: entry.code });
    }
  }
  let total = 0;
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    checkpoint(context);
    if (read.has(file.relative)) continue;
    read.add(file.relative);
    const confined = await confine(context.root, file.relative, 'jsonnet import');
    const size = (await stat(confined.absolute)).size;
    if (size > context.limits.maxFileBytes) throw tooLarge(file.relative, context.limits.maxFileBytes, size);
    total += size;
    if (total > context.limits.maxTotalBytes) throw tooLarge(file.relative, context.limits.maxTotalBytes);
    if (!file.code) continue;
    const text = await readBounded(confined.absolute, file.relative, context.limits.maxFileBytes);
    for (const entry of importsOf(text)) {
      const found = await resolveImport(context, { from: file.relative, entry, libs });
      if (found !== undefined) queue.push({ relative: found, code: entry.code });
    }
  }
  return [...read];
}

/** Where jsonnet finds an import, inside the checkout; undefined when it is nowhere. */
async function resolveImport(
  context: RenderContext,
  at: { from: string; entry: JsonnetImport; libs: readonly ConfinedPath[] },
): Promise<string | undefined> {
  const what = `${at.from}:${at.entry.line}: import`;
  const folders = [posix.dirname(at.from), ...[...at.libs].reverse().map((lib) => lib.relative)];
  for (const folder of folders) {
    const candidate = joinInside(folder, at.entry.path, what);
    const exists = await stat(join(context.root, candidate)).catch(() => undefined);
    if (exists?.isFile()) return (await confine(context.root, candidate, what)).relative;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Evaluating a program

/** Frames of a runtime error's trace that jsonnet prints (its default, 20, fills the whole error tail). */
const MAX_TRACE = 8;

interface Evaluation {
  readonly program: JsonnetFile;
  readonly libs: readonly ConfinedPath[];
  readonly options: JsonnetOptions;
  readonly binary: string;
}

/** The arguments of one evaluation: library folders, top-level arguments, external variables, then the file. */
export function jsonnetArguments(
  program: string,
  options: JsonnetOptions,
  libs: readonly string[],
): string[] {
  const pairs = (variables: readonly JsonnetVariable[] | undefined, kind: 'tla' | 'ext'): string[] =>
    (variables ?? []).flatMap((v) => [
      v.code === true ? `--${kind}-code` : `--${kind}-str`,
      `${v.name}=${v.value}`,
    ]);
  return [
    ...libs.flatMap((lib) => ['-J', lib]),
    ...pairs(options.tlas, 'tla'),
    ...pairs(options.extVars, 'ext'),
    // A deep recursion's trace is cut short, so that the error's first line stays in the message.
    '--max-trace',
    String(MAX_TRACE),
    '--',
    program,
  ];
}

async function evaluate(context: RenderContext, evaluation: Evaluation): Promise<string> {
  const { program } = evaluation;
  const home = join(context.scratch, 'jsonnet-home');
  const run = await context.sandbox.wrap(
    {
      command: evaluation.binary,
      args: jsonnetArguments(
        program.relative,
        evaluation.options,
        evaluation.libs.map((lib) => lib.absolute),
      ),
      // From the root, so that jsonnet names files relative to the checkout.
      cwd: context.root,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: home,
        TMPDIR: home,
        LANG: 'C',
        ...NO_NETWORK,
      },
      timeoutMs: checkpoint(context),
      render: { subject: context.folder.relative, limitMs: context.limits.timeoutMs },
      maxOutputBytes: context.limits.maxTotalBytes,
      signal: context.signal,
      description: `jsonnet ${program.relative}`,
      redact: (text) => text.replaceAll(`${context.root}/`, '').replaceAll(context.root, '.'),
    },
    renderAccess(context, { network: false }),
  );
  try {
    return await runTool(run);
  } catch (error) {
    throw locatedJsonnetError(error);
  }
}

/**
 * `file:line` of a jsonnet error, from its own message: a static error starts with it
 * (`app/main.jsonnet:3:5-10 Unknown variable: x`), a runtime error names it in the first frame of its
 * trace (`RUNTIME ERROR: boom` then `\tlib/k.libsonnet:2:9-20\tobject <anonymous>`).
 */
export function jsonnetErrorLocation(stderr: string): { file: string; line: number } | undefined {
  const match = /(?:^|\n)\s*([^\s:<>][^\s:]*\.(?:jsonnet|libsonnet|json)):(\d+):\d+/.exec(stderr);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { file: match[1], line: Number(match[2]) };
}

function locatedJsonnetError(error: unknown): unknown {
  if (!(error instanceof CapstanError) || error.code !== 'RENDER_TOOL_FAILED') return error;
  const stderr = error.message.slice(error.message.indexOf('\n') + 1);
  const at = jsonnetErrorLocation(stderr);
  if (at === undefined) return error;
  const where = `${at.file}:${at.line}`;
  return new CapstanError('RENDER_TOOL_FAILED', `${where}: ${error.message}`, {
    subject: where,
    cause: error,
  });
}

// ---------------------------------------------------------------------------------------------
// Its output

/**
 * The objects of a program's value: an object, an array of them (nested arrays flattened), or a
 * `{kind: List, items}`; null gives none. Anything else is an error naming the program.
 */
export function objectsOfValue(value: unknown, program: string): Record<string, unknown>[] {
  if (value === null) return [];
  if (Array.isArray(value)) return value.flatMap((item: unknown) => objectsOfValue(item, program));
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (
      typeof record['kind'] === 'string' &&
      record['kind'].endsWith('List') &&
      Array.isArray(record['items'])
    )
      return objectsOfValue(record['items'], program);
    return [record];
  }
  throw new CapstanError(
    'RENDER_PARSE',
    `${program}: jsonnet gave ${typeof value === 'string' ? 'a string' : `a ${typeof value}`}; a program in the folder must give an object, an array of objects or a {kind: List, items}; give other files the .libsonnet extension (libraries are not evaluated)`,
    { subject: program },
  );
}

async function parseOutput(
  context: RenderContext,
  program: JsonnetFile,
  output: string,
): Promise<ParsedObject[]> {
  let value: unknown;
  try {
    value = JSON.parse(output) as unknown;
  } catch (cause) {
    throw new CapstanError('RENDER_PARSE', `${program.relative}: jsonnet's output is not JSON`, {
      subject: program.relative,
      cause,
    });
  }
  // One JSON document per object (JSON is YAML), each parsed and bounded as any manifest; the source is the program.
  const text = objectsOfValue(value, program.relative)
    .map((object) => JSON.stringify(object))
    .join('\n---\n');
  const { maxAliases, maxObjects, maxTotalBytes } = context.limits;
  const parsed = await context.parse(text, program.relative, {
    maxAliases,
    maxObjects,
    maxBytes: maxTotalBytes,
  });
  return parsed.map((entry) => ({ ...entry, source: { file: program.relative, line: 1 } }));
}
