/**
 * A TypeBox schema turned into the subset of OpenAPI v3 that a CustomResourceDefinition takes: a
 * structural schema (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema).
 *
 * - every node has a `type` (or `x-kubernetes-int-or-string` / `x-kubernetes-preserve-unknown-fields`);
 * - a union of string literals becomes `enum`, a literal becomes a one-value `enum` (no `const`, no `anyOf`);
 * - `additionalProperties: false` is left out: the API server prunes unknown fields (and reports them
 *   to clients that ask for strict field validation); a schema `additionalProperties` (a map) is kept
 *   only where there are no `properties`;
 * - `uniqueItems` becomes `x-kubernetes-list-type: set` (the API server refuses `uniqueItems: true`);
 * - TypeBox's own keys (`$id`, `$schema`, its symbols) are left out.
 *
 * Anything else with no Kubernetes equivalent throws, naming the node, so that a schema change that
 * the API server would refuse fails a unit test instead of an install.
 */

export type JsonSchemaProps = { [key: string]: unknown };

/** Keys of apiextensions.k8s.io/v1 JSONSchemaProps that are copied as they are. */
const COPIED = new Set([
  'type',
  'format',
  'title',
  'description',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'example',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

/** TypeBox bookkeeping, meaningless to Kubernetes. */
const DROPPED = new Set(['$id', '$schema', 'examples']);

export function structuralSchema(schema: unknown, path = '(root)'): JsonSchemaProps {
  if (!isRecord(schema)) throw new Error(`${path}: a schema must be an object`);
  const enumerated = asEnum(schema, path);
  if (enumerated) return enumerated;
  const out: JsonSchemaProps = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROPPED.has(key) || value === undefined) continue;
    if (COPIED.has(key)) {
      out[key] = value;
    } else if (key === 'properties') {
      // An object with no properties but additionalProperties is a map (Type.Object({}, {additionalProperties})).
      if (Object.keys(value as object).length === 0 && typeof schema['additionalProperties'] === 'object')
        continue;
      out['properties'] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([name, child]) => [
          name,
          structuralSchema(child, `${path}.${name}`),
        ]),
      );
    } else if (key === 'items') {
      if (Array.isArray(value)) throw new Error(`${path}: tuples (items as a list) are not structural`);
      out['items'] = structuralSchema(value, `${path}[]`);
    } else if (key === 'required') {
      if (Array.isArray(value) && value.length > 0) out['required'] = value;
    } else if (key === 'additionalProperties') {
      if (value === false || value === true) continue;
      if (schema['properties'] !== undefined && Object.keys(schema['properties'] as object).length > 0)
        throw new Error(`${path}: additionalProperties beside properties is not structural`);
      out['additionalProperties'] = structuralSchema(value, `${path}.*`);
    } else if (key === 'uniqueItems') {
      if (value === true && schema['x-kubernetes-list-type'] === undefined)
        out['x-kubernetes-list-type'] = 'set';
    } else {
      throw new Error(`${path}: '${key}' has no equivalent in a Kubernetes structural schema`);
    }
  }
  const untyped =
    out['type'] === undefined &&
    out['x-kubernetes-int-or-string'] !== true &&
    out['x-kubernetes-preserve-unknown-fields'] !== true;
  if (untyped) throw new Error(`${path}: every node of a structural schema needs a type`);
  return ordered(out);
}

const FIRST = ['type', 'format', 'description'];
const LAST = ['required', 'properties', 'items', 'additionalProperties', 'x-kubernetes-validations'];

/** Keys in reading order: what a node is, its constraints, then its children and its rules. */
function ordered(node: JsonSchemaProps): JsonSchemaProps {
  const rank = (key: string) =>
    FIRST.includes(key) ? FIRST.indexOf(key) - FIRST.length : LAST.includes(key) ? 1 + LAST.indexOf(key) : 0;
  return Object.fromEntries(Object.entries(node).sort(([a], [b]) => rank(a) - rank(b)));
}

/** A literal or a union of literals of one type as `{type, enum}`; undefined for anything else. */
function asEnum(schema: Record<string, unknown>, path: string): JsonSchemaProps | undefined {
  const members = Array.isArray(schema['anyOf'])
    ? (schema['anyOf'] as unknown[])
    : 'const' in schema
      ? [schema]
      : undefined;
  if (!members) {
    for (const combinator of ['anyOf', 'oneOf', 'allOf', 'not'])
      if (combinator in schema) throw new Error(`${path}: '${combinator}' is not supported here`);
    return undefined;
  }
  const values = members.map((member) => {
    if (!isRecord(member) || !('const' in member))
      throw new Error(`${path}: only unions of literals are supported`);
    return member['const'];
  });
  const types = new Set(values.map(jsonType));
  const [type] = types;
  if (types.size !== 1 || type === undefined) throw new Error(`${path}: literals of mixed types`);
  const description = schema['description'];
  return { type, ...(typeof description === 'string' ? { description } : {}), enum: values };
}

function jsonType(value: unknown): string {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  throw new Error(`a literal of type ${typeof value} has no Kubernetes schema type`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
