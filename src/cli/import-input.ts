// What `capstan import` reads: a file, standard input, or a folder of a fleet repository. A folder with
// a kustomization.yaml (kustomize.config.k8s.io, as `flux bootstrap` and fleet repositories write them)
// is followed through its resources, folder by folder; a folder without one gives every YAML file below
// it, as Flux's kustomize-controller reads such a folder.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { CapstanError, messageOf } from '../core/errors.ts';
import { parseManifests, type ParsedObject, type SourceLocation } from '../core/manifest.ts';
import type { ImportFinding } from '../contracts/import-report.ts';
import { KUSTOMIZATION_FILES } from '../adapters/render/kustomize.ts';

/** The objects read, and what of the kustomization files was not followed (a remote base, a patch). */
export interface ImportInput {
  readonly objects: ParsedObject[];
  readonly leftOut: ImportFinding[];
}

/** A bad input: the message names the file (and line) and what is wrong. */
export class ImportInputError extends Error {}

const LIMITS = { maxAliases: 100, maxObjects: 5000, maxBytes: 16 * 1024 * 1024 };
const KUSTOMIZE_API_GROUP = 'kustomize.config.k8s.io';
/** The fields of a kustomization that list what it builds from; each entry a file or a folder. */
const LISTS = ['resources', 'bases'] as const;
/** Fields that change the objects: kustomize would apply them, the import does not. */
const NOT_APPLIED =
  /^(patches|patchesStrategicMerge|patchesJson6902|namePrefix|nameSuffix|namespace|commonLabels|labels|commonAnnotations|images|replicas|components|generators|transformers|configMapGenerator|secretGenerator)$/;
const MANIFEST_FILE = /\.ya?ml$/;

/** Reads FILE (`-`: standard input) or a folder, as the help of capstan import says. */
export async function readImportInput(path: string, stdin: () => Promise<string>): Promise<ImportInput> {
  const reader = new InputReader();
  if (path === '-') reader.parse(await stdin(), '(stdin)');
  else await reader.readPath(path);
  if (reader.objects.length === 0)
    throw new ImportInputError(`${path === '-' ? '(stdin)' : path} holds no object to import`);
  return { objects: reader.objects, leftOut: reader.leftOut };
}

class InputReader {
  readonly objects: ParsedObject[] = [];
  readonly leftOut: ImportFinding[] = [];
  readonly #seen = new Set<string>();

  async readPath(path: string): Promise<void> {
    const info = await stat(path).catch((error: unknown) => {
      throw new ImportInputError(`${path}: cannot read it: ${messageOf(error)}`);
    });
    if (info.isDirectory()) await this.readFolder(path);
    else await this.readFile(path);
  }

  /** A file: a kustomization (followed) or manifests. */
  async readFile(file: string): Promise<void> {
    if (this.#once(file)) return;
    const text = await readFile(file, 'utf8').catch((error: unknown) => {
      throw new ImportInputError(`${file}: cannot read it: ${messageOf(error)}`);
    });
    if ((KUSTOMIZATION_FILES as readonly string[]).includes(basename(file))) {
      const followed = await this.followKustomization(file, text);
      if (followed) return;
    }
    this.parse(text, file);
  }

  /** A folder: its kustomization file if it has one, else every YAML file below it (hidden ones left out). */
  async readFolder(folder: string): Promise<void> {
    if (this.#once(folder)) return;
    const entries = await readdir(folder, { withFileTypes: true });
    const kustomization = KUSTOMIZATION_FILES.find((name) => entries.some((e) => e.name === name));
    if (kustomization !== undefined) {
      await this.readFile(join(folder, kustomization));
      return;
    }
    const names = entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of names) {
      if (entry.isDirectory()) await this.readFolder(join(folder, entry.name));
      else if (entry.isFile() && MANIFEST_FILE.test(entry.name))
        await this.readFile(join(folder, entry.name));
    }
  }

  parse(text: string, file: string): void {
    try {
      this.objects.push(...parseManifests(text, file, LIMITS));
    } catch (error) {
      if (error instanceof CapstanError) throw new ImportInputError(error.message);
      throw error;
    }
  }

  /**
   * Follows a kustomize kustomization: each entry of resources (and the older bases) in order; a remote
   * one and the fields that would change the objects are left out, named with their line. Returns false
   * when the file is not a kustomize kustomization (a Flux Kustomization saved under that name).
   */
  async followKustomization(file: string, text: string): Promise<boolean> {
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: true });
    if (document.errors.length > 0) throw new ImportInputError(`${file}: ${document.errors[0]?.message}`);
    const root = document.contents;
    if (!isMap(root)) throw new ImportInputError(`${file}: a kustomization is a map of fields`);
    const apiVersion: unknown = (document.toJS() as Record<string, unknown>)['apiVersion'];
    if (typeof apiVersion === 'string' && !apiVersion.startsWith(`${KUSTOMIZE_API_GROUP}/`)) return false;
    const at = (node: Node | null | undefined): SourceLocation => ({
      file,
      line: node?.range ? lines.linePos(node.range[0]).line : 1,
    });
    for (const pair of root.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (NOT_APPLIED.test(key))
        this.#leaveOut(
          at(isScalar(pair.key) ? pair.key : undefined),
          key,
          'kustomize would change the objects with it; the import reads them as they are in their files',
        );
    }
    for (const list of LISTS) {
      const entries = root.get(list, true);
      if (entries === undefined) continue;
      if (!isSeq(entries))
        throw new ImportInputError(`${file}:${at(entries).line}: ${list} is a list of files and folders`);
      for (const [index, item] of entries.items.entries()) {
        const entry = isScalar(item) ? item.value : undefined;
        if (typeof entry !== 'string')
          throw new ImportInputError(
            `${file}:${at(isScalar(item) ? item : undefined).line}: ${list}[${index}] is not a path`,
          );
        await this.#follow(file, entry, {
          at: at(isScalar(item) ? item : undefined),
          field: `${list}[${index}]`,
        });
      }
    }
    return true;
  }

  async #follow(file: string, entry: string, where: { at: SourceLocation; field: string }): Promise<void> {
    if (
      /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ||
      /^(github\.com|gitlab\.com)\//.test(entry) ||
      entry.startsWith('git@')
    ) {
      this.#leaveOut(
        where.at,
        where.field,
        `'${entry}' is a remote resource: import it from a checkout of that repository`,
      );
      return;
    }
    const path = resolve(file, '..', entry);
    const shown = relative(process.cwd(), path) || '.';
    await this.readPath(shown.startsWith('..') ? path : shown).catch((error: unknown) => {
      if (error instanceof ImportInputError && !error.message.startsWith(`${file}:`))
        throw new ImportInputError(`${file}:${where.at.line}: ${where.field} '${entry}': ${error.message}`);
      throw error;
    });
  }

  #leaveOut(at: SourceLocation, field: string, reason: string): void {
    this.leftOut.push({ subject: 'kustomization', source: at, field, reason });
  }

  /** True when `path` was read already (a folder listed twice, a cycle). */
  #once(path: string): boolean {
    const key = resolve(path);
    if (this.#seen.has(key)) return true;
    this.#seen.add(key);
    return false;
  }
}
