// A sync of a selection of resources: the CLI's argument, the annotation's encoding, and the filter
// the engine plans with (which objects of the render a selection names, and which selectors name none).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applySelection,
  decodeSelection,
  encodeSelection,
  parseResourceArgument,
  selectionProblems,
  selects,
  splitSelection,
} from '../../../src/core/resource-selection.ts';

describe('parseResourceArgument: [GROUP/]KIND/[NAMESPACE/]NAME', () => {
  const cases: [string, { group: string | undefined; kind: string; namespace: string; name: string }][] = [
    ['Deployment/web', { group: undefined, kind: 'Deployment', namespace: '', name: 'web' }],
    ['apps/Deployment/web', { group: 'apps', kind: 'Deployment', namespace: '', name: 'web' }],
    ['Deployment/prod/web', { group: undefined, kind: 'Deployment', namespace: 'prod', name: 'web' }],
    ['apps/Deployment/prod/web', { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' }],
    ['/ConfigMap/settings', { group: '', kind: 'ConfigMap', namespace: '', name: 'settings' }],
    ['/ConfigMap/prod/settings', { group: '', kind: 'ConfigMap', namespace: 'prod', name: 'settings' }],
    [
      'networking.k8s.io/Ingress/prod/web',
      { group: 'networking.k8s.io', kind: 'Ingress', namespace: 'prod', name: 'web' },
    ],
    ['ClusterRole/viewer.v2', { group: undefined, kind: 'ClusterRole', namespace: '', name: 'viewer.v2' }],
  ];
  for (const [text, expected] of cases)
    it(`reads '${text}'`, () => {
      assert.deepEqual(parseResourceArgument(text), expected);
    });

  for (const bad of [
    'web',
    'deployment/web',
    'a/b/c/d/e',
    'Deployment/',
    'apps/Deployment//web',
    'Deployment/a,b',
    '',
  ])
    it(`refuses '${bad}', saying the form`, () => {
      assert.throws(() => parseResourceArgument(bad), /\[GROUP\/\]KIND\/\[NAMESPACE\/\]NAME/);
    });
});

describe('the selection in the sync annotation', () => {
  it('is sorted keys without repeats, read back as written', () => {
    const selection = [
      { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' },
      { group: '', kind: 'Namespace', namespace: '', name: 'prod' },
      { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' },
    ];
    const text = encodeSelection(selection);
    assert.equal(text, '/Namespace//prod,apps/Deployment/prod/web');
    assert.deepEqual(decodeSelection(text), [selection[1], selection[0]]);
  });

  it('refuses a part that would break the encoding, and reads nothing from a malformed text', () => {
    assert.throws(
      () => encodeSelection([{ group: '', kind: 'ConfigMap', namespace: '', name: 'a,b' }]),
      /a,b/,
    );
    assert.throws(() => encodeSelection([{ group: '', kind: 'ConfigMap', namespace: 'x/y', name: 'a' }]));
    for (const bad of ['', 'apps/Deployment/web', '/ConfigMap//', 'a/B/c/d,x', '/ConfigMap//a b'])
      assert.equal(decodeSelection(bad), undefined, bad);
  });
});

describe('applySelection: the plan filter', () => {
  const items = [
    { id: { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' } },
    { id: { group: '', kind: 'ConfigMap', namespace: 'prod', name: 'settings' } },
    { id: { group: '', kind: 'ConfigMap', namespace: 'other', name: 'settings' } },
    { id: { group: 'rbac.authorization.k8s.io', kind: 'ClusterRole', namespace: '', name: 'viewer' } },
  ];

  it('keeps what the selectors name, in the render’s order; a namespace left out is the destination’s or none', () => {
    const { selected, missing } = applySelection(
      items,
      [
        { group: 'rbac.authorization.k8s.io', kind: 'ClusterRole', namespace: '', name: 'viewer' },
        { group: '', kind: 'ConfigMap', namespace: '', name: 'settings' },
      ],
      'prod',
    );
    assert.deepEqual(
      selected.map((s) => s.id),
      [items[1]?.id, items[3]?.id],
    );
    assert.deepEqual(missing, []);
  });

  it('names the selectors that match nothing: another group, namespace or name', () => {
    const { selected, missing } = applySelection(
      items,
      [
        { group: 'extensions', kind: 'Deployment', namespace: 'prod', name: 'web' },
        { group: 'apps', kind: 'Deployment', namespace: 'dev', name: 'web' },
        { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' },
      ],
      'prod',
    );
    assert.deepEqual(
      selected.map((s) => s.id.name),
      ['web'],
    );
    assert.deepEqual(
      missing.map((m) => `${m.group}/${m.namespace}`),
      ['extensions/prod', 'apps/dev'],
    );
  });

  it('an explicit namespace matches only that namespace', () => {
    const id = { group: '', kind: 'ConfigMap', namespace: 'other', name: 'settings' };
    assert.equal(selects({ ...id, namespace: 'other' }, id, 'prod'), true);
    assert.equal(selects({ ...id, namespace: '' }, id, 'prod'), false);
    assert.equal(selects({ ...id, namespace: 'prod' }, id, 'prod'), false);
  });
});

describe('splitSelection: a selection against the render and what the application owns', () => {
  const rendered = [{ id: { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' } }];
  const owned = [
    { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' },
    { group: '', kind: 'ConfigMap', namespace: 'prod', name: 'old' },
  ];
  const selection = [
    { group: 'apps', kind: 'Deployment', namespace: '', name: 'web' },
    { group: '', kind: 'ConfigMap', namespace: '', name: 'old' },
    { group: '', kind: 'ConfigMap', namespace: 'prod', name: 'never' },
  ];

  it('with prune: the owned resources that left the render are departed (to prune), and only those', () => {
    const split = splitSelection(rendered, owned, selection, { namespace: 'prod', prune: true });
    assert.deepEqual(
      split.selected.map((s) => s.id.name),
      ['web'],
    );
    assert.deepEqual(split.departed, [{ group: '', kind: 'ConfigMap', namespace: 'prod', name: 'old' }]);
    assert.deepEqual(
      split.unknown.map((s) => s.name),
      ['never'],
    );
    assert.deepEqual(split.unpruned, []);
    assert.deepEqual(selectionProblems(split), ['ConfigMap/prod/never is not in the desired state']);
  });

  it('without prune: a departed one is named, to be selected with prune', () => {
    const split = splitSelection(rendered, owned, selection.slice(0, 2), { namespace: 'prod', prune: false });
    assert.deepEqual(split.departed, []);
    assert.deepEqual(
      split.unpruned.map((s) => s.name),
      ['old'],
    );
    assert.match(selectionProblems(split, [])[0] ?? '', /ConfigMap\/old .*select it with prune to delete it/);
    assert.deepEqual(
      selectionProblems(split, [{ group: 'batch', kind: 'Job', namespace: 'prod', name: 'm' }]).at(-1),
      'Job/prod/m is a hook, and a sync of a selection runs no hooks',
    );
  });
});
