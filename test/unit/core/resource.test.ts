import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutManagedFields, type KubeObject } from '../../../src/core/resource.ts';

test('withoutManagedFields drops managedFields and shares everything else with the object', () => {
  const data = { level: 'info' };
  const object: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'a', namespace: 'n', labels: { app: 'a' }, managedFields: [{ manager: 'capstan' }] },
    data,
  };
  const slim = withoutManagedFields(object);
  assert.deepEqual(slim, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'a', namespace: 'n', labels: { app: 'a' } },
    data,
  });
  assert.equal(slim['data'], data, 'the content is shared, not copied');
  assert.equal(slim.metadata.labels, object.metadata.labels);
  assert.ok(object.metadata.managedFields, 'the object itself is left as it was');
});

test('withoutManagedFields answers the object itself when it has none', () => {
  const object: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } };
  assert.equal(withoutManagedFields(object), object);
});
