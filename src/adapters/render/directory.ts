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
import { CHART_FILE } from './helm.ts';
import { KUSTOMIZATION_FILES } from './kustomize.ts';
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
  const { files, others } = await listFiles(context, options);
  // 2. A folder of another tool's sources renders nothing useful: say so instead of an empty render.
  explainLayout(context, files, others);
  // 3. Read and parse each, bounding each file, the total, and the number of objects.
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
  if (objects.length === 0) context.warn(emptyReason(context, files, others));
  return objects;
}

/** Jsonnet's sources and its package files (which are JSON, but not manifests). */
const JSONNET_SOURCE = /\.(jsonnet|libsonnet)$/;
const JSONNET_PACKAGE = /(^|\/)jsonnetfile(\.lock)?\.json$/;

/** Refuses a folder of Jsonnet sources without manifests: rendering it as plain files gives nothing. */
function explainLayout(
  context: RenderContext,
  files: readonly ManifestFile[],
  others: readonly string[],
): void {
  const jsonnet = others.filter((f) => JSONNET_SOURCE.test(f));
  if (jsonnet.length === 0 || !files.every((f) => JSONNET_PACKAGE.test(f.relative))) return;
  throw new CapstanError(
    'RENDER_UNSUPPORTED_LAYOUT',
    `${context.folder.relative} holds Jsonnet (${jsonnet.slice(0, 3).join(', ')}${jsonnet.length > 3 ? ', …' : ''}) and no YAML or JSON manifests: Capstan does not render Jsonnet; render it to YAML in your CI job (jsonnet -y) and commit the result, or point the application at a folder of manifests`,
    { subject: context.folder.relative },
  );
}

/** Why a directory render came out empty: which folder, which files it looked for, what it found instead. */
function emptyReason(
  context: RenderContext,
  files: readonly ManifestFile[],
  others: readonly string[],
): string {
  const folder = context.folder.relative;
  if (files.length > 0)
    return `${folder}: its ${files.length} manifest file(s) hold no objects (empty or only comments)`;
  const found =
    others.length === 0
      ? 'the folder holds no files'
      : `it holds ${others.length} other file(s): ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}`;
  return `${folder}: no manifests found (looked for *.yaml, *.yml and *.json files, or those --include names); ${found}. A config-management plugin's folder is not rendered by Capstan: render it in CI and commit the manifests`;
}

/** A kustomization or a Helm chart inside a folder read as plain files: its files are not plain manifests. */
function checkNotOtherSource(context: RenderContext, inFolder: string, names: ReadonlySet<string>): void {
  const folder = posix.join(context.folder.relative, inFolder);
  const kustomization = KUSTOMIZATION_FILES.find((n) => names.has(n));
  if (kustomization !== undefined) {
    throw new CapstanError(
      'RENDER_NESTED_SOURCE',
      `${posix.join(folder, kustomization)}: ${folder} is a Kustomize folder inside ${context.folder.relative}, which is read as plain manifests (directory mode), so its kustomization and patches would be applied as objects. Point the application at ${folder} (it is rendered with Kustomize), or leave it out (--exclude '${inFolder === '' ? '**' : `${inFolder}/**`}', or in an Application spec.source.directory.exclude)`,
      { subject: posix.join(folder, kustomization) },
    );
  }
  if (names.has(CHART_FILE)) {
    throw new CapstanError(
      'RENDER_NESTED_SOURCE',
      `${posix.join(folder, CHART_FILE)}: ${folder} is a Helm chart inside ${context.folder.relative}, which is read as plain manifests (directory mode), so its templates would be read as objects. Point the application at ${folder} (it is rendered with Helm), or leave it out (--exclude '${inFolder === '' ? '**' : `${inFolder}/**`}', or in an Application spec.source.directory.exclude)`,
      { subject: posix.join(folder, CHART_FILE) },
    );
  }
}

function tooMany(context: RenderContext, file: ManifestFile): CapstanError {
  return new CapstanError(
    'RENDER_TOO_MANY_OBJECTS',
    `${file.relative}: ${context.folder.relative} has more than ${context.limits.maxObjects} objects; split the application or raise the limit`,
    { subject: file.relative },
  );
}

/** Every manifest file under the folder, in sorted order (by path, byte-wise). */
async function listFiles(
  context: RenderContext,
  options: DirectoryOptions,
): Promise<{ files: ManifestFile[]; others: string[] }> {
  const include = (options.include?.length ? options.include : DEFAULT_INCLUDE).map(globToRegExp);
  const exclude = (options.exclude ?? []).map(globToRegExp);
  const recurse = options.recurse ?? true;
  const files: ManifestFile[] = [];
  /** Files left out (not matching include, or excluded), relative to the folder: to explain an empty render. */
  const others: string[] = [];
  const entered = new Set<string>([context.folder.absolute]);

  // `inFolder` is relative to the rendered folder (what the globs see); '' for the folder itself.
  const visit = async (absolute: string, inFolder: string): Promise<void> => {
    checkpoint(context);
    const entries = await readdir(absolute, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // A kustomization or chart file that would be read as a manifest means another kind of source.
    const included = entries
      .filter((e) => !e.isDirectory())
      .map((e) => e.name)
      .filter((name) => {
        const path = inFolder === '' ? name : `${inFolder}/${name}`;
        return matchesAny(path, include) && !matchesAny(path, exclude);
      });
    checkNotOtherSource(context, inFolder, new Set(included));
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
      } else if (isFile) {
        others.push(path);
      }
    }
  };
  await visit(context.folder.absolute, '');
  // Sorted by path, byte-wise (not locale-dependent), whatever the walk order.
  return {
    files: files.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0)),
    others,
  };
}
