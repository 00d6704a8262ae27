/**
 * The paths a kustomization names, read the way kustomize itself reads them, so that the pre-check
 * in kustomize.ts sees every entry kustomize will load.
 *
 * kustomize (api/types/kustomization.go, Unmarshal) turns the YAML into JSON with sigs.k8s.io/yaml
 * (go-yaml v2: YAML 1.1, so merge keys `<<` apply and `!!binary` scalars decode to their bytes) and
 * decodes that JSON with Go's encoding/json, which matches object keys to struct fields without
 * regard to case (Go's simple case folding: `Resources`, `RESOURCES`, and even `reſources` with
 * U+017F or `Kind` with the Kelvin sign U+212A are all the same field). So here:
 * - a field is every key of the mapping that folds to its name, explicit or brought in by a merge
 *   key (directly, through an alias, or a list of them); all of them are checked, which is a
 *   superset of the one kustomize keeps;
 * - aliases are followed; `!!binary` values are decoded;
 * - generators, transformers and validators may name kustomization folders too, and are walked.
 * Pure: no I/O, so the property tests can run it on any text.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';

/** Fields whose entries may name other kustomizations (folders) as well as files. */
const BASE_FIELDS = ['resources', 'bases', 'components', 'generators', 'transformers', 'validators'];
/** Fields whose string entries name files (inline patches and configurations contain newlines). */
const FILE_LIST_FIELDS = ['crds', 'configurations', 'patchesStrategicMerge'];
/** Lists of mappings whose `path` names a file. */
const PATH_FIELDS = ['patches', 'patchesJson6902', 'replacements'];
const GENERATOR_FIELDS = ['configMapGenerator', 'secretGenerator'];
/** How deep merge keys may nest before the file is refused as unreadable (kustomization files are flat). */
const MAX_MERGE_DEPTH = 32;

export interface PathEntry {
  /** The field as kustomize knows it (`resources`, `patches.path`), whatever case the file used. */
  readonly field: string;
  readonly value: string;
  readonly offset: number | undefined;
  /** resources/bases/components/generators/transformers/validators: may be a folder with its own kustomization. */
  readonly base: boolean;
}

/**
 * A key as Go's encoding/json compares it to a field name: ASCII letters in one case, and the two
 * non-ASCII runes whose simple case folding reaches an ASCII letter (ſ U+017F, K U+212A) mapped to it.
 */
export function foldKey(key: string): string {
  return key
    .replace(/[A-Z]/g, (c) => c.toLowerCase())
    .replaceAll('\u017f', 's')
    .replaceAll('\u212a', 'k');
}

/** The paths a parsed kustomization names, with their offsets in the file. */
export function kustomizationPaths(document: Document.Parsed): PathEntry[] {
  const reader = new FieldReader(document);
  const root = document.contents ?? undefined;
  const entries: PathEntry[] = [];
  /** `base`: the entry names a base (a folder); `keyed`: `key=path`, the path after the first '='. */
  const add = (
    field: string,
    node: Node | undefined,
    { base, keyed = false }: { readonly base: boolean; readonly keyed?: boolean },
  ): void => {
    const text = reader.text(node);
    if (text === undefined || text.includes('\n')) return;
    let value = text.trim();
    if (keyed && value.includes('=')) value = value.slice(value.indexOf('=') + 1); // key=path
    if (value !== '') entries.push({ field, value, offset: node?.range?.[0], base });
  };
  const items = (node: Node | undefined, field: string): Node[] =>
    reader.fields(node, field).flatMap((list) => reader.items(list));

  for (const field of BASE_FIELDS) for (const item of items(root, field)) add(field, item, { base: true });
  for (const field of FILE_LIST_FIELDS)
    for (const item of items(root, field)) add(field, item, { base: false });
  for (const field of PATH_FIELDS) {
    for (const item of items(root, field)) {
      for (const path of reader.fields(item, 'path')) add(`${field}.path`, path, { base: false });
    }
  }
  for (const openapi of reader.fields(root, 'openapi')) {
    for (const path of reader.fields(openapi, 'path')) add('openapi.path', path, { base: false });
  }
  for (const field of GENERATOR_FIELDS) {
    for (const generator of items(root, field)) {
      for (const item of items(generator, 'files')) add(`${field}.files`, item, { base: false, keyed: true });
      for (const item of items(generator, 'envs')) add(`${field}.envs`, item, { base: false });
      for (const env of reader.fields(generator, 'env')) add(`${field}.env`, env, { base: false });
    }
  }
  return entries;
}

/** Reads mappings as go-yaml v2 and encoding/json would: aliases followed, merge keys applied, keys folded. */
class FieldReader {
  readonly #document: Document.Parsed;

  constructor(document: Document.Parsed) {
    this.#document = document;
  }

  /** Every value in the mapping (and what it merges in) whose key folds to `field`. */
  fields(node: Node | undefined, field: string): Node[] {
    const found: Node[] = [];
    this.#collect(node, foldKey(field), found, 0);
    return found;
  }

  /** The items of a sequence (none for anything else). */
  items(node: Node | undefined): Node[] {
    const list = this.#resolve(node);
    if (!isSeq(list)) return [];
    return list.items.flatMap((item) => {
      const resolved = this.#resolve(item as Node);
      return resolved === undefined ? [] : [resolved];
    });
  }

  /** The string a scalar stands for (`!!binary` decoded), or undefined. */
  text(node: Node | undefined): string | undefined {
    const scalar = this.#resolve(node);
    if (!isScalar(scalar)) return undefined;
    const { value } = scalar;
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (typeof value !== 'string') return undefined;
    if (scalar.tag?.endsWith(':binary') === true) return Buffer.from(value, 'base64').toString('utf8');
    return value;
  }

  #collect(node: Node | undefined, folded: string, found: Node[], depth: number): void {
    const map = this.#resolve(node);
    if (!isMap(map)) return;
    if (depth > MAX_MERGE_DEPTH) return;
    for (const pair of map.items) {
      if (!isPair(pair)) continue;
      const key = this.text(pair.key as Node);
      if (key === undefined) continue;
      if (key === '<<') {
        for (const source of this.#mergeSources(pair.value as Node)) {
          this.#collect(source, folded, found, depth + 1);
        }
      } else if (foldKey(key) === folded) {
        const value = this.#resolve(pair.value as Node);
        if (value !== undefined) found.push(value);
      }
    }
  }

  /** A merge key's value: a mapping, an alias of one, or a sequence of those. */
  #mergeSources(node: Node | undefined): Node[] {
    const value = this.#resolve(node);
    if (isSeq(value)) return this.items(value);
    return value === undefined ? [] : [value];
  }

  #resolve(node: Node | undefined | null): Node | undefined {
    let current: unknown = node;
    for (let hops = 0; isAlias(current) && hops < MAX_MERGE_DEPTH; hops++) {
      current = current.resolve(this.#document);
    }
    return current === null || isAlias(current) ? undefined : (current as Node | undefined);
  }
}
