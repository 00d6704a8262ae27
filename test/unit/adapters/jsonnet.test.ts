// The pure parts of the Jsonnet renderer (src/adapters/render/jsonnet.ts): the imports it follows, the
// arguments it passes, the file and line it reads from jsonnet's errors, and the shapes of output it takes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  importsOf,
  jsonnetArguments,
  jsonnetErrorLocation,
  objectsOfValue,
} from '../../../src/adapters/render/jsonnet.ts';
import { CapstanError } from '../../../src/core/errors.ts';

describe('jsonnet: imports', () => {
  it('finds import, importstr and importbin with either quote, with their lines and escapes', () => {
    const text = [
      "local k = import 'k.libsonnet';",
      'local cfg = importstr "config/app.ini";',
      '',
      '{ logo: importbin \'logo.png\', q: import "we\\"ird.libsonnet" }',
    ].join('\n');
    assert.deepEqual(importsOf(text), [
      { path: 'k.libsonnet', line: 1, code: true },
      { path: 'config/app.ini', line: 2, code: false },
      { path: 'logo.png', line: 4, code: false },
      { path: 'we"ird.libsonnet', line: 4, code: true },
    ]);
  });

  it('ignores words that only contain "import"', () => {
    assert.deepEqual(importsOf("{ reimport: 'x', imported: true }"), []);
  });
});

describe('jsonnet: arguments', () => {
  it('passes libraries, then top-level arguments, then external variables, each string or code, then the file after --', () => {
    assert.deepEqual(
      jsonnetArguments(
        'app/main.jsonnet',
        {
          tlas: [
            { name: 'name', value: 'web' },
            { name: 'replicas', value: '2', code: true },
          ],
          extVars: [{ name: 'env', value: 'a=b' }],
        },
        ['/c/lib', '/c/vendor'],
      ),
      [
        ...['-J', '/c/lib', '-J', '/c/vendor'],
        ...['--tla-str', 'name=web', '--tla-code', 'replicas=2'],
        ...['--ext-str', 'env=a=b'],
        ...['--max-trace', '8', '--', 'app/main.jsonnet'],
      ],
    );
  });
});

describe("jsonnet: locations in jsonnet's errors", () => {
  const table: { name: string; stderr: string; at: { file: string; line: number } | undefined }[] = [
    {
      name: 'a static error starts with the location',
      stderr: 'app/main.jsonnet:2:5-6 Unknown variable: y\n\n{a: y}\n',
      at: { file: 'app/main.jsonnet', line: 2 },
    },
    {
      name: 'a runtime error names it in the first frame',
      stderr:
        'RUNTIME ERROR: boom\n\tlib/l.libsonnet:12:6-18\tobject <anonymous>\n\tapp/main.jsonnet:3:1-5\t',
      at: { file: 'lib/l.libsonnet', line: 12 },
    },
    {
      name: 'a frame of an argument is no file: the next one is taken',
      stderr: 'RUNTIME ERROR: x\n\t<top-level-arg:n>:1:1-3\t\n\tapp/a.jsonnet:4:2-3\t',
      at: { file: 'app/a.jsonnet', line: 4 },
    },
    { name: 'no location at all', stderr: 'RUNTIME ERROR: max stack frames exceeded.\n', at: undefined },
  ];
  for (const row of table) {
    it(row.name, () => {
      assert.deepEqual(jsonnetErrorLocation(row.stderr), row.at);
    });
  }
});

describe('jsonnet: output', () => {
  const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
  it('takes an object, arrays (flattened), a List and a ConfigMapList; null gives nothing', () => {
    const value = [
      cm('a'),
      [cm('b'), null],
      { apiVersion: 'v1', kind: 'List', items: [cm('c')] },
      { apiVersion: 'v1', kind: 'ConfigMapList', items: [cm('d')] },
    ];
    assert.deepEqual(
      objectsOfValue(value, 'main.jsonnet').map((o) => (o['metadata'] as { name: string }).name),
      ['a', 'b', 'c', 'd'],
    );
    assert.deepEqual(objectsOfValue(null, 'main.jsonnet'), []);
  });

  it('refuses a string, a number or a boolean, naming the program', () => {
    for (const value of ['text', 3, true]) {
      assert.throws(
        () => objectsOfValue([cm('a'), value], 'app/main.jsonnet'),
        (error: unknown) =>
          error instanceof CapstanError &&
          error.code === 'RENDER_PARSE' &&
          error.subject === 'app/main.jsonnet' &&
          /^app\/main\.jsonnet: jsonnet gave a (string|number|boolean); /.test(error.message),
      );
    }
  });
});
