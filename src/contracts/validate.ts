/**
 * Validation of objects against the contracts' TypeBox schemas, with errors that name the field:
 * `spec.source.repoURL: required`, `spec.dependsOn[1].name: must not be empty`.
 *
 * Besides the JSON Schema keywords, a schema node may carry rules (`withRules`): checks across fields
 * that JSON Schema cannot express. A rule written with a CEL expression is also placed in the CRD
 * (`x-kubernetes-validations`), so that the API server refuses what our validator refuses; a rule
 * without CEL (one that needs more than the node, or that the API server cannot evaluate) is checked
 * here only, and the controller reports it as a Stalled condition.
 */
import {
  FormatRegistry,
  Type,
  type Static,
  type TLiteral,
  type TSchema,
  type TUnion,
} from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';

export type Validation<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: string[] };

/** A check across the fields of one schema node. */
export interface Rule<T> {
  /** What is wrong, for people: `set at most one of directory, helm and kustomize`. */
  readonly message: string;
  /** The same check in CEL over `self`, for the API server; omitted where CEL cannot express it. */
  readonly cel?: string;
  /** The field the error is about, relative to the node (`path`); the node itself when omitted. */
  readonly field?: string;
  /** True when the value is acceptable. Runs only on a node that matched its schema. */
  readonly check: (value: T) => boolean;
}

const RULES = Symbol.for('capstan.dev/rules');
const HINT = Symbol.for('capstan.dev/hint');

interface Annotated {
  readonly [RULES]?: readonly Rule<never>[];
  readonly [HINT]?: string;
}

/** The schema with rules attached; those with CEL also become its `x-kubernetes-validations`. */
export function withRules<T extends TSchema>(schema: T, rules: readonly Rule<Static<T>>[]): T {
  const cel = rules.flatMap((r) =>
    r.cel === undefined
      ? []
      : [{ rule: r.cel, message: r.message, ...(r.field === undefined ? {} : { fieldPath: `.${r.field}` }) }],
  );
  return { ...schema, ...(cel.length > 0 ? { 'x-kubernetes-validations': cel } : {}), [RULES]: rules };
}

/** The schema with what a valid value looks like, for the error of a failed `pattern` or `format`: `a duration such as 30s`. */
export function withHint<T extends TSchema>(schema: T, hint: string): T {
  return { ...schema, [HINT]: hint };
}

/** A string that is one of `values`; its static type is their union. */
export function oneOf<const T extends readonly string[]>(
  values: T,
  options: { description?: string } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    options,
  );
}

// TypeBox checks a `format` only when it is registered; `date-time` is the one the contracts use.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (value) => RFC3339.test(value) && !Number.isNaN(Date.parse(value)));
}

/**
 * Checks `input` against `schema`. Object fields set to null are dropped first, as the Kubernetes API
 * server does for fields that are not nullable, so that both accept the same documents. On success the
 * value is that cleaned copy; on failure, one error per field, in document order.
 */
export function validate<T extends TSchema>(schema: T, input: unknown): Validation<Static<T>> {
  const value = withoutNulls(input);
  // The agent validates every Application it reconciles, each poll: the compiled check says "valid"
  // quickly; the (slower) walk that names each error runs only when it is not.
  if (check(schema, value)) {
    // The schema holds, so only the rules across fields can fail.
    const broken = ruleErrors(schema, value, '');
    return broken.length === 0 ? { ok: true, value: value as Static<T> } : { ok: false, errors: broken };
  }
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    const path = fieldPath(error.path);
    // A missing field also fails its own type check; the first error of a field says it best.
    if (seen.has(path)) continue;
    seen.add(path);
    errors.push(`${path || '(object)'}: ${explain(error)}`);
  }
  errors.push(...ruleErrors(schema, value, ''));
  return errors.length === 0 ? { ok: true, value: value as Static<T> } : { ok: false, errors };
}

/** JSON pointer `/spec/dependsOn/0/name` → `spec.dependsOn[0].name`. */
function fieldPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path = join(path, /^\d+$/.test(key) ? Number(key) : key);
  }
  return path;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

function explain(error: ValueError): string {
  const schema = error.schema as Record<string, unknown> & Annotated;
  const hint = schema[HINT];
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'required';
    case ValueErrorType.ObjectAdditionalProperties:
      return 'unknown field';
    case ValueErrorType.Object:
      return 'must be an object';
    case ValueErrorType.Array:
      return 'must be a list';
    case ValueErrorType.String:
      return 'must be a string';
    case ValueErrorType.Boolean:
      return 'must be true or false';
    case ValueErrorType.Integer:
      return 'must be a whole number';
    case ValueErrorType.Number:
      return 'must be a number';
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(schema['const'])}`;
    case ValueErrorType.Union: {
      const values = ((schema['anyOf'] ?? []) as { const?: unknown }[]).map((v) => String(v.const));
      return `must be one of ${values.join(', ')}, not ${JSON.stringify(error.value)}`;
    }
    case ValueErrorType.StringMinLength:
      return schema['minLength'] === 1
        ? 'must not be empty'
        : `must have at least ${String(schema['minLength'])} characters`;
    case ValueErrorType.StringMaxLength:
      return `must have at most ${String(schema['maxLength'])} characters`;
    case ValueErrorType.StringPattern:
      return hint === undefined
        ? `must match ${String(schema['pattern'])}`
        : `must be ${hint}, not ${JSON.stringify(error.value)}`;
    case ValueErrorType.StringFormat:
      return `must be ${hint ?? 'a time in RFC 3339 format such as 2025-01-31T12:00:00Z'}`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${String(schema['maxItems'])} items`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${String(schema['minItems'])} items`;
    case ValueErrorType.ArrayUniqueItems:
      return 'must not list the same value twice';
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${String(schema['minimum'])}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${String(schema['maximum'])}`;
    default:
      return error.message;
  }
}

/** The rules of every node whose value matched its schema, depth first. */
function ruleErrors(schema: TSchema, value: unknown, path: string): string[] {
  const node = schema as TSchema & Annotated & Record<string, unknown>;
  const errors: string[] = [];
  const rules = node[RULES] ?? [];
  if (rules.length > 0 && check(schema, value)) {
    for (const rule of rules as readonly Rule<unknown>[]) {
      if (!rule.check(value)) {
        errors.push(
          `${rule.field === undefined ? path || '(object)' : join(path, rule.field)}: ${rule.message}`,
        );
      }
    }
  }
  const properties = node['properties'] as Record<string, TSchema> | undefined;
  if (properties && isRecord(value)) {
    for (const [key, child] of Object.entries(properties)) {
      if (value[key] !== undefined) errors.push(...ruleErrors(child, value[key], join(path, key)));
    }
  }
  const items = node['items'] as TSchema | undefined;
  if (items && Array.isArray(value)) {
    value.forEach((item: unknown, i) => errors.push(...ruleErrors(items, item, join(path, i))));
  }
  return errors;
}

/** Each schema's compiled check (TypeBox's compiler: the same answers as `Value.Check`), made on first use. */
const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function check(schema: TSchema, value: unknown): boolean {
  let checker = compiled.get(schema);
  if (checker === undefined) {
    checker = TypeCompiler.Compile(schema);
    compiled.set(schema, checker);
  }
  return checker.Check(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deeper than any contract's schema: below it, values are left as they are (and bound the recursion). */
const MAX_DEPTH = 64;

function withoutNulls(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item: unknown) => withoutNulls(item, depth + 1));
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v, depth + 1)]),
  );
}
