// Property tests of the kustomization pre-check's reader (src/adapters/render/kustomization-fields.ts):
// whatever spelling of a field kustomize accepts (any case, Go's folding of ſ and K), written plainly,
// through a merge key, or through an alias, every path in it is seen; no text makes the reader throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { kustomizationPaths } from '../../../src/adapters/render/kustomization-fields.ts';
import { fuzzParameters } from './runs.ts';

const LIST_FIELDS = [
  'resources',
  'bases',
  'components',
  'generators',
  'transformers',
  'validators',
  'crds',
  'configurations',
  'patchesStrategicMerge',
] as const;

/** A spelling of a field name that Go's encoding/json matches to it. */
function spelling(field: string): fc.Arbitrary<string> {
  return fc
    .array(fc.integer({ min: 0, max: 2 }), { minLength: field.length, maxLength: field.length })
    .map((choices) =>
      Array.from(field) // field names are ASCII
        .map((c, i) => {
          const choice = choices[i] ?? 0;
          if (choice === 1) return c.toUpperCase();
          if (choice === 2 && c === 's') return '\u017f';
          if (choice === 2 && c === 'k') return '\u212a';
          return c;
        })
        .join(''),
    );
}

const path = fc.stringMatching(/^(\.\.\/){0,4}[a-z0-9][a-z0-9._/-]{0,20}$/);

/** A kustomization with one list field, written in one of the ways kustomize reads the same. */
const kustomization = fc
  .record({
    field: fc.constantFrom(...LIST_FIELDS),
    paths: fc.array(path, { minLength: 1, maxLength: 4 }),
    how: fc.constantFrom('plain', 'merge-inline', 'merge-list', 'alias-list', 'flow'),
  })
  .chain(({ field, paths, how }) => spelling(field).map((key) => ({ field, key, paths, how })));

function textOf({ key, paths, how }: { key: string; paths: string[]; how: string }): string {
  const list = JSON.stringify(paths);
  switch (how) {
    case 'merge-inline':
      return `namePrefix: x-\n<<: {${JSON.stringify(key)}: ${list}}\n`;
    case 'merge-list':
      return `namePrefix: x-\n<<: [{${JSON.stringify(key)}: ${list}}]\n`;
    case 'alias-list':
      return `namePrefix: &l ${list}\n${JSON.stringify(key)}: *l\n`;
    case 'flow':
      return `{${JSON.stringify(key)}: ${list}}\n`;
    default:
      return stringify({ [key]: paths });
  }
}

describe('kustomization pre-check (property tests)', () => {
  it('sees every path of a list field, whatever the spelling and however it is written', () => {
    fc.assert(
      fc.property(kustomization, (k) => {
        const text = textOf(k);
        const document = parseDocument(text, { uniqueKeys: true });
        assert.deepEqual(document.errors, [], text);
        const seen = kustomizationPaths(document)
          .filter((e) => e.field === k.field)
          .map((e) => e.value);
        assert.deepEqual(
          seen,
          k.paths.map((p) => p.trim()),
          text,
        );
      }),
      fuzzParameters(150),
    );
  });

  it('never throws, whatever the document', () => {
    const anyYaml = fc.oneof(
      fc.jsonValue(),
      fc.dictionary(
        fc.oneof(
          fc.constantFrom('<<', 'resources', 'Resources', 'patches', 'configMapGenerator'),
          fc.string(),
        ),
        fc.jsonValue(),
      ),
    );
    fc.assert(
      fc.property(anyYaml, fc.string({ maxLength: 50 }), (value, junk) => {
        for (const text of [stringify(value), `${stringify(value)}${junk}`]) {
          kustomizationPaths(parseDocument(text, { uniqueKeys: false }));
        }
      }),
      fuzzParameters(150),
    );
  });
});
