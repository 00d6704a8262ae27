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

  it("reads Argo CD's hooks, delete policies and waves; Capstan's own annotations win; Skip leaves an object out", () => {
    const order = orderForSync([
      obj('ConfigMap', 'wave-0', { 'argocd.argoproj.io/sync-wave': '0' }),
      obj('Job', 'wave-1-hook', { 'argocd.argoproj.io/hook': 'Sync', 'argocd.argoproj.io/sync-wave': '1' }),
      obj('Service', 'wave-2', { 'argocd.argoproj.io/sync-wave': '2' }),
      obj('Job', 'migrate', {
        'argocd.argoproj.io/hook': 'PreSync',
        'argocd.argoproj.io/hook-delete-policy': 'HookSucceeded',
      }),
      obj('Job', 'notify', { 'argocd.argoproj.io/hook': 'PostSync' }),
      obj('Pod', 'skipped', { 'argocd.argoproj.io/hook': 'Skip' }),
    ]);
    assert.deepEqual(
      flattenOrder(order).map((o) => `${o.wave}:${o.id.name}`),
      ['0:migrate', '0:wave-0', '1:wave-1-hook', '2:wave-2', '0:notify'],
    );
    assert.deepEqual(order.phases.PreSync[0]?.objects[0]?.hook, {
      phases: ['PreSync'],
      deletePolicies: ['HookSucceeded'],
    });
    assert.deepEqual(order.phases.PostSync[0]?.objects[0]?.hook?.deletePolicies, ['BeforeHookCreation']);
    // Capstan's annotation first, then Argo CD's, then Helm's.
    assert.equal(
      waveOf(obj('Job', 'j', { 'capstan.dev/sync-wave': '3', 'argocd.argoproj.io/sync-wave': '7' })),
      3,
    );
    assert.equal(
      waveOf(obj('Job', 'j', { 'argocd.argoproj.io/sync-wave': '7', 'helm.sh/hook-weight': '1' })),
      7,
    );
    assert.deepEqual(
      hookOf(obj('Job', 'j', { 'argocd.argoproj.io/hook': 'PostSync', 'helm.sh/hook': 'pre-install' }))
        ?.phases,
      ['PostSync'],
    );
    assert.throws(() => waveOf(obj('Job', 'bad', { 'argocd.argoproj.io/sync-wave': 'x' })), {
      message: /Job\/ns\/bad: argocd.argoproj.io\/sync-wave must be an integer, not 'x'/,
    });
    assert.throws(() => hookOf(obj('Job', 'bad', { 'argocd.argoproj.io/hook': 'PostDelete' })), {
      message: /argocd.argoproj.io\/hook 'PostDelete' is not one of PreSync, Sync, PostSync, SyncFail, Skip/,
    });
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
