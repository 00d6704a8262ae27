// The server's Environments (src/main/promotions.ts, kubeEnvironments) on a cluster that serves the
// Environment CRD and on one that does not: there, none (as for Pipelines), not a server failure; the
// demo's cluster, which installs only the Application and Project CRDs, answered `capstan env list` with
// SERVER_FAILED (KUBE_TYPE_MISSING).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ENVIRONMENT_API_VERSION,
  ENVIRONMENT_GROUP,
  ENVIRONMENT_KIND,
  ENVIRONMENT_PLURAL,
  ENVIRONMENT_VERSION,
} from '../../../src/contracts/environment.ts';
import { kubeEnvironments } from '../../../src/main/promotions.ts';
import type { ResourceType } from '../../../src/ports/cluster.ts';
import { FAKE_CLUSTER_TYPES, FakeCluster } from '../../../src/testing/fake-cluster.ts';

const ENVIRONMENTS: ResourceType = {
  group: ENVIRONMENT_GROUP,
  version: ENVIRONMENT_VERSION,
  kind: ENVIRONMENT_KIND,
  plural: ENVIRONMENT_PLURAL,
  namespaced: true,
};

const environment = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: ENVIRONMENT_API_VERSION,
  kind: ENVIRONMENT_KIND,
  metadata: { name, namespace: 'team-a' },
  spec,
});

const DEV = {
  application: 'hello-dev',
  config: {
    repoURL: 'https://git.example.com/team-a/config.git',
    file: 'dev/kustomization.yaml',
    kustomizeImage: 'hello',
  },
  source: { pipeline: { name: 'hello' } },
};

describe('the server’s Environments', () => {
  it('are none on a cluster without the Environment CRD, for a list and for one', async () => {
    const directory = kubeEnvironments(new FakeCluster());
    assert.deepEqual(await directory.list(), []);
    assert.equal(await directory.get('team-a', 'dev'), undefined);
  });

  it('are the cluster’s Environments the contract accepts, resolved; a refused one is left out', async () => {
    const cluster = new FakeCluster({ types: [...FAKE_CLUSTER_TYPES, ENVIRONMENTS] });
    await cluster.apply(ENVIRONMENTS, environment('dev', DEV), { fieldManager: 'test' });
    await cluster.apply(ENVIRONMENTS, environment('broken', { application: 'x' }), { fieldManager: 'test' });
    const directory = kubeEnvironments(cluster);
    const listed = await directory.list();
    assert.deepEqual(
      listed.map((env) => `${env.namespace}/${env.name} ${env.application} ${env.file}`),
      ['team-a/dev hello-dev dev/kustomization.yaml'],
    );
    assert.equal((await directory.get('team-a', 'dev'))?.application, 'hello-dev');
    assert.equal(await directory.get('team-a', 'broken'), undefined);
  });
});
