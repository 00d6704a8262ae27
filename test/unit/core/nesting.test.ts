// Nesting depth on the raw text, before a parser recurses into it (src/core/nesting.ts).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { CapstanError } from '../../../src/core/errors.ts';
import { parseManifests } from '../../../src/core/manifest.ts';
import { checkNesting, DEFAULT_MAX_DEPTH, findTooDeep } from '../../../src/core/nesting.ts';

/** A value nested `depth` levels deep: maps and lists in turn. */
function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? { a: value } : [value];
  return value;
}

describe('findTooDeep', () => {
  const cases: { name: string; text: string; max: number; at?: [number, number] }[] = [
    { name: 'a 5 MB flow sequence of [[[[', text: '['.repeat(5 * 1024 * 1024), max: 200, at: [1, 200] },
    { name: 'deep JSON', text: '{"a":'.repeat(300) + '1' + '}'.repeat(300), max: 200, at: [1, 5 * 199 + 1] },
    {
      name: 'deep block mappings',
      text: Array.from({ length: 50 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
      max: 20,
      at: [21, 21],
    },
    { name: 'compact sequences', text: `${'- '.repeat(30)}x\n`, max: 20, at: [1, 19] },
    {
      name: 'after a document start, block levels begin again',
      text: 'a:\n b:\n  c: 1\n---\na: 1\n',
      max: 3,
    },
    {
      name: 'brackets in quoted strings do not count',
      text: `a: "${'['.repeat(500)}"\nb: '${'{'.repeat(500)}'\n`,
      max: 5,
    },
    {
      name: 'brackets in comments do not count',
      text: `a: 1 # ${'['.repeat(500)}\n# ${'{'.repeat(500)}\n`,
      max: 5,
    },
    { name: 'brackets in plain scalars do not count', text: `a: x ${'['.repeat(500)}\nb: y]\n`, max: 5 },
    {
      name: 'block scalars are text',
      text: `script: |\n  if [[ -f x ]]; then\n  ${'['.repeat(500)}\n${'    {\n'.repeat(100)}after: 1\n`,
      max: 5,
    },
    {
      name: 'an anchor or tag before a flow collection',
      text: `a: &x ${'['.repeat(10)}`,
      max: 5,
      at: [1, 11],
    },
  ];
  for (const { name, text, max, at } of cases) {
    it(name, () => {
      const found = findTooDeep(text, max);
      if (at === undefined) assert.equal(found, undefined);
      else assert.deepEqual(found && [found.line, found.column], at);
    });
  }

  it('never measures less than the real depth (an upper bound), for block and flow styles', () => {
    for (let depth = 1; depth <= 60; depth++) {
      for (const text of [
        stringify(nested(depth)),
        JSON.stringify(nested(depth)),
        stringify(nested(depth), { collectionStyle: 'flow' }),
      ]) {
        assert.notEqual(findTooDeep(text, depth - 1), undefined, `depth ${depth}:\n${text}`);
      }
    }
  });

  it('lets every manifest fixture of the repository through at the default depth', async () => {
    const root = join(import.meta.dirname, '..', '..', 'fixtures');
    const files = (await readdir(root, { recursive: true })).filter((f) => /\.(ya?ml|json)$/.test(f));
    assert.ok(files.length > 20, `fixtures found: ${files.length}`);
    for (const file of files) {
      const text = await readFile(join(root, file), 'utf8');
      assert.equal(findTooDeep(text, DEFAULT_MAX_DEPTH), undefined, file);
    }
  });
});

describe('checkNesting and parseManifests', () => {
  it('refuse a deep document with RENDER_TOO_DEEP, naming the file, line and column, before parsing', () => {
    assert.throws(
      () => {
        checkNesting(`kind: x\nspec: ${'['.repeat(1000)}`, 'apps/web/deep.yaml', 200);
      },
      (error: unknown) =>
        error instanceof CapstanError &&
        error.code === 'RENDER_TOO_DEEP' &&
        error.subject === 'apps/web/deep.yaml' &&
        /^apps\/web\/deep\.yaml:2:\d+: nests more than 200 levels deep; it was not parsed/.test(
          error.message,
        ),
    );
    assert.throws(
      () =>
        parseManifests('['.repeat(5 * 1024 * 1024), 'big.yaml', {
          maxAliases: 100,
          maxObjects: 10,
          maxBytes: 10 * 1024 * 1024,
        }),
      /^CapstanError: big\.yaml:1:200: nests more than 200 levels deep/,
    );
  });
});
