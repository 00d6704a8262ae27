// The demo's Environments (src/main/demo-environments.ts): each passes the Environment contract, dev
// and staging are chained with the approval on staging, and each one's image location exists in the
// demo repository (examples/demo), where a promotion's edit lands where the manifests read it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { resolveEnvironment, type ResolvedEnvironment } from '../../../src/contracts/environment.ts';
import { imageIn, withImageAt } from '../../../src/core/promotion.ts';
import { DEMO_APPLICATIONS } from '../../../src/main/demo.ts';
import { DEMO_ENVIRONMENTS, demoEnvironment } from '../../../src/main/demo-environments.ts';

const DEMO_REPOSITORY = join(import.meta.dirname, '..', '..', '..', 'examples', 'demo');
const IMAGE = `registry.invalid/hello@sha256:${'ab'.repeat(32)}`;
const TARGET = {
  namespace: 'capstan-demo',
  project: 'demo',
  repoURL: 'http://127.0.0.1:1/demo-config.git',
  secretRef: 'demo-git',
};

function resolved(name: string): ResolvedEnvironment {
  const env = DEMO_ENVIRONMENTS.find((e) => e.name === name);
  assert.ok(env, name);
  const checked = resolveEnvironment(demoEnvironment(env, TARGET));
  assert.ok(checked.ok, JSON.stringify(checked));
  return checked.value;
}

describe('the demo’s Environments', () => {
  it('dev takes promotions by hand; staging follows dev and asks for an approval', () => {
    const dev = resolved('dev');
    const staging = resolved('staging');
    assert.equal(dev.fromEnvironment, undefined);
    assert.equal(dev.fromPipeline, undefined);
    assert.equal(dev.approvalRequired, false);
    assert.equal(staging.fromEnvironment, 'dev');
    assert.equal(staging.approvalRequired, true);
    for (const env of [dev, staging]) {
      assert.equal(env.namespace, 'capstan-demo');
      assert.equal(env.project, 'demo');
      assert.equal(env.credentialsSecret, 'demo-git');
      assert.equal(env.insecureHttp, true);
      assert.ok(
        DEMO_APPLICATIONS.some((a) => a.name === env.application),
        `${env.name}'s Application ${env.application} is one of the demo's`,
      );
    }
  });

  it('names no credentials Secret when the repository asks for none (the real node’s demo)', () => {
    const env = DEMO_ENVIRONMENTS[0];
    const { secretRef: _none, ...anonymous } = TARGET;
    const checked = resolveEnvironment(demoEnvironment(env, anonymous));
    assert.ok(checked.ok);
    assert.equal(checked.value.credentialsSecret, undefined);
  });

  it('dev’s image lands in the kustomization’s images entry the base Deployment uses', async () => {
    const dev = resolved('dev');
    const text = await readFile(join(DEMO_REPOSITORY, dev.file), 'utf8');
    assert.equal(imageIn(text, { file: dev.file, location: dev.location }), undefined, 'none before');
    const out = withImageAt(text, { file: dev.file, location: dev.location, reference: IMAGE });
    assert.equal(imageIn(out, { file: dev.file, location: dev.location }), IMAGE);
    const base = await readFile(join(DEMO_REPOSITORY, 'kustomize', 'base', 'deployment.yaml'), 'utf8');
    assert.match(base, /image: registry\.invalid\/hello:/, 'the base names the image the entry maps');
  });

  it('staging’s image lands at the chart values’ image.reference, which the chart’s Deployment uses', async () => {
    const staging = resolved('staging');
    const text = await readFile(join(DEMO_REPOSITORY, staging.file), 'utf8');
    assert.equal(imageIn(text, { file: staging.file, location: staging.location }), '', 'empty before');
    const out = withImageAt(text, { file: staging.file, location: staging.location, reference: IMAGE });
    const values = parse(out) as { image: { reference: string; repository: string; tag: string } };
    assert.equal(values.image.reference, IMAGE);
    assert.equal(values.image.repository, 'registry.invalid/hello', 'the rest kept');
    const template = await readFile(
      join(DEMO_REPOSITORY, 'helm', 'hello', 'templates', 'deployment.yaml'),
      'utf8',
    );
    assert.match(template, /\.Values\.image\.reference \| default/);
  });
});
