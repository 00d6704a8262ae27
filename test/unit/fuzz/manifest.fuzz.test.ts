// Property tests of the manifest loader (src/core/manifest.ts, src/core/nesting.ts): any text gives
// objects or a CapstanError naming the file, never another exception (a stack overflow, a TypeError);
// objects written out as YAML or JSON come back the same; deep nesting is refused from the raw text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { CapstanError } from '../../../src/core/errors.ts';
import { parseManifests } from '../../../src/core/manifest.ts';
import { findTooDeep } from '../../../src/core/nesting.ts';
import { fuzzParameters } from './runs.ts';

const LIMITS = { maxAliases: 100, maxObjects: 1000, maxBytes: 1024 * 1024 };
const FILE = 'apps/fuzz.yaml';

/** Text that looks like YAML: indentation, indicators, quotes, brackets, anchors, tags, documents. */
const yamlish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '\n',
        '  ',
        '- ',
        ': ',
        '? ',
        '[',
        ']',
        '{',
        '}',
        ', ',
        '"',
        "'",
        '#',
        '&a ',
        '*a',
        '!!str ',
        '<<: ',
        '|\n',
        '>-\n',
        '---\n',
        '...\n',
        '\\',
        '\t',
      ),
      fc.constantFrom(
        'apiVersion',
        'v1',
        'kind',
        'ConfigMap',
        'metadata',
        'name',
        'data',
        'items',
        'List',
        'yes',
        '0644',
        '1:30',
        '~',
        'null',
      ),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 80 },
  )
  .map((parts) => parts.join(''));

function failsCleanly(text: string): void {
  try {
    const objects = parseManifests(text, FILE, LIMITS);
    for (const { object, source } of objects) {
      assert.equal(typeof object.apiVersion, 'string');
      assert.equal(typeof object.kind, 'string');
      assert.equal(source.file, FILE);
    }
  } catch (error) {
    assert.ok(error instanceof CapstanError, `not a CapstanError: ${String(error)}`);
    assert.ok(error.message.startsWith(FILE), `the message names the file: ${error.message}`);
  }
}

const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const configMap = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('ConfigMap'),
  metadata: fc.record({ name, namespace: name }),
  data: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/), fc.string({ maxLength: 30 }), {
    maxKeys: 5,
  }),
});

describe('manifest loader (property tests)', () => {
  it('any YAML-like text: objects, or a CapstanError that names the file', () => {
    fc.assert(fc.property(yamlish, failsCleanly), fuzzParameters(300));
  });

  it('any string at all: the same', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'binary' }), failsCleanly), fuzzParameters(300));
  });

  it('objects written as YAML or JSON come back the same, in order', () => {
    fc.assert(
      fc.property(fc.array(configMap, { minLength: 1, maxLength: 5 }), fc.boolean(), (objects, json) => {
        // Written as YAML 1.1, as kubectl reads it (a plain `yes` is a boolean there).
        const text = json
          ? objects.map((o) => JSON.stringify(o)).join('\n---\n')
          : objects.map((o) => stringify(o, { version: '1.1' })).join('---\n');
        const parsed = parseManifests(text, FILE, LIMITS);
        assert.deepEqual(
          parsed.map((p) => p.object),
          JSON.parse(JSON.stringify(objects)),
        );
      }),
      fuzzParameters(200),
    );
  });

  it('nesting past the limit is refused from the raw text, never a stack overflow', () => {
    const flow = fc.array(fc.constantFrom('[', '{"a":', '{a: ', '[a, '), { minLength: 201, maxLength: 3000 });
    const block = fc
      .integer({ min: 101, max: 1000 })
      .chain((depth) =>
        fc.constantFrom(
          '- '.repeat(depth),
          Array.from({ length: 201 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
        ),
      );
    fc.assert(
      fc.property(
        fc.oneof(
          flow.map((openers) => openers.join('')),
          block,
        ),
        (text) => {
          assert.notEqual(findTooDeep(text, 200), undefined);
          assert.throws(
            () => parseManifests(text, FILE, LIMITS),
            (error: unknown) => error instanceof CapstanError && error.code === 'RENDER_TOO_DEEP',
          );
        },
      ),
      fuzzParameters(50),
    );
  });
});
