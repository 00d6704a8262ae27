// The Project resource on the real API server: its CRD is served, a Project is stored as written, and
// the API server refuses what validateProject refuses (the schema and the CEL rule of roles).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { PROJECT_API_VERSION, PROJECT_KIND, validateProject } from '../../src/contracts/project.ts';
import { CapstanError } from '../../src/core/errors.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { installProjectCrd, testCluster } from '../../src/testing/cluster.ts';

let admin: KubeCluster;
let projects: ResourceType;

before(async () => {
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: (await testCluster()).adminKubeconfig }));
  projects = await installProjectCrd(admin);
});

const project = (spec: Record<string, unknown>): KubeObject => ({
  apiVersion: PROJECT_API_VERSION,
  kind: PROJECT_KIND,
  metadata: { name: `p-${randomBytes(4).toString('hex')}` },
  spec,
});

describe('the Project CRD', () => {
  it('is cluster-scoped and stores a Project as written', async (t) => {
    assert.equal(projects.namespaced, false);
    const written = project({
      applicationNamespaces: ['team-a', 'team-a-*'],
      sourceRepos: ['https://git.example.com/team-a/**'],
      destinations: [{ cluster: 'in-cluster', namespace: 'team-a-*', serviceAccount: { name: 'deployer' } }],
      clusterResources: [{ group: '', kind: 'Namespace' }],
      allowAdoption: true,
      roles: [
        { name: 'deployer', groups: ['team-a'] },
        { name: 'releaser', actions: ['view', 'sync'], users: ['carol'] },
      ],
    });
    assert.ok(validateProject(written).ok);
    const name = written.metadata.name ?? '';
    t.after(() => admin.delete(projects, '', name).catch(() => undefined));
    await admin.apply(projects, written, { fieldManager: 'capstan-test' });
    const live = await admin.get(projects, '', name);
    assert.deepEqual(live?.['spec'], written['spec']);
    assert.ok(validateProject(live).ok, 'what the API server returns validates');
  });

  for (const [what, spec, message] of [
    ['a custom role without actions', { roles: [{ name: 'releaser', users: ['x'] }] }, /lists its actions/],
    ['a built-in role with actions', { roles: [{ name: 'viewer', actions: ['sync'] }] }, /lists its actions/],
    ['an upper-case namespace pattern', { applicationNamespaces: ['Team'] }, /applicationNamespaces/],
  ] as const) {
    it(`refuses ${what}, as validateProject does`, async () => {
      const refused = project({ applicationNamespaces: ['a'], destinations: [], ...spec });
      assert.equal(validateProject(refused).ok, false);
      const error = await admin.apply(projects, refused, { fieldManager: 'capstan-test' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof CapstanError, 'the API server refused it');
      assert.equal(error.code, 'KUBE_INVALID', error.message);
      assert.match(error.message, message);
    });
  }
});
