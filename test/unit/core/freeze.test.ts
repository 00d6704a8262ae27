import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deepFreeze } from '../../../src/core/freeze.ts';

test('deepFreeze freezes every object and array at any depth, in place', () => {
  const object = { metadata: { labels: { a: 'b' } }, spec: { list: [{ x: 1 }, [2, 3]] }, n: null };
  const frozen = deepFreeze(object);
  assert.equal(frozen, object);
  for (const part of [object, object.metadata, object.metadata.labels, object.spec, object.spec.list])
    assert.ok(Object.isFrozen(part));
  assert.ok(Object.isFrozen(object.spec.list[0]));
  assert.ok(Object.isFrozen(object.spec.list[1]));
  assert.throws(() => {
    (object.metadata.labels as Record<string, string>)['c'] = 'd';
  }, TypeError);
  assert.throws(() => {
    (object.spec.list as unknown[]).push(4);
  }, TypeError);
});

test('deepFreeze walks a document nested deeper than the stack would allow a recursion', () => {
  const root: { child?: unknown } = {};
  let node = root;
  for (let i = 0; i < 200_000; i++) {
    const child = {};
    node.child = child;
    node = child;
  }
  deepFreeze(root);
  assert.ok(Object.isFrozen(node));
});

test('deepFreeze leaves values that are not objects as they are', () => {
  assert.equal(deepFreeze('text'), 'text');
  assert.equal(deepFreeze(null), null);
  assert.equal(deepFreeze<unknown>(undefined), undefined);
  assert.equal(deepFreeze(7), 7);
});
