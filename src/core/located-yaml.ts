/**
 * One YAML document read with the place of every field: for files people write by hand (the
 * pipeline file, `.capstan/pipeline.yaml`), whose errors must name the file, the line and the field.
 * Pure: text in, a value and a way to find a field's line out; or a CapstanError naming `file:line:column`.
 *
 * YAML 1.2 (so `on:` stays a key, not `true`), duplicate keys refused, aliases bounded before they
 * are expanded, nesting measured on the raw text before the parser recurses, size bounded first.
 */
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node } from 'yaml';
import { CapstanError, messageOf, type ErrorCode } from './errors.ts';
import { aliasAfter } from './manifest.ts';
import { findTooDeep } from './nesting.ts';

export interface LocatedYamlLimits {
  /** Largest text, in UTF-8 bytes. */
  readonly maxBytes: number;
  /** Deepest nesting, measured on the raw text. */
  readonly maxDepth: number;
  /** Largest number of aliases (`*name`). */
  readonly maxAliases: number;
}

/** A field's place in the file, 1-based. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface LocatedDocument {
  /** The document as plain data (undefined when the text holds no document). */
  readonly value: unknown;
  /** Where the field at `path` is written; the nearest written ancestor when it is missing. */
  readonly locate: (path: readonly (string | number)[]) => Position;
}

/** What a check of the value found wrong: a field path (`steps[1].image`) and what is wrong with it. */
export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

/** A problem with its place: `.capstan/pipeline.yaml:12:7: steps[1].image: required`. */
export interface LocatedProblem extends FieldProblem, Position {
  readonly file: string;
}

/**
 * Reads `text` (from `file`) as one YAML document. Throws `code` with `file:line:column` for text
 * that is too large, too deep, not YAML, more than one document, or with too many aliases.
 */
export function readLocatedYaml(
  text: string,
  file: string,
  limits: LocatedYamlLimits,
  code: ErrorCode,
): LocatedDocument {
  const fail = (where: Position | undefined, message: string) => {
    const at = where === undefined ? file : `${file}:${where.line}:${where.column}`;
    return new CapstanError(code, `${at}: ${message}`, { subject: at });
  };
  // 1. Bound the size and the nesting before the parser sees the text.
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) {
    throw fail(undefined, `${bytes} bytes is more than the limit of ${limits.maxBytes} bytes`);
  }
  const deep = findTooDeep(text, limits.maxDepth);
  if (deep !== undefined) {
    throw fail(deep, `nests more than ${limits.maxDepth} levels deep; it was not parsed`);
  }
  // 2. Parse; exactly one document.
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const list = Array.isArray(documents) ? documents : [];
  const positionOf = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  if (list.length > 1) throw fail(positionOf(list[1]?.range[0] ?? 0), 'holds more than one YAML document');
  const document = list[0];
  if (document === undefined) return { value: undefined, locate: () => ({ line: 1, column: 1 }) };
  const [error] = document.errors;
  if (error) throw fail(positionOf(error.pos[0]), firstLine(error.message));
  // 3. Bound aliases, then convert.
  const alias = aliasAfter(document, limits.maxAliases);
  if (alias !== undefined) {
    throw fail(positionOf(alias), `more than ${limits.maxAliases} YAML aliases; write the values out`);
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: limits.maxAliases });
  } catch (cause) {
    throw fail(positionOf(document.contents?.range[0] ?? 0), `aliases expand too much (${messageOf(cause)})`);
  }
  return { value, locate: (path) => positionOf(offsetOf(document.contents, path)) };
}

/** Each problem with the line and column of its field. */
export function locateProblems(
  document: LocatedDocument,
  file: string,
  problems: readonly FieldProblem[],
): LocatedProblem[] {
  return problems.map((problem) => ({
    ...problem,
    file,
    ...document.locate(fieldSegments(problem.field)),
  }));
}

/** `field: message` (the form of contracts' validation errors) → its parts; the whole text is the message when there is no field. */
export function splitFieldError(error: string): FieldProblem {
  const match = /^([^\s:]*): (.*)$/s.exec(error);
  if (!match) return { field: '', message: error };
  const field = match[1] === '(object)' ? '' : (match[1] ?? '');
  return { field, message: match[2] ?? error };
}

/** `steps[1].env.A` → ['steps', 1, 'env', 'A']. */
export function fieldSegments(field: string): (string | number)[] {
  const segments: (string | number)[] = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) segments.push(Number(match[2]));
    else if (match[1] !== undefined) segments.push(match[1]);
  }
  return segments;
}

/** One line per problem, `file:line:column: field: message`. */
export function formatProblems(problems: readonly LocatedProblem[]): string {
  return problems
    .map((p) => `${p.file}:${p.line}:${p.column}: ${p.field === '' ? '' : `${p.field}: `}${p.message}`)
    .join('\n');
}

// ── Steps ───────────────────────────────────────────────────────────────────────────────────────

/** The offset where the field at `path` is written: a mapping's key, a list's item; else the nearest ancestor. */
function offsetOf(root: Node | null, path: readonly (string | number)[]): number {
  let node: unknown = root;
  let offset = root?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (pair === undefined) return offset;
      offset = isScalar(pair.key) ? (pair.key.range?.[0] ?? offset) : offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (item === undefined) return offset;
      node = item;
      offset = (item as Node).range?.[0] ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function firstLine(message: string): string {
  // The parser's message may quote the text (a secret could be there): the first line only, no excerpt.
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}
