// The demo's commit of its image into hello-http/kustomization.yaml: the images entry gets the
// reference's name and digest, the rest of the file stays as written; a broken file is named.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CapstanError } from '../../../src/core/errors.ts';
import { imageNamed, keptImage, withImage } from '../../../src/main/demo-hello.ts';

const FILE = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'examples',
  'demo',
  'hello-http',
  'kustomization.yaml',
);
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REFERENCE = `127.0.0.1:41234/capstan/hello-http@${DIGEST}`;

describe('withImage', () => {
  it('points the hello-http entry of the example kustomization at the reference, keeping its comments', async () => {
    const text = await readFile(FILE, 'utf8');
    const out = withImage(text, { file: FILE, reference: REFERENCE });
    assert.deepEqual((parse(out) as { images: unknown }).images, [
      { name: 'hello-http', newName: '127.0.0.1:41234/capstan/hello-http', digest: DIGEST },
    ]);
    assert.ok(out.startsWith(text.split('\n')[0] ?? ''), 'the leading comment stays');
    assert.equal(
      withImage(out, { file: FILE, reference: REFERENCE }),
      out,
      'the same reference changes nothing',
    );
  });

  it('names the file when the images entry is gone, and refuses a reference without a digest', () => {
    assert.throws(
      () => withImage('resources: [deployment.yaml]\n', { file: 'k.yaml', reference: REFERENCE }),
      (e: unknown) =>
        e instanceof CapstanError && e.code === 'DEMO_IMAGE_ENTRY' && e.message.includes('k.yaml'),
    );
    assert.throws(
      () => withImage('images: [{name: hello-http}]\n', { file: 'k.yaml', reference: 'r.example/hello:1' }),
      (e: unknown) => e instanceof CapstanError && e.code === 'DEMO_IMAGE_REFERENCE',
    );
  });
});

describe('imageNamed', () => {
  it('is the hello-http entry’s image once it has a digest (a later demo up keeps a promoted image), nothing before', () => {
    assert.equal(imageNamed('images:\n  - name: hello-http\n'), undefined);
    assert.equal(
      imageNamed(`images:\n  - name: hello-http\n    newName: r/h\n    digest: ${DIGEST}\n`),
      `r/h@${DIGEST}`,
    );
    assert.equal(imageNamed(`images:\n  - name: other\n    digest: ${DIGEST}\n`), undefined);
    assert.equal(imageNamed(''), undefined);
  });
});

describe('keptImage', () => {
  const built = `127.0.0.1:30471/capstan/hello-http@sha256:${'a'.repeat(64)}`;
  it('keeps an image of this cluster’s registry (the first up’s, or one promoted since)', () => {
    const promoted = `127.0.0.1:30471/capstan/hello-http@sha256:${'b'.repeat(64)}`;
    assert.equal(keptImage(promoted, built), promoted);
  });
  it('drops one of another registry (a demo folder that outlived its cluster) and none named', () => {
    assert.equal(keptImage(`127.0.0.1:41234/capstan/hello-http@sha256:${'b'.repeat(64)}`, built), undefined);
    assert.equal(keptImage(undefined, built), undefined);
    // A name without a registry host is no image of this cluster's registry either.
    assert.equal(keptImage(`hello-http@sha256:${'b'.repeat(64)}`, built), undefined);
  });
});
