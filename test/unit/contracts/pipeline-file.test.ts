import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePipelineFile, PIPELINE_FILE_LIMITS } from '../../../src/contracts/pipeline-file.ts';
import { CapstanError } from '../../../src/core/errors.ts';

const FILE = '.capstan/pipeline.yaml';

const FULL = `# a whole pipeline file
triggers:
  push:
    branches: [main, 'release/*']
    tags: ['v*']
    paths: ['src/**', package.json]
    ignorePaths: ['docs/**']
  pullRequest:
    branches: [main]
  manual: true
timeout: 20m
concurrency:
  maxRuns: 2
  cancelOlder: false
caches:
  - name: npm
    key: package-lock.json
    paths: [node_modules]
steps:
  - name: test
    image: node:24-alpine
    commands:
      - npm ci
      - npm test
    env:
      CI: "true"
    secrets:
      - env: NPM_TOKEN
        secret: npm
        key: token
    workingDir: app
    timeout: 5m
    retries: 1
    caches: [npm]
  - name: image
    build:
      dockerfile: Dockerfile
      context: .
      args: { VERSION: "1.2" }
      registry: registry.local:5000
      repository: team/web
      tags: ['{commit}', '{branch}', 'v{tag}']
`;

/** The error of parsing `text`, which must fail. */
function failure(text: string): CapstanError {
  try {
    parsePipelineFile(text, FILE);
  } catch (error) {
    assert.ok(error instanceof CapstanError, String(error));
    assert.equal(error.code, 'PIPELINE_FILE_INVALID');
    return error;
  }
  assert.fail('the file was accepted');
}

describe('parsePipelineFile', () => {
  it('reads a file that uses every field', () => {
    const file = parsePipelineFile(FULL, FILE);
    assert.deepEqual(
      file.steps.map((s) => s.name),
      ['test', 'image'],
    );
    assert.deepEqual(file.triggers?.push?.branches, ['main', 'release/*']);
    assert.equal(file.steps[0]?.secrets?.[0]?.secret, 'npm');
    assert.equal(file.steps[1]?.build?.repository, 'team/web');
    assert.equal(file.concurrency?.maxRuns, 2);
  });

  it('reads the smallest file: one step', () => {
    const file = parsePipelineFile('steps:\n  - name: t\n    image: busybox\n    commands: [make]\n', FILE);
    assert.equal(file.steps.length, 1);
  });

  for (const [what, text, expected] of [
    [
      'an unknown field, at its key',
      'steps:\n  - name: t\n    image: busybox\n    comands: [x]\n    commands: [x]\n',
      `${FILE}:4:5: steps[0].comands: unknown field`,
    ],
    [
      'a missing image and build',
      'steps:\n  - name: t\n    commands: [x]\n',
      `${FILE}:2:5: steps[0]: set either image (with commands) or build`,
    ],
    [
      'a wrong type',
      'steps:\n  - name: t\n    image: busybox\n    commands: [x]\n    retries: many\n',
      `${FILE}:5:5: steps[0].retries: must be a whole number`,
    ],
    [
      'an env value that is a number',
      'steps:\n  - name: t\n    image: busybox\n    commands: [x]\n    env:\n      PORT: 8080\n',
      `${FILE}:6:7: steps[0].env.PORT: must be a string, not 8080; quote it: "8080"`,
    ],
    [
      'a bad duration',
      'timeout: soon\nsteps:\n  - name: t\n    image: busybox\n    commands: [x]\n',
      `${FILE}:1:1: timeout: must be a duration such as 30s, 5m or 1h30m, not "soon"`,
    ],
    [
      'a path out of the checkout',
      'steps:\n  - name: t\n    image: busybox\n    commands: [x]\n    workingDir: ../../etc\n',
      `${FILE}:5:5: steps[0].workingDir: must be a path inside the repository (relative, without ..), not "../../etc"`,
    ],
    [
      'an absolute path',
      'steps:\n  - name: t\n    image: busybox\n    commands: [x]\n    workingDir: /etc\n',
      `${FILE}:5:5: steps[0].workingDir: must be a path inside the repository`,
    ],
    [
      'two steps of one name',
      'steps:\n  - {name: t, image: a, commands: [x]}\n  - {name: t, image: a, commands: [x]}\n',
      `${FILE}:1:1: steps: two steps have the same name`,
    ],
    [
      'an undefined cache',
      'steps:\n  - {name: t, image: a, commands: [x], caches: [npm]}\n',
      `${FILE}:1:1: steps: a step names a cache that the top-level caches do not define`,
    ],
    [
      'a reserved step name',
      'steps:\n  - {name: checkout, image: a, commands: [x]}\n',
      `${FILE}:2:6: steps[0].name: is reserved`,
    ],
    [
      'an unknown tag placeholder',
      'steps:\n  - name: i\n    build: {registry: r:5000, repository: a/b, tags: ["{sha}"]}\n',
      `${FILE}:3:48: steps[0].build.tags: a tag names an unknown placeholder`,
    ],
    [
      'a secret variable also in env',
      'steps:\n  - name: t\n    image: a\n    commands: [x]\n    env: {T: x}\n    secrets: [{env: T, secret: s, key: k}]\n',
      `${FILE}:6:5: steps[0].secrets: names a variable both in env and in secrets`,
    ],
    [
      'a command YAML reads as a boolean',
      'steps:\n  - name: t\n    image: busybox\n    commands: [true]\n',
      `${FILE}:4:16: steps[0].commands[0]: must be a string, not true; quote it: "true"`,
    ],
    ['no steps', 'timeout: 5m\n', `${FILE}:1:1: steps: required`],
    ['a list at the top', '- a\n- b\n', `${FILE}:1:1: must be an object`],
    ['an empty file', '', `${FILE}: is empty`],
    ['a syntax error', 'steps: [\n', `${FILE}:2:1: `],
    ['a duplicate key', 'steps: []\nsteps: []\n', `${FILE}:2:1: Map keys must be unique`],
    ['two documents', 'steps: []\n---\nsteps: []\n', `${FILE}:2:1: holds more than one YAML document`],
  ] as const) {
    it(`refuses ${what}, naming file, line and field`, () => {
      const error = failure(text);
      assert.ok(error.message.includes(expected), `${error.message}\n  does not include\n${expected}`);
    });
  }

  it('lists every problem, each on its own line', () => {
    const error = failure('steps:\n  - name: A\n    image: a\n    commands: [x]\n    retries: 9\n');
    const lines = error.message.split('\n').slice(1);
    assert.deepEqual(
      lines.map((l) => l.split(': ')[0]),
      [`${FILE}:2:5`, `${FILE}:5:5`],
    );
    assert.deepEqual(error.fields, ['steps[0].name', 'steps[0].retries']);
    assert.equal(error.subject, `${FILE}:2`);
  });

  it('refuses a huge file before parsing it', () => {
    const error = failure(`steps:\n${'  - {name: t, image: a, commands: [x]}\n'.repeat(20_000)}`);
    assert.match(error.message, /more than the limit of 262144 bytes/);
  });

  it('refuses deep nesting before parsing it', () => {
    const error = failure(`steps: ${'['.repeat(5000)}`);
    assert.match(error.message, new RegExp(`nests more than ${PIPELINE_FILE_LIMITS.maxDepth} levels`));
  });

  it('refuses an alias bomb before expanding it', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 12; i++)
      lines.push(`${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [${'*a, '.repeat(9)}*a]`);
    const error = failure(`${lines.join('\n')}\nsteps: []\n`);
    assert.match(error.message, /more than 100 YAML aliases/);
  });

  it('caps the problems it lists', () => {
    const steps = Array.from({ length: 45 }, (_, i) => `  - {name: S${i}, image: a, commands: [x]}`).join(
      '\n',
    );
    const error = failure(`steps:\n${steps}\n`);
    assert.equal(error.message.split('\n').length, 21);
  });

  it('keeps a key that looks like a prototype a plain key', () => {
    const file = parsePipelineFile(
      'steps:\n  - name: t\n    image: a\n    commands: [x]\n    env: {__proto__: x}\n',
      FILE,
    );
    assert.equal(Object.getPrototypeOf(file), Object.prototype);
  });

  it('never quotes the file in a syntax error', () => {
    const error = failure('steps:\n  - name: t\n    env: {TOKEN: s3cr3t-value\n');
    assert.ok(!error.message.includes('s3cr3t'), error.message);
  });
});
