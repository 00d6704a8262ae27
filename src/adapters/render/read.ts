/** Bounded reads of repository files, and YAML configuration files (kustomization, Chart.yaml) with positions. */
import { open } from 'node:fs/promises';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { CapstanError, messageOf } from '../../core/errors.ts';
import { checkNesting, DEFAULT_MAX_DEPTH } from '../../core/nesting.ts';

const READ_CHUNK_BYTES = 256 * 1024;

/**
 * Reads a UTF-8 text file of at most `limit` bytes. The size is checked as it is read, so that a
 * file larger than the limit (or one that grew since it was measured) is refused without reading it whole.
 */
export async function readBounded(absolute: string, relative: string, limit: number): Promise<string> {
  const handle = await open(absolute, 'r');
  try {
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(READ_CHUNK_BYTES, limit + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > limit) throw tooLarge(relative, limit);
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, length));
    } catch {
      throw new CapstanError('RENDER_PARSE', `${relative} is not UTF-8 text; manifests must be UTF-8`, {
        subject: relative,
      });
    }
  } finally {
    await handle.close();
  }
}

export function tooLarge(relative: string, limit: number, size?: number): CapstanError {
  return new CapstanError(
    'RENDER_TOO_LARGE',
    `${relative} is ${size === undefined ? 'more than' : `${size} bytes, more than`} the limit of ${limit} bytes for one file; it was not read`,
    { subject: relative },
  );
}

/** A parsed YAML configuration file, with a way to turn node offsets into `file:line:column`. */
export interface ConfigFile {
  readonly document: Document.Parsed;
  readonly value: unknown;
  /** `file:line:column` of an offset in the file. */
  at(offset: number | undefined): string;
}

/** Parses one YAML document (a kustomization, Chart.yaml), refusing deep nesting, syntax errors and alias bombs. */
export function parseConfig(text: string, relative: string, maxAliases: number): ConfigFile {
  checkNesting(text, relative, DEFAULT_MAX_DEPTH);
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const at = (offset: number | undefined): string => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return `${relative}:${line}:${col}`;
  };
  const [error] = document.errors;
  if (error) {
    const message = error.message.replace(/ at line \d+, column \d+:\n\n[\s\S]*$/, '');
    throw new CapstanError('RENDER_PARSE', `${at(error.pos[0])}: ${message}`, {
      subject: relative,
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: maxAliases });
  } catch (cause) {
    throw new CapstanError('RENDER_PARSE', `${at(0)}: aliases that expand too much (${messageOf(cause)})`, {
      subject: relative,
      cause,
    });
  }
  return { document, value, at };
}
