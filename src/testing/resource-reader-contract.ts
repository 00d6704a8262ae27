/**
 * The contract every ResourceReader passes (DESIGN.md, "Tests": one contract suite per port, run
 * against the real adapter and any fake). The fake (fake-resource-reader.ts) runs it in the unit tier;
 * the server's reader (src/adapters/kube/resource-reader.ts, wired in src/main/server-resources.ts)
 * against a real API server and a real git server (test/integration/resource-reader.test.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CapstanError } from '../core/errors.ts';
import type { KubeObject, ResourceId } from '../core/resource.ts';
import type { Application } from '../contracts/application.ts';
import type { ResourceReader } from '../ports/resource-reader.ts';

export interface ResourceReaderHarness {
  readonly reader: ResourceReader;
  /** An Application deploying into `namespace` (in-cluster) from a repository of its own, branch main. */
  readonly app: Application;
  /** Its destination namespace, empty at first. */
  readonly namespace: string;
  /** Makes these objects exist on the destination. */
  live(objects: readonly KubeObject[]): Promise<void>;
  /** A new commit of the Application's source whose folder holds exactly these objects; its SHA. */
  commit(objects: readonly KubeObject[]): Promise<string>;
  /** An Event about the object. */
  event(id: ResourceId, reason: string): Promise<void>;
  /** The agent's inventory of the Application now holds these (where its agent keeps it). */
  inventory(ids: readonly ResourceId[]): Promise<void>;
}

export interface ResourceReaderContractOptions {
  readonly open: (t: {
    after(fn: () => Promise<void>): void;
    readonly name: string;
  }) => Promise<ResourceReaderHarness>;
}

const configMap = (name: string, data: Record<string, string>, namespace?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
  data,
});

export function resourceReaderContract(name: string, options: ResourceReaderContractOptions): void {
  it(`${name}: live reads the object on the destination, undefined when absent or of an unknown kind`, async (t) => {
    const h = await options.open(t);
    await h.live([configMap('settings', { level: '1' }, h.namespace)]);
    const id = { group: '', kind: 'ConfigMap', namespace: h.namespace, name: 'settings' };
    const found = await h.reader.live(h.app, id);
    assert.ok(found, 'the live object');
    assert.deepEqual(found['data'], { level: '1' });
    assert.equal(found.metadata.namespace, h.namespace);
    assert.equal(await h.reader.live(h.app, { ...id, name: 'missing' }), undefined);
    assert.equal(
      await h.reader.live(h.app, { ...id, group: 'nope.example.com', kind: 'Nothing' }),
      undefined,
    );
  });

  it(`${name}: desired renders the commit asked for, or the target revision resolved now`, async (t) => {
    const h = await options.open(t);
    const first = await h.commit([configMap('settings', { level: '1' })]);
    const second = await h.commit([configMap('settings', { level: '2' }), configMap('extra', { a: 'b' })]);
    const atFirst = await h.reader.desired(h.app, first);
    assert.equal(atFirst.revision, first);
    assert.deepEqual(
      atFirst.objects.map((o) => [o.metadata.name, o['data']]),
      [['settings', { level: '1' }]],
    );
    const atTarget = await h.reader.desired(h.app, undefined);
    assert.equal(atTarget.revision, second);
    assert.deepEqual(atTarget.objects.map((o) => o.metadata.name).sort(), ['extra', 'settings']);
  });

  it(`${name}: desired at a commit the repository does not have rejects with a stable code`, async (t) => {
    const h = await options.open(t);
    await h.commit([configMap('settings', { level: '1' })]);
    await assert.rejects(h.reader.desired(h.app, 'f'.repeat(40)), (error: unknown) => {
      assert.ok(error instanceof CapstanError, String(error));
      assert.match(error.code, /^SOURCE_/);
      return true;
    });
  });

  it(`${name}: inventory reads the entries the agent keeps for the Application, none before it has any`, async (t) => {
    const h = await options.open(t);
    assert.deepEqual(await h.reader.inventory(h.app), []);
    const ids = [
      { group: '', kind: 'ConfigMap', namespace: h.namespace, name: 'settings' },
      { group: 'apps', kind: 'Deployment', namespace: h.namespace, name: 'web' },
    ];
    await h.inventory(ids);
    assert.deepEqual(
      [...(await h.reader.inventory(h.app))].sort((a, b) => a.kind.localeCompare(b.kind)),
      ids,
    );
  });

  it(`${name}: events lists the Events about that object only`, async (t) => {
    const h = await options.open(t);
    await h.live([configMap('a', {}, h.namespace), configMap('b', {}, h.namespace)]);
    const a = { group: '', kind: 'ConfigMap', namespace: h.namespace, name: 'a' };
    await h.event(a, 'Checked');
    await h.event({ ...a, name: 'b' }, 'Other');
    const events = await h.reader.events(h.app, a);
    assert.deepEqual(
      events.map((e) => e.reason),
      ['Checked'],
    );
    assert.deepEqual(await h.reader.events(h.app, { ...a, name: 'none' }), []);
  });
}
