import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Health } from '../../../src/core/health.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import {
  desiredStateChanged,
  lastWriter,
  ManagedResources,
  type ManagedChange,
} from '../../../src/controller/managed-resources.ts';
import type { ResourceType } from '../../../src/ports/cluster.ts';
import { ScriptedWatcher } from '../../../src/testing/scripted-watcher.ts';

const configMaps: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};
const deployments: ResourceType = {
  group: 'apps',
  version: 'v1',
  kind: 'Deployment',
  plural: 'deployments',
  namespaced: true,
};

const managed = (manager: string, time: string, subresource?: string) => ({
  manager,
  operation: manager === 'capstan' ? 'Apply' : 'Update',
  time,
  ...(subresource ? { subresource } : {}),
});

function object(
  name: string,
  fields: { data?: Record<string, string>; generation?: number; writers?: unknown[]; ready?: boolean },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: 'shop',
      resourceVersion: String(Math.random()),
      labels: { 'capstan.dev/application': 'shop.web' },
      annotations: { 'capstan.dev/tracking-id': `shop.web:/ConfigMap/shop/${name}` },
      ...(fields.generation === undefined ? {} : { generation: fields.generation }),
      managedFields: fields.writers ?? [managed('capstan', '2026-11-28T10:00:00Z')],
    },
    ...(fields.data ? { data: fields.data } : {}),
    ...(fields.ready === undefined ? {} : { status: { ready: fields.ready } }),
  };
}

const assessHealth = (live: KubeObject | undefined): Health => {
  const ready = (live?.['status'] as { ready?: boolean } | undefined)?.ready;
  return ready === false
    ? { status: 'Progressing', message: 'not ready' }
    : { status: 'Healthy', message: '' };
};

function setUp() {
  // The test scripts every event itself, the list included (what a handler does while still listing).
  const watcher = new ScriptedWatcher({ list: 'by-hand' });
  const changes: ManagedChange[] = [];
  const resources = new ManagedResources({ assessHealth });
  resources.start((change) => changes.push(change));
  resources.track({ name: 'in-cluster', watcher }, [configMaps]);
  const first = watcher.watches[0];
  assert.ok(first);
  return { watcher, changes, resources, emit: first.handler, options: first.options };
}

describe('lastWriter', () => {
  it('is the manager of the latest non-status entry; Capstan loses a tie', () => {
    assert.equal(lastWriter(object('a', {})), 'capstan');
    assert.equal(
      lastWriter(
        object('a', {
          writers: [
            managed('capstan', '2026-11-28T10:00:00Z'),
            managed('kube-controller-manager', '2026-11-28T10:05:00Z', 'status'),
          ],
        }),
      ),
      'capstan',
    );
    assert.equal(
      lastWriter(
        object('a', {
          writers: [
            managed('capstan', '2026-11-28T10:00:00Z'),
            managed('kubectl-edit', '2026-11-28T10:00:00Z'),
          ],
        }),
      ),
      'kubectl-edit',
    );
    assert.equal(
      lastWriter(
        object('a', {
          writers: [
            managed('kubectl', '2026-11-28T09:00:00Z', 'scale'),
            managed('capstan', '2026-11-28T10:00:00Z'),
          ],
        }),
      ),
      'capstan',
    );
  });
});

describe('desiredStateChanged', () => {
  it('follows the generation where there is one, the content otherwise', () => {
    assert.equal(desiredStateChanged(undefined, object('a', {})), true);
    assert.equal(
      desiredStateChanged(object('a', { generation: 2 }), object('a', { generation: 2, ready: true })),
      false,
    );
    assert.equal(desiredStateChanged(object('a', { generation: 2 }), object('a', { generation: 3 })), true);
    // resourceVersion and managedFields are bookkeeping.
    assert.equal(
      desiredStateChanged(object('a', { data: { x: '1' } }), object('a', { data: { x: '1' } })),
      false,
    );
    assert.equal(
      desiredStateChanged(object('a', { data: { x: '1' } }), object('a', { data: { x: '2' } })),
      true,
    );
  });
});

describe('ManagedResources', () => {
  it('watches each kind once per destination, only objects Capstan labelled', () => {
    const { watcher, resources, options } = setUp();
    resources.track({ name: 'in-cluster', watcher }, [configMaps, deployments, configMaps]);
    resources.track({ name: 'edge', watcher }, [configMaps]);
    assert.deepEqual(
      watcher.watches.map((w) => w.type.kind),
      ['ConfigMap', 'Deployment', 'ConfigMap'],
    );
    assert.equal(options.labelSelector, 'capstan.dev/application');
  });

  it('reports changes by others and deletions, not its own writes nor the initial list', () => {
    const { emit, changes } = setUp();
    emit({ type: 'ADDED', object: object('settings', { data: { level: 'info' } }) });
    emit({ type: 'SYNCED', object: object('', {}) });
    assert.equal(changes.length, 0);
    // Capstan's own apply.
    emit({ type: 'MODIFIED', object: object('settings', { data: { level: 'debug' } }) });
    // Someone else's edit.
    emit({
      type: 'MODIFIED',
      object: object('settings', {
        data: { level: 'hacked' },
        writers: [
          managed('capstan', '2026-11-28T10:00:00Z'),
          managed('kubectl-edit', '2026-11-28T10:01:00Z'),
        ],
      }),
    });
    emit({ type: 'DELETED', object: object('settings', { data: { level: 'hacked' } }) });
    assert.deepEqual(
      changes.map((c) => [c.reason, c.owner, c.subject, c.destination]),
      [
        ['changed', 'shop.web', 'ConfigMap/shop/settings', 'in-cluster'],
        ['deleted', 'shop.web', 'ConfigMap/shop/settings', 'in-cluster'],
      ],
    );
  });

  it('reports a change of health once, and answers reads from its cache after the first list', () => {
    const { emit, changes, resources } = setUp();
    emit({ type: 'ADDED', object: object('settings', { ready: false }) });
    assert.equal(
      resources.get('in-cluster', configMaps, 'shop', 'settings'),
      undefined,
      'not before the list',
    );
    emit({ type: 'SYNCED', object: object('', {}) });
    assert.equal(
      (resources.get('in-cluster', configMaps, 'shop', 'settings')?.['status'] as { ready: boolean }).ready,
      false,
    );
    assert.equal(
      resources.get('in-cluster', configMaps, 'shop', 'settings')?.metadata.managedFields,
      undefined,
    );
    emit({ type: 'MODIFIED', object: object('settings', { ready: true }) });
    emit({ type: 'MODIFIED', object: object('settings', { ready: true }) });
    assert.deepEqual(
      changes.map((c) => c.reason),
      ['health'],
    );
    assert.equal(resources.get('in-cluster', configMaps, 'shop', 'other'), undefined);
  });

  it("counts each owner's events, but not those of Capstan's own writes", () => {
    const { emit, resources } = setUp();
    emit({ type: 'SYNCED', object: object('', {}) });
    const withRv = (rv: string, data: Record<string, string>) => {
      const o = object('settings', { data });
      return { ...o, metadata: { ...o.metadata, resourceVersion: rv } };
    };
    assert.equal(resources.covers('in-cluster', [configMaps]), true);
    assert.equal(resources.covers('in-cluster', [configMaps, deployments]), false);
    assert.equal(resources.eventsOf('in-cluster', 'shop.web'), 0);
    // A write whose event arrives before the apply's answer is handled, and one after.
    emit({ type: 'ADDED', object: withRv('10', { a: '1' }) });
    assert.equal(resources.eventsOf('in-cluster', 'shop.web'), 1);
    resources.discount('in-cluster', 'shop.web', ['10', '11']);
    assert.equal(resources.eventsOf('in-cluster', 'shop.web'), 0);
    emit({ type: 'MODIFIED', object: withRv('11', { a: '2' }) });
    assert.equal(resources.eventsOf('in-cluster', 'shop.web'), 0);
    // Anyone else's change counts.
    emit({ type: 'MODIFIED', object: withRv('12', { a: '3' }) });
    assert.equal(resources.eventsOf('in-cluster', 'shop.web'), 1);
    assert.equal(resources.eventsOf('in-cluster', 'other.app'), 0);
  });

  it('a version written while the first list ran counts, and is reported when someone else wrote it', () => {
    const { emit, changes, resources } = setUp();
    const at = (name: string, rv: string, writers?: unknown[]) => {
      const o = object(name, { data: { k: rv }, ...(writers ? { writers } : {}) });
      return { ...o, metadata: { ...o.metadata, resourceVersion: rv } };
    };
    // The sync that started the watch wrote versions 5 and 6 (its applies' answers).
    resources.discount('in-cluster', 'shop.web', ['5', '6']);
    // The list finds 5 as written; 6 edited by someone since (no watch event will tell); 8 is a
    // version Capstan wrote before this agent's syncs.
    emit({ type: 'ADDED', object: at('settings', '5') });
    emit({
      type: 'ADDED',
      object: at('marker', '7', [
        managed('capstan', '2026-11-28T10:00:00Z'),
        managed('kubectl-edit', '2026-11-28T10:00:00Z'),
      ]),
    });
    emit({ type: 'ADDED', object: at('older', '8') });
    emit({ type: 'SYNCED', object: object('', {}) });
    assert.deepEqual(
      changes.map((c) => [c.reason, c.owner, c.subject]),
      [['changed', 'shop.web', 'ConfigMap/shop/marker']],
    );
    assert.equal(resources.eventsOf('in-cluster', 'shop.web'), 2, 'the watches vouch for neither');
    assert.equal(resources.get('in-cluster', configMaps, 'shop', 'marker')?.metadata.resourceVersion, '7');
  });

  it('stops its watches, and tracks nothing until started again', async () => {
    const { watcher, resources, options } = setUp();
    await resources.stop();
    assert.equal(options.signal.aborted, true);
    assert.equal(watcher.watches.length, 0, 'the stopped watch ended');
    resources.track({ name: 'in-cluster', watcher }, [deployments]);
    assert.equal(watcher.watches.length, 0, 'no watch started while stopped');
  });
});
