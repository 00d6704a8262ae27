// The unit test the demo's pipeline runs first (`node --test`): a failing test stops the image step.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { answer } from './answer.mjs';

test('greets with the version', () => {
  assert.equal(answer('/', '7'), "hello from Capstan's demo, version 7\n");
});

test('answers its health check', () => {
  assert.equal(answer('/healthz', '7'), 'ok\n');
});

test('VERSION holds one version on one line', () => {
  assert.match(readFileSync(new URL('./VERSION', import.meta.url), 'utf8'), /^[\w.+-]+\n?$/);
});
