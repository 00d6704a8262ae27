// The kustomization pre-check's reader: every path kustomize would load, whatever spelling of the
// keys, merge keys, aliases and !!binary the file uses (kustomize reads keys through Go's
// encoding/json, which ignores case, after go-yaml v2 applied merge keys).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { foldKey, kustomizationPaths } from '../../../src/adapters/render/kustomization-fields.ts';

function paths(text: string): string[] {
  return kustomizationPaths(parseDocument(text, { uniqueKeys: true })).map((e) => `${e.field}=${e.value}`);
}

describe('kustomizationPaths', () => {
  const cases: { name: string; text: string; expected: string[] }[] = [
    { name: 'plain keys', text: 'resources: [a, b/]\n', expected: ['resources=a', 'resources=b/'] },
    { name: 'a key in another case', text: 'Resources: [../../x]\n', expected: ['resources=../../x'] },
    {
      name: 'upper case',
      text: 'RESOURCES: [x]\nPATCHES: [{PATH: p.yaml}]\n',
      expected: ['resources=x', 'patches.path=p.yaml'],
    },
    { name: 'long s (U+017F)', text: 're\u017fources: [x]\n', expected: ['resources=x'] },
    {
      name: 'nested keys in title case',
      text: 'OpenAPI: {Path: o.json}\n',
      expected: ['openapi.path=o.json'],
    },
    {
      name: 'both spellings: both checked',
      text: 'resources: [a]\nResources: [b]\n',
      expected: ['resources=a', 'resources=b'],
    },
    {
      name: 'a merge key with an inline map',
      text: '<<: {resources: [../x]}\n',
      expected: ['resources=../x'],
    },
    {
      name: 'a merge key through an alias, inside a list',
      text: 'x-base: &base {bases: [../y]}\n<<: [*base]\n',
      expected: ['bases=../y'],
    },
    {
      name: 'a merge key inside a patch entry',
      text: 'x: &p {path: ../p.yaml}\npatches:\n  - <<: *p\n',
      expected: ['patches.path=../p.yaml'],
    },
    { name: 'an aliased list', text: 'x: &l [../z]\ncomponents: *l\n', expected: ['components=../z'] },
    {
      name: 'a !!binary entry',
      text: 'resources: [!!binary Li4vLi4vb3RoZXI=]\n',
      expected: ['resources=../../other'],
    },
    {
      name: 'generators, transformers and validators (folders too)',
      text: 'generators: [g]\nTransformers: [t]\nvalidators: [v]\n',
      expected: ['generators=g', 'transformers=t', 'validators=v'],
    },
    {
      name: 'generator files (key=path), envs, env, in any case',
      text: 'configMapGenerator:\n  - Files: [k=../f]\n    ENVS: [e.env]\n    env: old.env\n',
      expected: [
        'configMapGenerator.files=../f',
        'configMapGenerator.envs=e.env',
        'configMapGenerator.env=old.env',
      ],
    },
    { name: 'inline patches are not paths', text: 'patchesStrategicMerge:\n  - |\n    a: b\n', expected: [] },
  ];
  for (const { name, text, expected } of cases) {
    it(name, () => {
      assert.deepEqual(paths(text), expected);
    });
  }

  it('gives each entry its offset in the file', () => {
    const [entry] = kustomizationPaths(parseDocument('kind: Kustomization\nRESOURCES:\n  - ../x\n'));
    assert.equal(entry?.offset, 'kind: Kustomization\nRESOURCES:\n  - '.length);
  });
});

describe('foldKey', () => {
  it('folds as Go encoding/json does: ASCII case, ſ and K; nothing else', () => {
    assert.equal(foldKey('ReSoUrCeS'), 'resources');
    assert.equal(foldKey('re\u017fources'), 'resources');
    assert.equal(foldKey('\u212aind'), 'kind');
    assert.notEqual(foldKey('\u0130mages'), 'images'); // İ does not fold to i in Go
  });
});
