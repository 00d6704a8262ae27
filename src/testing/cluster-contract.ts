/**
 * The contract every Cluster passes (DESIGN.md, "Tests": one contract suite per port, run against the
 * real adapter and any fake): discovery, server-side apply (created or not, dry runs, field ownership
 * and its conflicts), lists by label, deletes with their preconditions, and the errors' codes. FakeCluster
 * (fake-cluster.ts) runs it in the unit tier (test/unit/testing/fake-cluster.test.ts); KubeCluster
 * against a real API server (test/integration/cluster-port.test.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';

export interface ClusterHarness {
  readonly cluster: Cluster;
  /** A namespace that exists, empty of ConfigMaps. */
  readonly namespace: string;
}

export interface ClusterContractOptions {
  readonly open: (t: {
    after(fn: () => Promise<void>): void;
    readonly name: string;
  }) => Promise<ClusterHarness>;
}

const configMap = (
  namespace: string,
  name: string,
  data: Record<string, string>,
  labels?: Record<string, string>,
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, ...(labels === undefined ? {} : { labels }) },
  data,
});

async function configMaps(cluster: Cluster): Promise<ResourceType> {
  const type = await cluster.resourceType('v1', 'ConfigMap');
  assert.ok(type, 'ConfigMaps are served');
  return type;
}

const rejectsWith = (code: string, subject: RegExp) => (error: unknown) => {
  assert.ok(error instanceof CapstanError, String(error));
  assert.equal(error.code, code);
  assert.equal(error.retryable, false);
  assert.match(error.message, subject);
  return true;
};

export function clusterContract(name: string, options: ClusterContractOptions): void {
  discoveryAndApplyCases(name, options);
  ownershipCases(name, options);
  listDeleteCases(name, options);
}

function discoveryAndApplyCases(name: string, options: ClusterContractOptions): void {
  it(`${name}: discovery names served types by apiVersion and kind, or by group (the preferred version)`, async (t) => {
    const { cluster } = await options.open(t);
    assert.deepEqual(await cluster.resourceType('v1', 'ConfigMap'), {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      plural: 'configmaps',
      namespaced: true,
    });
    assert.deepEqual(await cluster.preferredType('apps', 'Deployment'), {
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      plural: 'deployments',
      namespaced: true,
    });
    assert.equal((await cluster.resourceType('v1', 'Namespace'))?.namespaced, false);
    assert.equal(await cluster.resourceType('nothing.example.com/v1', 'Nothing'), undefined);
    assert.equal(await cluster.preferredType('nothing.example.com', 'Nothing'), undefined);
    const info = await cluster.info();
    assert.match(info.gitVersion, /^v\d+\.\d+\.\d+/);
    for (const served of ['v1', 'apps/v1', 'v1/ConfigMap', 'apps/v1/Deployment'])
      assert.ok(info.apiVersions.includes(served), `apiVersions has ${served}`);
  });

  it(`${name}: apply creates, then configures the same object (same uid, a new resourceVersion)`, async (t) => {
    const { cluster, namespace } = await options.open(t);
    const type = await configMaps(cluster);
    const first = await cluster.apply(type, configMap(namespace, 'settings', { level: '1' }), {
      fieldManager: 'capstan-test',
    });
    assert.equal(first.created, true);
    assert.deepEqual(first.object['data'], { level: '1' });
    const second = await cluster.apply(type, configMap(namespace, 'settings', { level: '2' }), {
      fieldManager: 'capstan-test',
    });
    assert.equal(second.created, false);
    assert.equal(second.object.metadata.uid, first.object.metadata.uid);
    assert.notEqual(second.object.metadata.resourceVersion, first.object.metadata.resourceVersion);
    const live = await cluster.get(type, namespace, 'settings');
    assert.deepEqual(live?.['data'], { level: '2' });
    assert.equal(live.metadata.namespace, namespace);
    assert.equal(await cluster.get(type, namespace, 'missing'), undefined);
  });

  it(`${name}: a dry run answers as the write would and writes nothing`, async (t) => {
    const { cluster, namespace } = await options.open(t);
    const type = await configMaps(cluster);
    const fieldManager = 'capstan-test';
    const planned = await cluster.apply(type, configMap(namespace, 'new', { a: '1' }), {
      fieldManager,
      dryRun: true,
    });
    assert.equal(planned.created, true);
    assert.deepEqual(planned.object['data'], { a: '1' });
    assert.equal(await cluster.get(type, namespace, 'new'), undefined);
    await cluster.apply(type, configMap(namespace, 'old', { a: '1' }), { fieldManager });
    const changed = await cluster.apply(type, configMap(namespace, 'old', { a: '2' }), {
      fieldManager,
      dryRun: true,
    });
    assert.equal(changed.created, false);
    assert.deepEqual(changed.object['data'], { a: '2' });
    assert.deepEqual((await cluster.get(type, namespace, 'old'))?.['data'], { a: '1' });
    assert.equal(await cluster.delete(type, namespace, 'old', { dryRun: true }), true);
    assert.ok(await cluster.get(type, namespace, 'old'), 'a dry-run delete leaves the object');
  });
}

function ownershipCases(name: string, options: ClusterContractOptions): void {
  it(`${name}: a field another manager applied is a conflict, unless forced; a field left out is removed`, async (t) => {
    const { cluster, namespace } = await options.open(t);
    const type = await configMaps(cluster);
    await cluster.apply(type, configMap(namespace, 'shared', { x: '1', y: '1' }), { fieldManager: 'first' });
    await assert.rejects(
      cluster.apply(type, configMap(namespace, 'shared', { x: '2' }), { fieldManager: 'second' }),
      rejectsWith('KUBE_CONFLICT', new RegExp(`ConfigMap/${namespace}/shared`)),
    );
    await cluster.apply(type, configMap(namespace, 'shared', { x: '2' }), {
      fieldManager: 'second',
      force: true,
    });
    assert.deepEqual((await cluster.get(type, namespace, 'shared'))?.['data'], { x: '2', y: '1' });
    await cluster.apply(type, configMap(namespace, 'shared', { x: '2' }), { fieldManager: 'first' });
    assert.deepEqual(
      (await cluster.get(type, namespace, 'shared'))?.['data'],
      { x: '2' },
      'y, applied by first alone, went when first stopped applying it',
    );
  });
}

function listDeleteCases(name: string, options: ClusterContractOptions): void {
  it(`${name}: lists a namespace's objects, by label selector, each with its apiVersion and kind`, async (t) => {
    const { cluster, namespace } = await options.open(t);
    const type = await configMaps(cluster);
    const fieldManager = 'capstan-test';
    await cluster.apply(type, configMap(namespace, 'a', {}, { team: 'x' }), { fieldManager });
    await cluster.apply(type, configMap(namespace, 'b', {}, { team: 'y' }), { fieldManager });
    await cluster.apply(type, configMap(namespace, 'c', {}), { fieldManager });
    const names = async (labelSelector?: string) =>
      (await cluster.list(type, namespace, labelSelector === undefined ? {} : { labelSelector }))
        .map((o) => o.metadata.name ?? '')
        .filter((n) => ['a', 'b', 'c'].includes(n))
        .sort();
    assert.deepEqual(await names(), ['a', 'b', 'c']);
    assert.deepEqual(await names('team=x'), ['a']);
    assert.deepEqual(await names('team!=x'), ['b', 'c']);
    assert.deepEqual(await names('team'), ['a', 'b']);
    const [item] = await cluster.list(type, namespace, { labelSelector: 'team=x' });
    assert.equal(item?.apiVersion, 'v1');
    assert.equal(item.kind, 'ConfigMap');
  });

  it(`${name}: a label key with dots and a prefix (capstan.dev/run) is one key, selected as one`, async (t) => {
    const { cluster, namespace } = await options.open(t);
    const type = await configMaps(cluster);
    const labels = { 'capstan.dev/run': 'r1', 'app.kubernetes.io/name': 'web' };
    const applied = await cluster.apply(type, configMap(namespace, 'dotted', {}, labels), {
      fieldManager: 'capstan-test',
    });
    assert.deepEqual(applied.object.metadata.labels, labels);
    const found = await cluster.list(type, namespace, { labelSelector: 'capstan.dev/run' });
    assert.deepEqual(
      found.map((o) => [o.metadata.name, o.metadata.labels]),
      [['dotted', labels]],
    );
  });

  it(`${name}: delete says whether the object was there, and keeps it when its uid is not the one given`, async (t) => {
    const { cluster, namespace } = await options.open(t);
    const type = await configMaps(cluster);
    const { object } = await cluster.apply(type, configMap(namespace, 'gone', {}), {
      fieldManager: 'capstan-test',
    });
    await assert.rejects(
      cluster.delete(type, namespace, 'gone', { uid: '00000000-0000-0000-0000-000000000000' }),
      rejectsWith('KUBE_CONFLICT', new RegExp(`ConfigMap/${namespace}/gone`)),
    );
    assert.ok(await cluster.get(type, namespace, 'gone'), 'a stale uid deletes nothing');
    assert.equal(await cluster.delete(type, namespace, 'gone', { uid: object.metadata.uid ?? '' }), true);
    assert.equal(await cluster.get(type, namespace, 'gone'), undefined);
    assert.equal(await cluster.delete(type, namespace, 'gone'), false);
  });

  it(`${name}: an invalid object is KUBE_INVALID, naming the resource`, async (t) => {
    const { cluster, namespace } = await options.open(t);
    const type = await configMaps(cluster);
    await assert.rejects(
      cluster.apply(type, configMap(namespace, 'Not_A_Name', {}), { fieldManager: 'capstan-test' }),
      rejectsWith('KUBE_INVALID', new RegExp(`ConfigMap/${namespace}/Not_A_Name`)),
    );
  });
}
