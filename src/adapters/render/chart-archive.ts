/**
 * Unpacks a Helm chart archive (`<chart>-<version>.tgz`, a gzip'd tar with one top folder) into a folder,
 * refusing what a hostile archive may carry: entries outside the chart's folder (absolute paths, `..`,
 * a second top folder), links and devices, more than the size and entry limits. Only regular files
 * and folders are written, and only below the destination.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { gunzip } from 'node:zlib';
import { CapstanError } from '../../core/errors.ts';

export interface UnpackLimits {
  /** Bytes at most once decompressed (the tar stream). */
  readonly maxBytes: number;
  /** Files and folders at most. */
  readonly maxEntries: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000 };

/** One entry of the archive: its path below the chart's top folder ('' for the folder itself). */
export interface ArchiveEntry {
  readonly path: string;
  readonly kind: 'file' | 'folder';
  readonly data: Buffer;
}

const BLOCK = 512;

/**
 * The entries of a chart archive, checked: each below one top folder, no links, within the limits.
 * `what` names the archive in errors (`chart web 1.2.0 from https://…`).
 */
export async function readChartArchive(
  archive: Buffer,
  what: string,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<ArchiveEntry[]> {
  const tar = await new Promise<Buffer>((resolve, reject) => {
    gunzip(archive, { maxOutputLength: limits.maxBytes }, (error, result) => {
      if (!error) {
        resolve(result);
        return;
      }
      const tooLarge = (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      reject(
        new CapstanError(
          tooLarge ? 'RENDER_TOO_LARGE' : 'RENDER_PARSE',
          tooLarge
            ? `${what}: the archive unpacks to more than ${limits.maxBytes} bytes; it was not unpacked`
            : `${what}: the archive is not a gzip'd tar (${error.message})`,
          { subject: what },
        ),
      );
    });
  });
  return tarEntries(tar, what, limits);
}

/** Writes the entries into `folder` (which must not exist yet). */
export async function writeChartEntries(folder: string, entries: readonly ArchiveEntry[]): Promise<void> {
  await mkdir(folder, { recursive: true, mode: 0o700 });
  // Folders first (an archive may list a file before its folder), then the files.
  for (const entry of entries)
    if (entry.kind === 'folder' && entry.path !== '')
      await mkdir(join(folder, entry.path), { recursive: true });
  for (const entry of entries) {
    if (entry.kind !== 'file') continue;
    await mkdir(join(folder, posix.dirname(entry.path)), { recursive: true });
    await writeFile(join(folder, entry.path), entry.data, { mode: 0o644, flag: 'wx' });
  }
}

function tarEntries(tar: Buffer, what: string, limits: UnpackLimits): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  const seen = new Set<string>();
  let top: string | undefined;
  let longName: string | undefined;
  for (let offset = 0; offset + BLOCK <= tar.length;) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    const size = octal(header.subarray(124, 136), what);
    const type = String.fromCharCode(header[156] ?? 0);
    const dataStart = offset + BLOCK;
    if (dataStart + size > tar.length) throw bad(what, 'the archive ends inside an entry (truncated)');
    const data = tar.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    // Extended headers: a long name for the next entry (PAX `path=`, GNU `L`); global ones say nothing we use.
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (type === 'g') continue;
    const name = longName ?? ustarName(header);
    longName = undefined;
    const kind = type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'folder' : undefined;
    if (kind === undefined)
      throw bad(
        what,
        `${name} is ${TYPE_NAMES[type] ?? `an entry of type '${type}'`}; a chart holds only files and folders`,
      );
    const split = entryPath(name, what);
    top ??= split.top;
    if (split.top !== top)
      throw bad(what, `${name} is outside the chart's folder ${top}/ (an archive holds one chart)`);
    if (kind === 'file' && (split.path === '' || seen.has(split.path)))
      throw bad(what, `${name} is written twice or names the chart's folder`);
    seen.add(split.path);
    entries.push({ path: split.path, kind, data: kind === 'file' ? Buffer.from(data) : Buffer.alloc(0) });
    if (entries.length > limits.maxEntries)
      throw new CapstanError(
        'RENDER_TOO_LARGE',
        `${what}: the archive has more than ${limits.maxEntries} entries; it was not unpacked`,
        { subject: what },
      );
  }
  if (top === undefined) throw bad(what, 'the archive is empty');
  return entries;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a named pipe',
};

/** `web/templates/a.yaml` → top `web`, path `templates/a.yaml`; refuses anything that could leave the folder. */
function entryPath(name: string, what: string): { top: string; path: string } {
  if (name.includes('\0') || name.includes('\\'))
    throw new CapstanError(
      'RENDER_PATH_ESCAPE',
      `${what}: the entry ${JSON.stringify(name)} has a NUL or a backslash`,
      {
        subject: what,
      },
    );
  if (posix.isAbsolute(name))
    throw new CapstanError(
      'RENDER_PATH_ESCAPE',
      `${what}: the entry ${name} is an absolute path; it was not unpacked`,
      {
        subject: what,
      },
    );
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..'))
    throw new CapstanError(
      'RENDER_PATH_ESCAPE',
      `${what}: the entry ${name} leaves the chart's folder (through ..); it was not unpacked`,
      { subject: what },
    );
  const [top, ...rest] = parts;
  if (top === undefined) throw bad(what, `the entry '${name}' has no name`);
  return { top, path: rest.join('/') };
}

function ustarName(header: Buffer): string {
  const field = (start: number, length: number): string =>
    header
      .subarray(start, start + length)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  const name = field(0, 100);
  const ustar = header.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = ustar ? field(345, 155) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

function paxPath(data: Buffer): string | undefined {
  // Records: "<length> <key>=<value>\n".
  let path: string | undefined;
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number(data.subarray(offset, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (record.slice(0, equals) === 'path') path = record.slice(equals + 1);
    offset += length;
  }
  return path;
}

function octal(field: Buffer, what: string): number {
  if (((field[0] ?? 0) & 0x80) !== 0)
    throw bad(what, 'an entry is larger than the archive format writes in octal');
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .trim();
  const value = text === '' ? 0 : Number.parseInt(text, 8);
  if (!/^[0-7]*$/.test(text) || !Number.isSafeInteger(value))
    throw bad(what, `an entry's size '${text}' is not a number`);
  return value;
}

function bad(what: string, why: string): CapstanError {
  return new CapstanError('RENDER_PARSE', `${what}: ${why}; it was not unpacked`, { subject: what });
}
