/**
 * The directory renderer: plain YAML and JSON files in a folder (and its sub-folders), read in a
 * sorted, deterministic order, each file and the total bounded before anything is read; and its
 * `*.jsonnet` programs, evaluated by jsonnet.ts (as Argo CD's directory mode does).
 */
import { readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject } from '../../core/manifest.ts';
import type { DirectoryOptions } from '../../ports/renderer.ts';
import { confine, joinInside } from './confine.ts';
import { checkpoint, type RenderContext } from './context.ts';
import { globToRegExp, matchesAny } from './glob.ts';
import { CHART_FILE } from './helm.ts';
import { JSONNET_PROGRAM, jsonnetInputs, renderJsonnet } from './jsonnet.ts';
import { KUSTOMIZATION_FILES } from './kustomize.ts';
import { readBounded, tooLarge } from './read.ts';
import { locate, type ToolLocator } from './tools.ts';

const DEFAULT_INCLUDE = ['**/*.yaml', '**/*.yml', '**/*.json', '**/*.jsonnet'];

interface ManifestFile {
  /** Real absolute path. */
  readonly absolute: string;
  /** Relative to the checkout root: what errors and sources show. */
  readonly relative: string;
}

/** The files of a directory render: manifests read as they are, Jsonnet programs evaluated. */
interface FolderFiles {
  readonly manifests: ManifestFile[];
  readonly programs: ManifestFile[];
  /** Files left out (not matching include, or excluded), relative to the folder: to explain an empty render. */
  readonly others: string[];
}

export async function renderDirectory(
  context: RenderContext,
  options: DirectoryOptions,
  jsonnet: ToolLocator,
): Promise<ParsedObject[]> {
  // 1. Find the files: sorted, hidden entries skipped, include/exclude applied, symlinks confined.
  const { manifests, programs, others } = await folderFiles(context, options);
  // 2. Read and parse each manifest, bounding each file, the total, and the number of objects.
  const objects = await readManifests(context, manifests);
  // 3. Evaluate the Jsonnet programs (jsonnet is found, or built, only when there are some).
  if (programs.length > 0) {
    objects.push(...(await renderJsonnet(context, programs, options.jsonnet ?? {}, await locate(jsonnet))));
    const last = programs.at(-1);
    if (last !== undefined && objects.length > context.limits.maxObjects) throw tooMany(context, last);
  }
  if (objects.length === 0) context.warn(emptyReason(context, [...manifests, ...programs], others));
  return objects;
}

/** What a directory render reads: the folder, and what its Jsonnet programs import (libraries included). */
export async function directoryInputs(context: RenderContext, options: DirectoryOptions): Promise<string[]> {
  const { programs } = await folderFiles(context, options);
  if (programs.length === 0) return [context.folder.relative];
  return [context.folder.relative, ...(await jsonnetInputs(context, programs, options.jsonnet ?? {}))];
}

/** True when a directory render of the folder evaluates Jsonnet (so needs jsonnet). */
export async function hasJsonnetPrograms(
  context: RenderContext,
  options: DirectoryOptions,
): Promise<boolean> {
  return (await folderFiles(context, options)).programs.length > 0;
}

async function readManifests(
  context: RenderContext,
  files: readonly ManifestFile[],
): Promise<ParsedObject[]> {
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

/** Jsonnet's package files (JSON, but not manifests). */
const JSONNET_PACKAGE = /(^|\/)jsonnetfile(\.lock)?\.json$/;

/**
 * The folder's files, split into manifests and Jsonnet programs. Jsonnet's package files are neither,
 * and nothing inside a Jsonnet library folder (options.jsonnet.libs, such as vendor/) is read by itself.
 */
async function folderFiles(context: RenderContext, options: DirectoryOptions): Promise<FolderFiles> {
  const libs = (options.jsonnet?.libs ?? []).map((lib, index) =>
    joinInside('.', lib, `jsonnet library folder (libs[${index}])`),
  );
  const inLibrary = (relative: string): boolean =>
    libs.some((lib) => lib === '.' || relative === lib || relative.startsWith(`${lib}/`));
  const { files, others } = await listFiles(context, options);
  const manifests: ManifestFile[] = [];
  const programs: ManifestFile[] = [];
  for (const file of files) {
    const inFolder = posix.relative(context.folder.relative, file.relative);
    if (inLibrary(file.relative) || JSONNET_PACKAGE.test(file.relative)) others.push(inFolder);
    else if (JSONNET_PROGRAM.test(file.relative)) programs.push(file);
    else manifests.push(file);
  }
  return { manifests, programs, others };
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
  return `${folder}: no manifests found (looked for *.yaml, *.yml, *.json and *.jsonnet files, or those --include names); ${found}. A config-management plugin's folder is not rendered by Capstan: render it in CI and commit the manifests`;
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
