import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flattenOrder, hookOf, kindRank, orderForSync, waveOf } from '../../../src/core/ordering.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

const obj = (
  kind: string,
  name: string,
  annotations: Record<string, string> = {},
  apiVersion = 'v1',
): KubeObject => ({
  apiVersion,
  kind,
  metadata: {
    name,
    ...(kind === 'Namespace' || kind === 'CustomResourceDefinition' ? {} : { namespace: 'ns' }),
    annotations,
  },
});

describe('sync order', () => {
  it('puts Namespaces and CRDs first, then waves ascending, then kinds in dependency order, then names', () => {
    const order = orderForSync([
      obj('Deployment', 'web'),
      obj('ConfigMap', 'b'),
      obj('ConfigMap', 'a'),
      obj('Service', 'web'),
      obj('Widget', 'w', {}, 'example.com/v1'),
      obj('Secret', 'late', { 'capstan.dev/sync-wave': '5' }),
      obj('Job', 'first', { 'capstan.dev/sync-wave': '-2' }),
      obj('CustomResourceDefinition', 'widgets.example.com', {}, 'apiextensions.k8s.io/v1'),
      obj('Namespace', 'ns'),
      obj('ServiceAccount', 'sa'),
    ]);
    assert.deepEqual(
      flattenOrder(order).map((o) => `${o.wave}:${o.id.kind}/${o.id.name}`),
      [
        '0:Namespace/ns',
        '0:CustomResourceDefinition/widgets.example.com',
        '-2:Job/first',
        '0:ServiceAccount/sa',
        '0:ConfigMap/a',
        '0:ConfigMap/b',
        '0:Service/web',
        '0:Deployment/web',
        '0:Widget/w',
        '5:Secret/late',
      ],
    );
  });

  it('sorts hooks into their phases, with BeforeHookCreation by default', () => {
    const order = orderForSync([
      obj('Job', 'migrate', { 'capstan.dev/hook': 'PreSync' }),
      obj('Job', 'smoke', {
        'capstan.dev/hook': 'PostSync',
        'capstan.dev/hook-delete-policy': 'HookSucceeded',
      }),
      obj('Job', 'page', { 'capstan.dev/hook': 'SyncFail' }),
      obj('ConfigMap', 'c'),
    ]);
    assert.deepEqual(
      order.phases.PreSync.flatMap((w) => w.objects.map((o) => o.id.name)),
      ['migrate'],
    );
    assert.deepEqual(order.phases.PostSync[0]?.objects[0]?.hook?.deletePolicies, ['HookSucceeded']);
    assert.deepEqual(order.phases.SyncFail[0]?.objects[0]?.hook?.deletePolicies, ['BeforeHookCreation']);
    assert.deepEqual(
      flattenOrder(order).map((o) => o.id.name),
      ['migrate', 'c', 'smoke'],
      'SyncFail hooks run only on failure',
    );
  });

  it('understands Helm hooks and leaves out Helm test hooks', () => {
    assert.deepEqual(
      hookOf(
        obj('Job', 'j', {
          'helm.sh/hook': 'pre-install,pre-upgrade',
          'helm.sh/hook-delete-policy': 'hook-succeeded',
        }),
      ),
      {
        phases: ['PreSync'],
        deletePolicies: ['HookSucceeded'],
      },
    );
    const order = orderForSync([obj('Pod', 'test', { 'helm.sh/hook': 'test' }), obj('ConfigMap', 'c')]);
    assert.deepEqual(
      flattenOrder(order).map((o) => o.id.name),
      ['c'],
    );
    assert.equal(waveOf(obj('Job', 'j', { 'helm.sh/hook-weight': '-5' })), -5);
  });

  for (const [annotations, error] of [
    [
      { 'capstan.dev/sync-wave': 'soon' },
      /Job\/ns\/bad: capstan.dev\/sync-wave must be an integer, not 'soon'/,
    ],
    [{ 'capstan.dev/sync-wave': '1.5' }, /must be an integer/],
    [
      { 'capstan.dev/hook': 'Later' },
      /capstan.dev\/hook 'Later' is not one of PreSync, Sync, PostSync, SyncFail/,
    ],
    [
      { 'capstan.dev/hook': 'PreSync', 'capstan.dev/hook-delete-policy': 'Never' },
      /hook-delete-policy 'Never' is not one of/,
    ],
    [{ 'capstan.dev/hook': ' , ' }, /names no phase/],
  ] as const) {
    it(`refuses ${JSON.stringify(annotations)} naming the resource`, () => {
      assert.throws(() => orderForSync([obj('Job', 'bad', { ...annotations })]), error);
    });
  }

  it('ranks unknown kinds after every known kind', () => {
    assert.ok(kindRank('Namespace') < kindRank('Deployment'));
    assert.ok(kindRank('Deployment') < kindRank('SomethingCustom'));
  });
});
