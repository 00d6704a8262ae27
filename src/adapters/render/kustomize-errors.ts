/**
 * Where a kustomize error comes from, read from kustomize's own message (its paths already made
 * relative to the checkout): the kustomization it was building when it failed (the innermost
 * `recursed accumulation of path '…'` or `couldn't make target for path '…'`, else the rendered
 * folder), then in it
 *   - a file that does not exist (`lstat base/nope.yaml: no such file`): the entry that names it
 *     (`base/kustomization.yaml:4:9: patches.path entry "nope.yaml"`);
 *   - a manifest that is not valid YAML (`MalformedYAMLError: yaml: line 5: … in File: deploy.yaml`):
 *     that file and line;
 *   - a kustomization that does not decode (`invalid Kustomization: json: cannot unmarshal … field
 *     Image.images.newTag`): the kustomization file and the line of that field.
 * Anything else keeps kustomize's message as it is.
 */
import { join, posix } from 'node:path';
import { isMap, isScalar } from 'yaml';
import { CapstanError } from '../../core/errors.ts';
import { confine, joinInside } from './confine.ts';
import type { RenderContext } from './context.ts';
import { foldKey, kustomizationPaths } from './kustomization-fields.ts';
import { findKustomization } from './kustomize.ts';
import { parseConfig, readBounded, type ConfigFile } from './read.ts';

/** The kustomization folder (relative to the checkout) kustomize was building when it failed. */
export function failingFolder(message: string, rendered: string): string {
  const folders = [
    ...message.matchAll(/(?:recursed accumulation of path|couldn't make target for path) '([^']+)'/g),
  ].map((match) => match[1] ?? '');
  return folders.at(-1) ?? rendered;
}

/** A file kustomize could not find, relative to the checkout. */
export function missingFile(message: string): string | undefined {
  return /lstat (\S+): no such file or directory/.exec(message)?.[1];
}

/** The file and line of a malformed manifest, the file relative to the kustomization folder. */
export function malformedYaml(message: string): { file: string; line: number } | undefined {
  const match = /MalformedYAMLError: yaml: line (\d+): .*? in File: (\S+)/.exec(message);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { file: match[2], line: Number(match[1]) };
}

/** The top-level kustomization field named in a decoding error (`Image.images.newTag` → `images`). */
export function undecodableField(message: string): string | undefined {
  // Go names the struct, then the JSON path in it: `Image.images.newTag`, `Kustomization.resources`.
  return /invalid Kustomization: json: cannot unmarshal .*? Go struct field \w+\.(\w+)/.exec(message)?.[1];
}

/** The error, prefixed with the place in the repository that caused it, where kustomize's message tells it. */
export async function locateKustomizeError(context: RenderContext, error: unknown): Promise<unknown> {
  if (!(error instanceof CapstanError) || error.code !== 'RENDER_TOOL_FAILED') return error;
  const message = error.message;
  const folder = failingFolder(message, context.folder.relative);
  const where = await placeOf(context, { folder, message }).catch(() => undefined);
  if (where === undefined) return error;
  return new CapstanError(error.code, `${where}: ${message}`, { subject: where, cause: error });
}

async function placeOf(
  context: RenderContext,
  at: { folder: string; message: string },
): Promise<string | undefined> {
  const malformed = malformedYaml(at.message);
  if (malformed) return `${posix.join(at.folder, malformed.file)}:${malformed.line}`;
  const config = await readKustomization(context, at.folder);
  if (config === undefined) return undefined;
  const missing = missingFile(at.message);
  if (missing !== undefined) {
    const entry = kustomizationPaths(config.document).find(
      (e) => safeJoin(at.folder, e.value) === posix.normalize(missing),
    );
    return entry === undefined
      ? undefined
      : `${config.at(entry.offset)}: ${entry.field} entry "${entry.value}"`;
  }
  const field = undecodableField(at.message);
  if (field !== undefined) return config.at(topLevelKeyOffset(config, field));
  return undefined;
}

async function readKustomization(context: RenderContext, folder: string): Promise<ConfigFile | undefined> {
  const confined = await confine(context.root, folder, 'kustomization folder');
  const name = await findKustomization(confined.absolute);
  if (name === undefined) return undefined;
  const file = posix.join(confined.relative, name);
  const text = await readBounded(join(confined.absolute, name), file, context.limits.maxFileBytes);
  return parseConfig(text, file, context.limits.maxAliases);
}

function safeJoin(folder: string, entry: string): string | undefined {
  try {
    return joinInside(folder, entry, 'entry');
  } catch {
    return undefined;
  }
}

/** The offset of the top-level key that folds to `field` (as kustomize matches keys), or the start. */
function topLevelKeyOffset(config: ConfigFile, field: string): number | undefined {
  const contents = config.document.contents;
  if (!isMap(contents)) return undefined;
  for (const item of contents.items) {
    const key = item.key;
    if (isScalar(key) && typeof key.value === 'string' && foldKey(key.value) === foldKey(field))
      return key.range[0];
  }
  return undefined;
}
