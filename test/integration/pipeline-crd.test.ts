// The Pipeline resource on the real API server: its CRD is served, a Pipeline is stored as written,
// and the API server refuses what validatePipeline refuses (the schema and the CEL rule of paths).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND, validatePipeline } from '../../src/contracts/pipeline.ts';
import { CapstanError } from '../../src/core/errors.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { installPipelineCrd, testCluster } from '../../src/testing/cluster.ts';

let admin: KubeCluster;
let pipelines: ResourceType;

before(async () => {
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: (await testCluster()).adminKubeconfig }));
  pipelines = await installPipelineCrd(admin);
});

const pipeline = (spec: Record<string, unknown>): KubeObject => ({
  apiVersion: PIPELINE_API_VERSION,
  kind: PIPELINE_KIND,
  metadata: { name: `pl-${randomBytes(4).toString('hex')}`, namespace: 'default' },
  spec,
});

describe('the Pipeline CRD', () => {
  it('is namespaced and stores a Pipeline as written', async (t) => {
    assert.equal(pipelines.namespaced, true);
    const written = pipeline({
      project: 'team-a',
      repoURL: 'https://git.example.com/team-a/web.git',
      credentials: { secretRef: { name: 'web-repo' } },
      file: 'ci/pipeline.yaml',
      serviceAccountName: 'builder',
      registrySecretRef: { name: 'registry' },
      pollInterval: '1m',
      suspend: false,
    });
    assert.ok(validatePipeline(written).ok);
    const name = written.metadata.name ?? '';
    t.after(() => admin.delete(pipelines, 'default', name).catch(() => undefined));
    await admin.apply(pipelines, written, { fieldManager: 'capstan-test' });
    const live = await admin.get(pipelines, 'default', name);
    assert.deepEqual(live?.['spec'], written['spec']);
    assert.ok(validatePipeline(live).ok, 'what the API server returns validates');
  });

  for (const [what, spec, message] of [
    ['no repoURL', {}, /repoURL/],
    [
      'a file out of the repository',
      { repoURL: 'https://g/x.git', file: '../x.yaml' },
      /inside the repository/,
    ],
    ['an absolute file', { repoURL: 'https://g/x.git', file: '/etc/passwd' }, /inside the repository/],
    ['an unknown field', { repoURL: 'https://g/x.git', branch: 'main' }, /branch/],
    ['a bad poll interval', { repoURL: 'https://g/x.git', pollInterval: 'often' }, /pollInterval/],
  ] as const) {
    it(`refuses ${what}, as validatePipeline does`, async () => {
      const refused = pipeline(spec);
      assert.equal(validatePipeline(refused).ok, false);
      const error = await admin.apply(pipelines, refused, { fieldManager: 'capstan-test' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof CapstanError, 'the API server refused it');
      // An unknown field fails server-side apply's typed patch (HTTP 500); the rest are 422 Invalid.
      assert.ok(error.code.startsWith('KUBE_'), error.message);
      assert.match(error.message, message);
    });
  }
});
