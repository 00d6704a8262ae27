/**
 * The pipelines' sample application (issue #19's acceptance, bench/pipeline.ts): a tiny HTTP server
 * with a unit test, a Dockerfile built FROM a Node.js base image given as a build argument, and a
 * pipeline file that tests it and then builds and pushes its image.
 */

/** The sample application: a tiny HTTP server, its unit test, a Dockerfile on a base given as an argument. */
export function sampleApp(options: {
  /** What the server answers; the unit test expects `hello`, so anything else fails it. */
  readonly greeting: string;
  /** The Node.js base image, by digest: the test step runs in it and the Dockerfile builds FROM it. */
  readonly nodeBase: string;
  readonly registry: string;
  readonly repository: string;
  /** Written into server.js: a new version is a new commit and a new layer, with the test still passing. */
  readonly version?: string;
  /** The image step's `provenance` (BuildKit's attestation). Default: not set (on). */
  readonly provenance?: boolean;
}): Record<string, string> {
  const { greeting, nodeBase } = options;
  return {
    'greeting.js': `export const greeting = () => ${JSON.stringify(greeting)};\n`,
    'server.js': [
      "import { createServer } from 'node:http';",
      "import { greeting } from './greeting.js';",
      `// version ${options.version ?? '1'}`,
      'createServer((_req, res) => res.end(`${greeting()}\\n`)).listen(8080);',
      '',
    ].join('\n'),
    'greeting.test.js': [
      "import assert from 'node:assert/strict';",
      "import { test } from 'node:test';",
      "import { greeting } from './greeting.js';",
      "test('greets', () => assert.equal(greeting(), 'hello'));",
      '',
    ].join('\n'),
    'package.json': '{ "name": "hello", "type": "module", "private": true }\n',
    '.dockerignore': '.git\n.capstan\n*.test.js\n',
    Dockerfile: [
      'ARG BASE',
      'FROM ${BASE}',
      'WORKDIR /app',
      'COPY package.json greeting.js server.js ./',
      'USER 65532',
      'EXPOSE 8080',
      'CMD ["/app/server.js"]',
      '',
    ].join('\n'),
    '.capstan/pipeline.yaml': [
      'steps:',
      '  - name: test',
      `    image: ${nodeBase}`,
      '    commands: ["node --test"]',
      '  - name: image',
      '    build:',
      `      args: { BASE: ${JSON.stringify(nodeBase)} }`,
      `      registry: ${JSON.stringify(options.registry)}`,
      `      repository: ${options.repository}`,
      `      tags: ['{shortCommit}', '{branch}']`,
      ...(options.provenance === undefined ? [] : [`      provenance: ${String(options.provenance)}`]),
      '',
    ].join('\n'),
  };
}
