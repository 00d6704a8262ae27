/**
 * How deeply a YAML (or JSON) text nests, measured on the raw text before any parser sees it. A
 * parser recurses once per level: a 5 MB file of `[[[[…` held the event loop for seconds before it
 * failed, and a few thousand levels overflow the stack. One linear pass, no allocation per character.
 *
 * The measure is an upper bound of what a YAML parser would build:
 * - flow collections: every `[` or `{` that opens one (inside a flow collection, or where a block
 *   value starts: at the start of a line, after `- `, `: `, `? `, an anchor or a tag), until its
 *   closing bracket; quoted strings and comments are skipped;
 * - block collections: one level per indentation deeper than the line above that is still open, and
 *   two per compact `- ` or `? ` entry on a line (the entry, and a mapping that may start there);
 * - block scalars (`|`, `>`): their lines are text, skipped.
 * Pure: no I/O.
 */
import { CapstanError } from './errors.ts';

/** Default largest nesting of a manifest: far beyond any Kubernetes object (deep CRD schemas reach ~60). */
export const DEFAULT_MAX_DEPTH = 200;

/** Where a text first nests deeper than allowed. */
export interface TooDeep {
  readonly depth: number;
  /** 1-based line and column. */
  readonly line: number;
  readonly column: number;
}

/** Throws RENDER_TOO_DEEP, naming the file, line and column, when the text nests deeper than `maxDepth`. */
export function checkNesting(text: string, file: string, maxDepth: number): void {
  const found = findTooDeep(text, maxDepth);
  if (found === undefined) return;
  throw new CapstanError(
    'RENDER_TOO_DEEP',
    `${file}:${found.line}:${found.column}: nests more than ${maxDepth} levels deep; it was not parsed (no Kubernetes object nests like this: check how the file is generated)`,
    { subject: file },
  );
}

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

/** The first place where the text nests deeper than `maxDepth`, or undefined. */
export function findTooDeep(text: string, maxDepth: number): TooDeep | undefined {
  const scanner = new Scanner(text, maxDepth);
  return scanner.run();
}

class Scanner {
  readonly #text: string;
  readonly #max: number;
  #pos = 0;
  #line = 1;
  #lineStart = 0;
  /** Open flow collections. */
  #flow = 0;
  /** Indentation of each open block level, and how many levels it stands for (its line's compact entries). */
  readonly #indents: number[] = [];
  readonly #weights: number[] = [];
  /** The sum of #weights: open block levels. */
  #block = 0;
  /** Indentation at or below which a block scalar ends (-1: not in one). */
  #scalarParent = -1;

  constructor(text: string, max: number) {
    this.#text = text;
    this.#max = max;
  }

  run(): TooDeep | undefined {
    const length = this.#text.length;
    while (this.#pos < length) {
      const found = this.#lineOf();
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** One line: its indentation (block levels), then its content. */
  #lineOf(): TooDeep | undefined {
    const text = this.#text;
    this.#lineStart = this.#pos;
    let indent = 0;
    while (this.#pos < text.length && text.charCodeAt(this.#pos) === SPACE) {
      this.#pos++;
      indent++;
    }
    const first = text.charCodeAt(this.#pos);
    const blank = this.#pos >= text.length || first === NEWLINE || first === RETURN || first === 0x23; /* # */
    // 1. Lines of a block scalar are text.
    if (this.#scalarParent >= 0) {
      if (blank || indent > this.#scalarParent) {
        this.#skipLine();
        return;
      }
      this.#scalarParent = -1;
    }
    // 2. Block levels: close those at or deeper than this line, open this one (outside flow collections).
    if (!blank && this.#flow === 0) {
      while (this.#indents.length > 0 && (this.#indents.at(-1) ?? 0) >= indent) {
        this.#indents.pop();
        this.#block -= this.#weights.pop() ?? 0;
      }
      this.#indents.push(indent);
      this.#weights.push(1);
      this.#block += 1;
      if (this.#block > this.#max) return this.#at(this.#block);
    }
    if (blank) {
      this.#skipLine();
      return;
    }
    return this.#content(indent);
  }

  /** The rest of a line: compact entries, flow collections, quotes, comments, block scalar headers. */
  #content(indent: number): TooDeep | undefined {
    const text = this.#text;
    let valueStart = true;
    while (this.#pos < text.length) {
      const c = text.charCodeAt(this.#pos);
      if (c === NEWLINE) {
        this.#newline();
        return undefined;
      }
      if (c === SPACE || c === TAB || c === RETURN) {
        this.#pos++;
        continue;
      }
      if (c === 0x23 /* # */ && this.#afterSpace()) {
        this.#skipLine();
        return;
      }
      if (c === 0x22 /* " */ || c === 0x27 /* ' */) {
        if (!this.#inFlowOrValue(valueStart)) {
          valueStart = false;
          this.#pos++;
          continue;
        }
        this.#quoted(c);
        valueStart = false;
        continue;
      }
      if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
        if (this.#inFlowOrValue(valueStart)) {
          this.#flow++;
          const depth = this.#block + this.#flow;
          if (depth > this.#max) return this.#at(depth);
        }
        this.#pos++;
        valueStart = this.#flow > 0;
        continue;
      }
      if ((c === 0x5d /* ] */ || c === 0x7d) /* } */ && this.#flow > 0) {
        this.#flow--;
        this.#pos++;
        valueStart = this.#flow > 0;
        continue;
      }
      if (this.#flow === 0 && valueStart && (c === 0x7c /* | */ || c === 0x3e) /* > */) {
        this.#scalarParent = indent;
        this.#skipLine();
        return;
      }
      const next = text.charCodeAt(this.#pos + 1);
      const spaceAfter =
        Number.isNaN(next) || next === SPACE || next === NEWLINE || next === RETURN || next === TAB;
      if (this.#flow === 0 && valueStart && (c === 0x2d /* - */ || c === 0x3f) /* ? */ && spaceAfter) {
        // The entry, and the mapping it may start on the same line (`- a: 1`): open for the lines below.
        this.#block += 2;
        this.#weights[this.#weights.length - 1] = (this.#weights.at(-1) ?? 0) + 2;
        if (this.#block > this.#max) return this.#at(this.#block);
        this.#pos++;
        continue;
      }
      if ((c === 0x3a /* : */ && spaceAfter) || (c === 0x2c /* , */ && this.#flow > 0)) {
        valueStart = true;
        this.#pos++;
        continue;
      }
      if ((c === 0x26 /* & */ || c === 0x21) /* ! */ && valueStart) {
        this.#skipToken(); // an anchor or a tag: the value starts after it
        continue;
      }
      valueStart = this.#flow > 0 && c === 0x3a; /* a flow value after `:` */
      this.#pos++;
    }
    return undefined;
  }

  #inFlowOrValue(valueStart: boolean): boolean {
    return this.#flow > 0 || valueStart;
  }

  #afterSpace(): boolean {
    const before = this.#text.charCodeAt(this.#pos - 1);
    return this.#pos === this.#lineStart || before === SPACE || before === TAB;
  }

  /** A quoted string, across lines: `\` escapes in double quotes, `''` in single ones. */
  #quoted(quote: number): void {
    const text = this.#text;
    this.#pos++;
    while (this.#pos < text.length) {
      const c = text.charCodeAt(this.#pos);
      if (c === NEWLINE) {
        this.#newline();
        continue;
      }
      if (quote === 0x22 && c === 0x5c /* \ */) {
        this.#pos += 2;
        continue;
      }
      if (c === quote) {
        if (quote === 0x27 && text.charCodeAt(this.#pos + 1) === 0x27) {
          this.#pos += 2;
          continue;
        }
        this.#pos++;
        return;
      }
      this.#pos++;
    }
  }

  #skipToken(): void {
    const text = this.#text;
    while (this.#pos < text.length) {
      const c = text.charCodeAt(this.#pos);
      if (c === SPACE || c === TAB || c === NEWLINE || c === RETURN) return;
      this.#pos++;
    }
  }

  #skipLine(): undefined {
    const end = this.#text.indexOf('\n', this.#pos);
    this.#pos = end === -1 ? this.#text.length : end;
    if (end !== -1) this.#newline();
    return undefined;
  }

  #newline(): void {
    this.#pos++;
    this.#line++;
    this.#lineStart = this.#pos;
  }

  #at(depth: number): TooDeep {
    return { depth, line: this.#line, column: this.#pos - this.#lineStart + 1 };
  }
}
