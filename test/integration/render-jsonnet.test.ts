// Jsonnet in directory mode against the real jsonnet (google/go-jsonnet, found or built by
// scripts/build-tool.sh) in the real render sandbox: the corpus's guestbook with its library, top-level
// arguments and external variables, the three shapes of output, errors at jsonnet's file and line, and
// imports that would leave the checkout. Each case writes its own files into a temporary checkout.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManifestRenderer } from '../../src/adapters/render/renderer.ts';
import { findTool } from '../../src/adapters/render/tools.ts';
import { CapstanError } from '../../src/core/errors.ts';
import type { JsonnetOptions, RenderResult } from '../../src/ports/renderer.ts';

const CORPUS = resolve(import.meta.dirname, '..', 'fixtures', 'corpus', 'jsonnet');
const GUESTBOOK: JsonnetOptions = {
  libs: ['lib'],
  extVars: [
    { name: 'image', value: 'nginx:1.27' },
    { name: 'environment', value: 'production' },
  ],
  tlas: [{ name: 'replicas', value: '3', code: true }],
};

function rows(result: RenderResult): string[] {
  return result.objects.map(
    ({ object, source }) => `${object.kind} ${object.metadata.name ?? ''} @ ${source.file}:${source.line}`,
  );
}

async function fails(render: Promise<unknown>, code: string, message: RegExp): Promise<CapstanError> {
  const caught = await render.then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(caught instanceof CapstanError, `expected a CapstanError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

describe('Jsonnet sources with the real jsonnet, in the render sandbox', async () => {
  const jsonnet = await findTool('jsonnet');
  const workspace = await mkdtemp(join(tmpdir(), 'capstan-jsonnet-test-'));
  const root = join(workspace, 'checkout');
  const scratch = join(workspace, 'scratch');
  const renderer = new ManifestRenderer({
    kustomizeBinary: '/nonexistent/kustomize',
    helmBinary: '/nonexistent/helm',
    jsonnetBinary: jsonnet,
    tempDir: scratch,
  });
  /** Writes files (path → text) into the checkout. */
  const files = async (entries: Record<string, string>): Promise<void> => {
    for (const [path, text] of Object.entries(entries)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
  };
  const cm = (name: string) => `{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '${name}' } }`;

  before(async () => {
    await cp(CORPUS, join(root, 'corpus'), { recursive: true });
    await mkdir(scratch);
    await mkdir(join(workspace, 'outside'));
    await writeFile(join(workspace, 'outside', 'secret.libsonnet'), "{ secret: 's3cr3t' }\n");
  });
  after(async () => {
    assert.deepEqual(await readdir(scratch), [], 'every render removed its scratch folder');
    await rm(workspace, { recursive: true, force: true });
  });

  it('renders the guestbook: programs beside YAML, a library folder, top-level arguments and external variables', async () => {
    const options = { ...GUESTBOOK, libs: ['corpus/lib'] };
    const result = await renderer.render({ root, path: 'corpus/guestbook', directory: { jsonnet: options } });
    assert.equal(result.type, 'directory');
    assert.deepEqual(rows(result), [
      'Service redis @ corpus/guestbook/redis.yaml:2',
      'Deployment guestbook-ui @ corpus/guestbook/guestbook.jsonnet:1',
      'Service guestbook-ui @ corpus/guestbook/guestbook.jsonnet:1',
      'ConfigMap guestbook-settings @ corpus/guestbook/settings.jsonnet:1',
    ]);
    const deployment = result.objects[1]?.object as unknown as {
      spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
    };
    assert.equal(deployment.spec.replicas, 3, 'the top-level argument given as code is a number');
    assert.equal(deployment.spec.template.spec.containers[0]?.image, 'nginx:1.27');
    assert.deepEqual(result.objects[3]?.object['data'], {
      'settings.txt': 'greeting=Hello from Jsonnet\n',
      environment: 'production',
    });
    // What it reads: the folder, and the library it imports from; jsonnet's version names the tool.
    const inputs = await renderer.inputs({ root, path: 'corpus/guestbook', directory: { jsonnet: options } });
    assert.deepEqual(inputs.paths, ['corpus/guestbook', 'corpus/lib']);
    assert.match(inputs.tools[0] ?? '', /^jsonnet .*v0\.\d+/);
  });

  it('takes an object, an array (nested too) or a {kind: List}; null gives nothing; a library is never evaluated', async () => {
    await files({
      'shapes/a-object.jsonnet': cm('one'),
      'shapes/b-array.jsonnet': `[${cm('two')}, [${cm('three')}]]`,
      'shapes/c-list.jsonnet': `{ apiVersion: 'v1', kind: 'List', items: [${cm('four')}] }`,
      'shapes/d-null.jsonnet': 'null',
      'shapes/helpers.libsonnet': '"a library: never evaluated alone"',
      'shapes/jsonnetfile.json': '{ "version": 1, "dependencies": [] }',
      'shapes/vendor/lib/x.jsonnet': '"inside a library folder: not a program"',
    });
    const result = await renderer.render({
      root,
      path: 'shapes',
      directory: { jsonnet: { libs: ['shapes/vendor'] } },
    });
    assert.deepEqual(
      result.objects.map((o) => o.object.metadata.name),
      ['one', 'two', 'three', 'four'],
    );
    await files({ 'scalar/main.jsonnet': '"just a string"' });
    await fails(
      renderer.render({ root, path: 'scalar' }),
      'RENDER_PARSE',
      /^scalar\/main\.jsonnet: jsonnet gave a string; .* give other files the \.libsonnet extension/,
    );
  });

  it("names the file and line of jsonnet's errors: syntax, a runtime error in a library, a missing external variable, deep recursion", async () => {
    await files({ 'errors/syntax/main.jsonnet': '{\n  a: ,\n}\n' });
    const syntax = await fails(
      renderer.render({ root, path: 'errors/syntax' }),
      'RENDER_TOOL_FAILED',
      /^errors\/syntax\/main\.jsonnet:2: jsonnet errors\/syntax\/main\.jsonnet failed \(exit 1\)(?: in the \w+ sandbox)?:\nerrors\/syntax\/main\.jsonnet:2:6/,
    );
    assert.equal(syntax.subject, 'errors/syntax/main.jsonnet:2');
    await files({
      'errors/runtime/main.jsonnet': `local lib = import '../lib/boom.libsonnet';\n[lib.make('x')]\n`,
      'errors/lib/boom.libsonnet': `{\n  make(name):: {\n    kind: error 'no kind for ' + name,\n  },\n}\n`,
    });
    await fails(
      renderer.render({ root, path: 'errors/runtime' }),
      'RENDER_TOOL_FAILED',
      /^errors\/lib\/boom\.libsonnet:3: .*\nRUNTIME ERROR: no kind for x/,
    );
    await files({ 'errors/extvar/main.jsonnet': `\n\n{ kind: std.extVar('missing') }\n` });
    await fails(
      renderer.render({ root, path: 'errors/extvar' }),
      'RENDER_TOOL_FAILED',
      /^errors\/extvar\/main\.jsonnet:3: .*\nRUNTIME ERROR: Undefined external variable: missing/,
    );
    await files({ 'errors/deep/main.jsonnet': 'local f(x) = f(x);\n[f(1)]\n' });
    await fails(
      renderer.render({ root, path: 'errors/deep' }),
      'RENDER_TOOL_FAILED',
      /^errors\/deep\/main\.jsonnet:1: .*\nRUNTIME ERROR: max stack frames exceeded/,
    );
  });

  it('refuses imports that leave the checkout, with their file and line, and the sandbox holds where no walk looks', async () => {
    await files({ 'escape/absolute/main.jsonnet': `// reads a system file\n(import '/etc/hostname')\n` });
    const absolute = await fails(
      renderer.render({ root, path: 'escape/absolute' }),
      'RENDER_PATH_ESCAPE',
      /^escape\/absolute\/main\.jsonnet:2: import "\/etc\/hostname" is an absolute path/,
    );
    assert.equal(absolute.subject, '/etc/hostname');
    await files({ 'escape/dotdot/main.jsonnet': `(import '../../../outside/secret.libsonnet')\n` });
    await fails(
      renderer.render({ root, path: 'escape/dotdot' }),
      'RENDER_PATH_ESCAPE',
      /^escape\/dotdot\/main\.jsonnet:1: import ".*" leaves the checkout/,
    );
    await files({ 'escape/link/main.jsonnet': `(import 'out.libsonnet')\n` });
    await symlink(
      join(workspace, 'outside', 'secret.libsonnet'),
      join(root, 'escape', 'link', 'out.libsonnet'),
    );
    await fails(
      renderer.render({ root, path: 'escape/link' }),
      'RENDER_PATH_ESCAPE',
      /^escape\/link\/main\.jsonnet:1: import "escape\/link\/out\.libsonnet" resolves outside the checkout through a symlink/,
    );
    await files({ 'escape/library/main.jsonnet': cm('x') });
    await fails(
      renderer.render({ root, path: 'escape/library', directory: { jsonnet: { libs: ['../outside'] } } }),
      'RENDER_PATH_ESCAPE',
      /^jsonnet library folder \(libs\[0\]\) "\.\.\/outside" leaves the checkout/,
    );
    // Code given as an argument is walked too.
    await fails(
      renderer.render({
        root,
        path: 'escape/library',
        directory: { jsonnet: { tlas: [{ name: 'x', value: "import '/etc/hostname'", code: true }] } },
      }),
      'RENDER_PATH_ESCAPE',
      /^\(argument x\):1: import "\/etc\/hostname" is an absolute path/,
    );
    // A verbatim string (@'...') is not seen by the walk: the sandbox, which holds only the checkout, stops it.
    await files({
      'escape/verbatim/main.jsonnet': `{ kind: 'ConfigMap', data: importstr @'${workspace}/outside/secret.libsonnet' }\n`,
    });
    await fails(
      renderer.render({ root, path: 'escape/verbatim' }),
      'RENDER_TOOL_FAILED',
      /^escape\/verbatim\/main\.jsonnet:1: .*(no such file|couldn't open import)/is,
    );
  });
});
