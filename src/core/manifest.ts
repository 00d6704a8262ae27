/**
 * Manifest parsing: YAML (or JSON) text → Kubernetes objects, each with the file and line it came
 * from. Pure: the text comes in, objects or a CapstanError naming `file:line:column` come out.
 *
 * YAML is read the way kubectl reads it (sigs.k8s.io/yaml, YAML 1.1): `yes`/`on` are booleans,
 * `0644` is octal (420), `<<` merge keys work; timestamps and `1:30` stay strings. Duplicate keys,
 * alias bombs, deep nesting and oversized input are refused before anything is expanded.
 */
import {
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  visit,
  type Document,
  type Node,
  type Tags,
  type YAMLError,
} from 'yaml';
import { CapstanError, messageOf } from './errors.ts';
import { checkNesting, DEFAULT_MAX_DEPTH } from './nesting.ts';
import { formatId, idOf, keyOf, type KubeObject, type ResourceId } from './resource.ts';

/** Where an object came from: `apps/web/deploy.yaml:12` (the object starts on line 12). */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
}

/** An object and where it came from (the same shape as the Renderer port's RenderedObject). */
export interface ParsedObject {
  readonly object: KubeObject;
  readonly source: SourceLocation;
}

export interface ParseLimits {
  /** Largest number of aliases (`*name`) in one YAML document. */
  readonly maxAliases: number;
  /** Largest number of objects in the text (after `kind: List` is expanded). */
  readonly maxObjects: number;
  /** Largest text, in UTF-8 bytes; larger text is refused before parsing. */
  readonly maxBytes: number;
  /** Deepest nesting, measured on the raw text before parsing (nesting.ts). Default DEFAULT_MAX_DEPTH. */
  readonly maxDepth?: number;
}

/** Parses multi-document YAML or JSON into validated Kubernetes objects, in document order. */
export function parseManifests(text: string, file: string, limits: ParseLimits): ParsedObject[] {
  // 1. Refuse oversized text before the parser sees it.
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) {
    throw new CapstanError(
      'RENDER_TOO_LARGE',
      `${file}: ${bytes} bytes is more than the limit of ${limits.maxBytes} bytes; split it into smaller files`,
      { subject: file },
    );
  }
  // 2. Refuse deep nesting before the parser recurses into it.
  checkNesting(text, file, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
  // 3. Parse every document; nothing is converted to objects yet.
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: true,
    uniqueKeys: true,
    version: '1.1',
    merge: true,
    customTags: kubectlTags,
  });
  const documents = Array.isArray(parsed) ? parsed : [];
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const lineOf = (node: Node | null | undefined): number =>
    node?.range ? lineCounter.linePos(node.range[0]).line : 1;

  // 4. Per document: report syntax errors, bound aliases, convert, expand Lists, validate.
  const objects: ParsedObject[] = [];
  for (const document of documents) {
    const [error] = document.errors;
    if (error) throw syntaxError(error, file, at);
    checkAliases(document, limits.maxAliases, at);
    const value = toValue(document, limits.maxAliases, at);
    if (value === null || value === undefined) continue;
    for (const item of itemsOf(value, document.contents, at)) {
      const object = validateObject(item.value, item.node, at);
      objects.push({ object, source: { file, line: lineOf(item.node) } });
      if (objects.length > limits.maxObjects) {
        throw new CapstanError(
          'RENDER_TOO_MANY_OBJECTS',
          `${at(item.node?.range?.[0] ?? 0)}: more than ${limits.maxObjects} objects; split the application or raise the limit`,
          { subject: file },
        );
      }
    }
  }
  return objects;
}

/** The same identity (group, kind, namespace, name) defined more than once. */
export interface DuplicateObject {
  readonly id: ResourceId;
  /** Every place it is defined, in input order (two or more). */
  readonly sources: readonly SourceLocation[];
  /** `Deployment/web/api is defined 2 times: a.yaml:3, b.yaml:10` */
  readonly message: string;
}

/**
 * Objects whose identity appears more than once, in order of first appearance. A namespaced object
 * without a namespace is compared as written (`''`), before any default namespace is applied.
 */
export function findDuplicates(objects: readonly ParsedObject[]): DuplicateObject[] {
  const byKey = new Map<string, { id: ResourceId; sources: SourceLocation[] }>();
  for (const { object, source } of objects) {
    const id = idOf(object);
    const key = keyOf(id);
    const entry = byKey.get(key);
    if (entry) entry.sources.push(source);
    else byKey.set(key, { id, sources: [source] });
  }
  return [...byKey.values()]
    .filter((entry) => entry.sources.length > 1)
    .map(({ id, sources }) => ({
      id,
      sources,
      message: `${formatId(id)} is defined ${sources.length} times: ${sources.map((s) => `${s.file}:${s.line}`).join(', ')}`,
    }));
}

// ---------------------------------------------------------------------------------------------
// Parsing steps

/** YAML 1.1 as kubectl reads it, without the tags Go's YAML does not resolve (timestamps, `1:30`). */
function kubectlTags(tags: Tags): Tags {
  return tags.filter((tag) => {
    if (typeof tag === 'string') return true;
    return tag.tag !== 'tag:yaml.org,2002:timestamp' && !('format' in tag && tag.format === 'TIME');
  });
}

function syntaxError(error: YAMLError, file: string, at: (offset: number) => string): CapstanError {
  // prettyErrors appends " at line L, column C:\n\n<excerpt>". The excerpt is left out: it may
  // quote a Secret's data, and errors never carry secrets; file, line and column point to it.
  const message = error.message.replace(/ at line \d+, column \d+:\n\n[\s\S]*$/, '');
  const where = error.linePos ? `${file}:${error.linePos[0].line}:${error.linePos[0].col}` : at(error.pos[0]);
  return new CapstanError('RENDER_PARSE', `${where}: ${message}`, { subject: where, cause: error });
}

/** Refuses documents with more aliases than allowed, before any alias is expanded. */
function checkAliases(document: Document.Parsed, maxAliases: number, at: (offset: number) => string): void {
  const beyond = aliasAfter(document, maxAliases);
  if (beyond !== undefined) {
    throw aliasError(at(beyond), `more than ${maxAliases} YAML aliases in one document`);
  }
}

/** The offset of the alias that comes after the first `count` ones, or undefined when there is none. */
export function aliasAfter(document: Document.Parsed, count: number): number | undefined {
  let seen = 0;
  let offset: number | undefined;
  visit(document, {
    Alias(_key, node) {
      seen += 1;
      if (seen <= count) return undefined;
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}

function aliasError(where: string, what: string): CapstanError {
  return new CapstanError(
    'RENDER_PARSE',
    `${where}: ${what}; refusing to expand them (this is how an alias bomb, "billion laughs", starts). Kubernetes manifests do not need aliases: write the values out`,
    { subject: where },
  );
}

/** The document as plain data; aliases resolved under the alias limit, then copied apart. */
function toValue(document: Document.Parsed, maxAliases: number, at: (offset: number) => string): unknown {
  const contents = document.contents;
  if (contents === null) return null;
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: maxAliases });
  } catch (error) {
    // yaml throws a ReferenceError when the aliases would expand exponentially.
    throw aliasError(at(contents.range[0]), `aliases that expand too much (${messageOf(error)})`);
  }
  if (aliasAfter(document, 0) === undefined) return value;
  // An alias yields the same JS object twice; copy so that changing one never changes the other,
  // within a budget so that a few aliases of a large anchor cannot multiply memory either.
  const budget = { left: EXPANDED_VALUES_BUDGET };
  const copy = copyTree(value, budget);
  if (budget.left < 0) {
    throw aliasError(
      at(contents.range[0]),
      `aliases that expand to more than ${EXPANDED_VALUES_BUDGET} values`,
    );
  }
  return copy;
}

/** Largest number of values a document with aliases may expand to. */
const EXPANDED_VALUES_BUDGET = 1_000_000;

/** A deep copy of plain data (no shared parts); stops early once the budget is spent. */
function copyTree(value: unknown, budget: { left: number }): unknown {
  budget.left -= 1;
  if (budget.left < 0 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => copyTree(item, budget));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    // defineProperty, so that a key named __proto__ stays a key.
    Object.defineProperty(copy, key, {
      value: copyTree(item, budget),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

interface Item {
  readonly value: unknown;
  readonly node: Node | null | undefined;
}

/** A document's objects: the document itself, or the items of a `kind: List` (apiVersion v1). */
function itemsOf(value: unknown, node: Node | null, at: (offset: number) => string): Item[] {
  if (!isPlainObject(value) || value['kind'] !== 'List' || value['apiVersion'] !== 'v1') {
    return [{ value, node }];
  }
  const items = value['items'];
  if (items === undefined || items === null) return [];
  if (!Array.isArray(items)) {
    throw new CapstanError(
      'RENDER_PARSE',
      `${at(node?.range?.[0] ?? 0)}: List.items must be a list of objects`,
    );
  }
  const itemsNode: unknown = isMap(node) ? node.get('items', true) : undefined;
  const nodes: readonly unknown[] = isSeq(itemsNode) ? itemsNode.items : [];
  return (items as unknown[]).map((item, index) => {
    const itemNode = nodes[index];
    return { value: item, node: isNode(itemNode) ? itemNode : node };
  });
}

// ---------------------------------------------------------------------------------------------
// Validation: enough to give a clear, early error; the server-side dry-run has the last word.

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const KIND = /^[A-Za-z][A-Za-z0-9]*$/;
const API_VERSION = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[a-z0-9]+$/i;
/** Kinds whose names the API server checks only as path segments (RBAC allows `system:foo`). */
const PATH_SEGMENT_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

// eslint-disable-next-line max-lines-per-function -- long because: one check after another down the object (apiVersion, kind, metadata, name, namespace, labels), each with its own message; to split into a function per field.
function validateObject(
  value: unknown,
  node: Node | null | undefined,
  at: (offset: number) => string,
): KubeObject {
  const nodeAt = (path: readonly string[]): Node | undefined => {
    const field: unknown = isMap(node) ? node.getIn(path, true) : undefined;
    return isNode(field) ? field : undefined;
  };
  /** `must be a string, not a boolean (false); quote it: "no"` */
  const notString = (path: readonly string[], value: unknown): string => {
    const scalar = nodeAt(path);
    const written = isScalar(scalar) && typeof scalar.source === 'string' ? scalar.source : undefined;
    const hint =
      written === undefined || isPlainObject(value) || Array.isArray(value) ? '' : `; quote it: "${written}"`;
    return `must be a string, not ${describe(value)}${hint}`;
  };
  const problem = (path: readonly string[], message: string, id?: string): CapstanError => {
    const where = at(nodeAt(path)?.range?.[0] ?? node?.range?.[0] ?? 0);
    return new CapstanError('RENDER_PARSE', `${where}: ${id ? `${id}: ` : ''}${message}`, {
      subject: id ?? where,
    });
  };

  // apiVersion and kind
  if (!isPlainObject(value)) {
    throw problem(
      [],
      `a document must be a Kubernetes object (a mapping with apiVersion, kind and metadata), not ${describe(value)}`,
    );
  }
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    throw problem(
      ['apiVersion'],
      'apiVersion is missing or not a string (for example `apiVersion: apps/v1`)',
    );
  }
  if (!API_VERSION.test(apiVersion)) {
    throw problem(['apiVersion'], `apiVersion "${apiVersion}" is not of the form group/version or version`);
  }
  if (typeof kind !== 'string' || kind === '') {
    throw problem(['kind'], 'kind is missing or not a string (for example `kind: Deployment`)');
  }
  if (!KIND.test(kind)) {
    throw problem(
      ['kind'],
      `kind "${kind}" is not a valid kind (letters and digits, starting with a letter)`,
    );
  }

  // metadata.name (never generateName) and metadata.namespace
  if (!isPlainObject(metadata)) {
    throw problem(
      ['metadata'],
      `${kind}: metadata is missing or not a mapping; every object needs metadata.name`,
    );
  }
  const { name, namespace, generateName } = metadata;
  const nsPart = typeof namespace === 'string' && namespace !== '' ? `${namespace}/` : '';
  const generated = (name === undefined || name === null || name === '') && isGenerated(generateName);
  if (!generated && (name === undefined || name === null || name === '')) {
    throw problem(['metadata'], `${kind}: metadata.name is missing`);
  }
  if (generated) {
    const shown = `${kind}/${nsPart}${typeof generateName === 'string' ? generateName : JSON.stringify(generateName)}*`;
    // As in Argo CD: a hook may have a generated name (a new object each run); nothing else may.
    if (!isHook(metadata['annotations'])) {
      throw problem(
        ['metadata', 'generateName'],
        `${shown}: metadata.generateName works only on hooks (annotated ${HOOK_ANNOTATIONS.join(', ')} or helm.sh/hook): any other object needs a stable name to be compared, updated and pruned; set metadata.name instead`,
      );
    }
    const prefixProblem = typeof generateName === 'string' ? checkName(`${generateName}x`, DNS) : 'no prefix';
    if (prefixProblem !== undefined) {
      throw problem(
        ['metadata', 'generateName'],
        `${shown}: metadata.generateName must be a name prefix: lower-case letters, digits, '-' and '.'`,
      );
    }
  } else if (typeof name !== 'string') {
    throw problem(['metadata', 'name'], `${kind}: metadata.name ${notString(['metadata', 'name'], name)}`);
  }
  const shownName = generated ? `${String(generateName)}*` : String(name);
  const id = `${kind}/${nsPart}${shownName}`;
  if (namespace !== undefined && namespace !== null && namespace !== '') {
    if (typeof namespace !== 'string') {
      throw problem(
        ['metadata', 'namespace'],
        `metadata.namespace ${notString(['metadata', 'namespace'], namespace)}`,
        id,
      );
    }
    if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
      throw problem(
        ['metadata', 'namespace'],
        `metadata.namespace "${namespace}" is not a valid namespace (lower-case letters, digits and '-', at most 63 characters)`,
        id,
      );
    }
  }
  const rbac = PATH_SEGMENT_NAMED.has(kind) && apiVersion.startsWith('rbac.authorization.k8s.io/');
  const nameProblem = generated ? undefined : checkName(shownName, { pathSegmentOnly: rbac });
  if (nameProblem) throw problem(['metadata', 'name'], `metadata.name "${shownName}" ${nameProblem}`, id);

  // labels and annotations are maps of strings (`version: 1.0` unquoted is a number)
  for (const field of ['labels', 'annotations'] as const) {
    const map = metadata[field];
    if (map === undefined || map === null) continue;
    if (!isPlainObject(map))
      throw problem(['metadata', field], `metadata.${field} must be a mapping of strings`, id);
    for (const [key, entry] of Object.entries(map)) {
      if (typeof entry !== 'string') {
        const path = ['metadata', field, key];
        throw problem(path, `metadata.${field}.${key} ${notString(path, entry)}`, id);
      }
    }
  }
  return value as KubeObject;
}

/** The annotations that make an object a hook (ordering.ts reads them; Helm's is helm.sh/hook). */
const HOOK_ANNOTATIONS = ['argocd.argoproj.io/hook', 'capstan.dev/hook'];

function isGenerated(generateName: unknown): boolean {
  return generateName !== undefined && generateName !== null;
}

function isHook(annotations: unknown): boolean {
  return (
    isPlainObject(annotations) &&
    [...HOOK_ANNOTATIONS, 'helm.sh/hook'].some((a) => typeof annotations[a] === 'string')
  );
}

/** checkName's rule for every name but RBAC's: a DNS subdomain. */
const DNS = { pathSegmentOnly: false } as const;

/**
 * Why a name is invalid, or undefined. `pathSegmentOnly`: only what a path segment forbids (RBAC names
 * may hold ':' and upper case); otherwise a DNS subdomain.
 */
function checkName(name: string, options: { readonly pathSegmentOnly: boolean }): string | undefined {
  const { pathSegmentOnly } = options;
  if (name.length > 253) return 'is longer than 253 characters';
  if (name === '.' || name === '..' || /[/%]/.test(name))
    return "may not be '.' or '..' or contain '/' or '%'";
  if (pathSegmentOnly)
    return /[\s\p{Cc}]/u.test(name) ? 'may not contain spaces or control characters' : undefined;
  if (!DNS_SUBDOMAIN.test(name)) {
    return "is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit";
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value} (${JSON.stringify(value)})`;
}
