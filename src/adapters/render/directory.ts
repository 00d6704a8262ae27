/**
 * The directory renderer: plain YAML and JSON files in a folder (and its sub-folders), read in a
 * sorted, deterministic order, each file and the total bounded before anything is read.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject } from '../../core/manifest.ts';
import type { DirectoryOptions } from '../../ports/renderer.ts';
import { confine } from './confine.ts';
import { checkpoint, type RenderContext } from './context.ts';
import { globToRegExp, matchesAny } from './glob.ts';
import { readBounded, tooLarge } from './read.ts';

const DEFAULT_INCLUDE = ['**/*.yaml', '**/*.yml', '**/*.json'];

interface ManifestFile {
  /** Real absolute path. */
  readonly absolute: string;
  /** Relative to the checkout root: what errors and sources show. */
  readonly relative: string;
}

export async function renderDirectory(
  context: RenderContext,
  options: DirectoryOptions = {},
): Promise<ParsedObject[]> {
  // 1. Find the files: sorted, hidden entries skipped, include/exclude applied, symlinks confined.
  const files = await listFiles(context, options);
  // 2. Read and parse each, bounding each file, the total, and the number of objects.
  const { maxFileBytes, maxTotalBytes, maxObjects, maxAliases } = context.limits;
  const objects: ParsedObject[] = [];
  let total = 0;
  for (const file of files) {
    checkpoint(context);
    const size = (await stat(file.absolute)).size;
    if (size > maxFileBytes) throw tooLarge(file.relative, maxFileBytes, size);
    total += size;
    if (total > maxTotalBytes) {
      throw new CapstanError(
        'RENDER_TOO_LARGE',
        `${file.relative}: the files of ${context.folder.relative} add up to more than ${maxTotalBytes} bytes; render less (exclude files, or split the application)`,
        { subject: file.relative },
      );
    }
    const text = await readBounded(file.absolute, file.relative, maxFileBytes);
    let parsed: ParsedObject[];
    try {
      parsed = await context.parse(text, file.relative, { maxAliases, maxObjects, maxBytes: maxFileBytes });
    } catch (error) {
      if (error instanceof CapstanError && error.code === 'RENDER_TOO_MANY_OBJECTS')
        throw tooMany(context, file);
      throw error;
    }
    objects.push(...parsed);
    if (objects.length > maxObjects) throw tooMany(context, file);
  }
  return objects;
}

function tooMany(context: RenderContext, file: ManifestFile): CapstanError {
  return new CapstanError(
    'RENDER_TOO_MANY_OBJECTS',
    `${file.relative}: ${context.folder.relative} has more than ${context.limits.maxObjects} objects; split the application or raise the limit`,
    { subject: file.relative },
  );
}

/** Every manifest file under the folder, in sorted order (by path, byte-wise). */
async function listFiles(context: RenderContext, options: DirectoryOptions): Promise<ManifestFile[]> {
  const include = (options.include?.length ? options.include : DEFAULT_INCLUDE).map(globToRegExp);
  const exclude = (options.exclude ?? []).map(globToRegExp);
  const recurse = options.recurse ?? true;
  const files: ManifestFile[] = [];
  const entered = new Set<string>([context.folder.absolute]);

  // `inFolder` is relative to the rendered folder (what the globs see); '' for the folder itself.
  const visit = async (absolute: string, inFolder: string): Promise<void> => {
    checkpoint(context);
    const entries = await readdir(absolute, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue; // .git, .github, editor files: never manifests
      const path = inFolder === '' ? entry.name : `${inFolder}/${entry.name}`;
      const relative = posix.join(context.folder.relative, path);
      let real = join(absolute, entry.name);
      let isDirectory = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        // A symlink that would be followed must stay inside the checkout; others are left alone.
        const target = await stat(real).catch(() => undefined);
        isDirectory = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
        const wanted = isDirectory ? recurse : matchesAny(path, include);
        if (!wanted || matchesAny(path, exclude)) continue;
        real = (await confine(context.root, relative, 'symlink')).absolute;
      }
      if (isDirectory) {
        // `real` is a real path here (the parent is), so `entered` also stops symlink loops.
        if (!recurse || matchesAny(path, exclude) || entered.has(real)) continue;
        entered.add(real);
        await visit(real, path);
      } else if (isFile && matchesAny(path, include) && !matchesAny(path, exclude)) {
        files.push({ absolute: real, relative });
      }
    }
  };
  await visit(context.folder.absolute, '');
  // Sorted by path, byte-wise (not locale-dependent), whatever the walk order.
  return files.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0));
}
