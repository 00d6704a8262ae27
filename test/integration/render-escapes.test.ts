// Attempts to make kustomize read outside the checkout, each proven real first (the real kustomize,
// run directly the way Capstan runs it, reads the other team's Secret or fetches from a loopback
// server), then refused by Capstan's pre-check with a message naming the file, line and entry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ManifestRenderer } from '../../src/adapters/render/renderer.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';

const run = promisify(execFile);
/** What another team keeps beside this checkout: a kustomization that generates a Secret. */
const OTHER_TEAM = {
  'kustomization.yaml': 'secretGenerator:\n  - name: db\n    literals: [password=other-teams-s3cr3t]\n',
};
/** A transformer configuration of the other team's, which stamps its secret on everything. */
const OTHER_TRANSFORMER = {
  'kustomization.yaml': 'resources: [labels.yaml]\n',
  'labels.yaml':
    'apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: leak\nlabels:\n  leak: other-teams-s3cr3t\nfieldSpecs:\n  - path: metadata/labels\n    create: true\n',
};
const OWN_CONFIGMAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\ndata:\n  a: b\n';

async function writeTree(folder: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(folder, name)), { recursive: true });
    await writeFile(join(folder, name), text);
  }
}

async function refused(render: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await render;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CapstanError, `expected a CapstanError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
}

describe('kustomize escapes, with the real kustomize', async () => {
  const binaries = await ensureBinaries();
  const kustomize = join(binaries, 'kustomize');
  const workspace = await realpath(await mkdtemp(join(tmpdir(), 'capstan-escapes-')));
  const root = join(workspace, 'team-a');
  const renderer = new ManifestRenderer({ kustomizeBinary: kustomize, helmBinary: join(binaries, 'helm') });
  let server: Server;
  let requests = 0;
  let port = 0;

  /** kustomize run directly, as Capstan runs it but without the pre-check: what the attack gets. */
  const direct = async (path: string): Promise<string> => {
    const folder = join(root, path);
    const { stdout } = await run(
      kustomize,
      ['build', '--load-restrictor=LoadRestrictionsRootOnly', '--', folder],
      {
        cwd: folder,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: workspace },
      },
    );
    return stdout;
  };
  const app = async (name: string, kustomization: string): Promise<string> => {
    await writeTree(join(root, 'apps', name), {
      'kustomization.yaml': kustomization,
      'own.yaml': OWN_CONFIGMAP,
    });
    return `apps/${name}`;
  };

  before(async () => {
    await writeTree(join(workspace, 'team-b'), OTHER_TEAM);
    await writeTree(join(workspace, 'team-b-transformer'), OTHER_TRANSFORMER);
    server = createServer((_request, response) => {
      requests++;
      response.end('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\ndata:\n  from: loopback\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.close();
    await rm(workspace, { recursive: true, force: true });
  });

  it('`Resources:` (a key in another case) naming a folder outside the checkout', async () => {
    const path = await app('upper-case', 'Resources:\n  - own.yaml\n  - ../../../team-b\n');
    assert.match(await direct(path), /kind: Secret/, 'kustomize itself reads the other team');
    await refused(
      renderer.render({ root, path }),
      'RENDER_PATH_ESCAPE',
      /^apps\/upper-case\/kustomization\.yaml:3:5: resources entry "\.\.\/\.\.\/\.\.\/team-b" leaves the checkout/,
    );
  });

  it('`reſources:` (U+017F, which Go folds to s)', async () => {
    const path = await app('long-s', 're\u017fources:\n  - ../../../team-b\n');
    assert.match(await direct(path), /kind: Secret/, 'kustomize itself reads the other team');
    await refused(
      renderer.render({ root, path }),
      'RENDER_PATH_ESCAPE',
      /resources entry "\.\.\/\.\.\/\.\.\/team-b" leaves/,
    );
  });

  it('`<<:` (a merge key) bringing in resources', async () => {
    // (kustomize refuses unknown fields, so the merged mapping is written inline.)
    const path = await app('merge-key', 'namePrefix: a-\n<<: {resources: [../../../team-b]}\n');
    assert.match(await direct(path), /kind: Secret/, 'kustomize itself reads the other team');
    await refused(
      renderer.render({ root, path }),
      'RENDER_PATH_ESCAPE',
      /^apps\/merge-key\/kustomization\.yaml:2:18: resources entry "\.\.\/\.\.\/\.\.\/team-b" leaves the checkout/,
    );
  });

  it('`Resources:` naming a URL on a loopback port', async () => {
    const path = await app('loopback', `Resources:\n  - http://127.0.0.1:${port}/configmap.yaml\n`);
    assert.match(await direct(path), /from: loopback/, 'kustomize itself fetches over loopback');
    const before = requests;
    await refused(
      renderer.render({ root, path }),
      'RENDER_REMOTE_BASE',
      /^apps\/loopback\/kustomization\.yaml:2:5: resources entry "http:\/\/127\.0\.0\.1:\d+\/configmap\.yaml" is remote/,
    );
    assert.equal(requests, before, 'Capstan fetched nothing');
  });

  it('a folder named under transformers whose kustomization leaves the checkout', async () => {
    await writeTree(join(root, 'apps', 'transformer', 'labels'), {
      'kustomization.yaml': 'resources: [../../../../team-b-transformer]\n',
    });
    const path = await app('transformer', 'resources: [own.yaml]\ntransformers: [labels]\n');
    assert.match(
      await direct(path),
      /leak: other-teams-s3cr3t/,
      'kustomize itself runs the other team’s transformer',
    );
    await refused(
      renderer.render({ root, path }),
      'RENDER_PATH_ESCAPE',
      /^apps\/transformer\/labels\/kustomization\.yaml:1:13: resources entry "\.\.\/\.\.\/\.\.\/\.\.\/team-b-transformer" leaves the checkout/,
    );
  });

  it('a !!binary entry (go-yaml decodes it to a path)', async () => {
    const encoded = Buffer.from('../../../team-b').toString('base64');
    const path = await app('binary', `resources:\n  - !!binary ${encoded}\n`);
    assert.match(await direct(path), /kind: Secret/, 'kustomize itself reads the other team');
    await refused(
      renderer.render({ root, path }),
      'RENDER_PATH_ESCAPE',
      /"\.\.\/\.\.\/\.\.\/team-b" leaves the checkout/,
    );
  });

  it('still renders the same kustomizations written plainly, inside the checkout', async () => {
    const path = await app('fine', 'Resources: [own.yaml]\n<<: {namePrefix: x-}\n');
    const result = await renderer.render({ root, path });
    assert.deepEqual(
      result.objects.map((o) => `${o.object.kind}/${o.object.metadata.name ?? ''}`),
      ['ConfigMap/x-own'],
    );
  });
});
