import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../../src/core/resource.ts';
import { applyActionOf, type ApplyAction } from '../../../src/core/sync-result.ts';

const at = (resourceVersion: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'x', resourceVersion },
});

describe('applyActionOf: what a server-side apply did', () => {
  const cases: [
    name: string,
    created: boolean,
    before: KubeObject | undefined,
    after: KubeObject,
    want: ApplyAction,
  ][] = [
    ['created', true, undefined, at('5'), 'created'],
    ['the server wrote a new resourceVersion', false, at('5'), at('6'), 'configured'],
    ['the same resourceVersion: nothing was written', false, at('5'), at('5'), 'unchanged'],
    [
      'not seen before but not created (created meanwhile by another)',
      false,
      undefined,
      at('5'),
      'configured',
    ],
  ];
  for (const [name, created, before, after, want] of cases) {
    it(name, () => {
      assert.equal(applyActionOf({ created, before, after }), want);
    });
  }
});
