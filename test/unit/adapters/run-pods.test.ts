// The run Pods of pipeline runs (src/adapters/kube/run-pods.ts) on the FakeCluster, which passes the
// Cluster contract suite; the choice of Pods (core/run-pod.ts, runPodsOf) on literal objects.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPods } from '../../../src/adapters/kube/run-pods.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { RUN_LABELS, runPodsOf } from '../../../src/core/run-pod.ts';
import type { ResourceType } from '../../../src/ports/cluster.ts';
import { FAKE_CLUSTER_TYPES, FakeCluster } from '../../../src/testing/fake-cluster.ts';

const PODS: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
const pod = (name: string, labels: Record<string, string>, extra: Partial<KubeObject['metadata']> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'ci', labels, ...extra },
});

describe('run Pods', () => {
  it('chooses the Pods with a run label that are not being deleted', () => {
    assert.deepEqual(
      runPodsOf([
        pod('build-a1', { [RUN_LABELS.run]: 'a1' }),
        pod('other', { app: 'web' }),
        pod('build-b2', { [RUN_LABELS.run]: 'b2' }, { deletionTimestamp: '2026-12-06T10:00:00Z' }),
        { apiVersion: 'v1', kind: 'Pod', metadata: { labels: { [RUN_LABELS.run]: 'c3' } } },
      ]),
      [{ name: 'build-a1', runId: 'a1' }],
    );
  });

  it('lists a namespace’s run Pods by their label and deletes one', async () => {
    const cluster = new FakeCluster({ types: [...FAKE_CLUSTER_TYPES, PODS] });
    for (const object of [
      pod('build-a1', { [RUN_LABELS.run]: 'a1', [RUN_LABELS.pipeline]: 'build' }),
      pod('web', { app: 'web' }),
      {
        ...pod('build-x9', { [RUN_LABELS.run]: 'x9' }),
        metadata: { name: 'build-x9', namespace: 'elsewhere', labels: { [RUN_LABELS.run]: 'x9' } },
      },
    ])
      await cluster.apply(PODS, object, { fieldManager: 'test' });
    const pods = runPods(cluster);
    assert.deepEqual(await pods.listRunPods('ci'), [{ name: 'build-a1', runId: 'a1' }]);
    assert.deepEqual(cluster.lists, [`ci:${RUN_LABELS.run}`]);
    await pods.deletePod('ci', 'build-a1');
    assert.deepEqual(await pods.listRunPods('ci'), []);
    assert.deepEqual(await pods.listRunPods('elsewhere'), [{ name: 'build-x9', runId: 'x9' }]);
  });

  it('finds none, and deletes nothing, on a cluster that serves no Pods', async () => {
    const pods = runPods(new FakeCluster());
    assert.deepEqual(await pods.listRunPods('ci'), []);
    await pods.deletePod('ci', 'build-a1');
  });
});
