/**
 * The contract every Watcher passes (DESIGN.md, "Tests": one contract suite per port, run against the
 * real adapter and any fake): KubeWatcher against a real API server (test/integration/watch.test.ts)
 * and ScriptedWatcher in the unit tier (test/unit/testing/scripted-watcher.test.ts). Every "nothing
 * else" is checked after a positive signal: an event that would have come after the one not wanted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../core/resource.ts';
import type { ResourceType } from '../ports/cluster.ts';
import type { WatchEvent, WatchOptions, Watcher } from '../ports/watch.ts';
import { eventually } from './eventually.ts';

export interface WatchHarness {
  readonly watcher: Watcher;
  /** ConfigMaps. */
  readonly type: ResourceType;
  /** Two namespaces of their own, empty. */
  readonly namespaces: readonly [string, string];
  /** Creates or changes an object of `type`. */
  readonly put: (object: KubeObject) => Promise<void>;
  /** Deletes an object of `type`. */
  readonly remove: (namespace: string, name: string) => Promise<void>;
}

export interface WatchContractOptions {
  /** A fresh harness for one test (`after` registers its clean-up). */
  readonly open: (t: {
    after(fn: () => Promise<void>): void;
    readonly name: string;
  }) => Promise<WatchHarness>;
}

/** The label of every object the contract makes: a namespace has objects of its own (kube-root-ca.crt). */
const CONTRACT_LABEL = 'capstan.dev/contract';
const MINE = `${CONTRACT_LABEL}=watch`;

const configMap = (namespace: string, name: string, data: Record<string, string>, labels = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, labels: { [CONTRACT_LABEL]: 'watch', ...labels } },
  data,
});

/** Starts a watch that records its events (of the contract's objects, unless told another selector); `stop` aborts it and resolves when the watch has. */
function recorded(harness: WatchHarness, namespace: string, options: Omit<WatchOptions, 'signal'> = {}) {
  const events: WatchEvent[] = [];
  const controller = new AbortController();
  const done = harness.watcher.watch(harness.type, namespace, (event) => events.push(event), {
    ...options,
    labelSelector: options.labelSelector ?? MINE,
    signal: controller.signal,
  });
  const seen = (type: WatchEvent['type'], name?: string) =>
    events.findIndex((e) => e.type === type && (name === undefined || e.object.metadata.name === name));
  const until = (type: WatchEvent['type'], name?: string) =>
    eventually(() => seen(type, name) >= 0, { what: `${type} ${name ?? ''}`, timeoutMs: 30_000 });
  const stop = async () => {
    controller.abort();
    await done;
  };
  return { events, seen, until, stop };
}

const names = (events: readonly WatchEvent[]) =>
  events.map((e) => `${e.type} ${e.object.metadata.name ?? ''}`);

export function watchContract(name: string, options: WatchContractOptions): void {
  describe(`Watcher contract: ${name}`, () => {
    it('lists what exists first (ADDED each), then SYNCED', async (t) => {
      const harness = await options.open(t);
      const [namespace] = harness.namespaces;
      await harness.put(configMap(namespace, 'a', { n: '1' }));
      await harness.put(configMap(namespace, 'b', { n: '2' }));
      const watch = recorded(harness, namespace);
      t.after(watch.stop);
      await watch.until('SYNCED');
      const listed = watch.events.slice(0, watch.seen('SYNCED'));
      assert.deepEqual(names(listed).sort(), ['ADDED a', 'ADDED b']);
    });

    it('then tells each change of an object in order: ADDED, MODIFIED, DELETED with its last state', async (t) => {
      const harness = await options.open(t);
      const [namespace] = harness.namespaces;
      const watch = recorded(harness, namespace);
      t.after(watch.stop);
      await watch.until('SYNCED');
      await harness.put(configMap(namespace, 'c', { level: 'info' }));
      await watch.until('ADDED', 'c');
      await harness.put(configMap(namespace, 'c', { level: 'debug' }));
      await watch.until('MODIFIED', 'c');
      await harness.remove(namespace, 'c');
      await watch.until('DELETED', 'c');
      const ofC = watch.events.filter((e) => e.object.metadata.name === 'c');
      assert.deepEqual(names(ofC), ['ADDED c', 'MODIFIED c', 'DELETED c']);
      assert.deepEqual(ofC[1]?.object['data'], { level: 'debug' });
      assert.deepEqual(ofC[2]?.object['data'], { level: 'debug' });
    });

    it('tells only of its namespace and of the labels it selects', async (t) => {
      const harness = await options.open(t);
      const [namespace, other] = harness.namespaces;
      const watch = recorded(harness, namespace, { labelSelector: `${MINE},team=web` });
      t.after(watch.stop);
      await watch.until('SYNCED');
      await harness.put(configMap(other, 'elsewhere', {}, { team: 'web' }));
      await harness.put(configMap(namespace, 'no-team', {}));
      await harness.put(configMap(namespace, 'other-team', {}, { team: 'db' }));
      await harness.put(configMap(namespace, 'selected', {}, { team: 'web' }));
      // The positive signal: the last change arrived, so the three before it would have too.
      await watch.until('ADDED', 'selected');
      assert.deepEqual(names(watch.events), ['SYNCED ', 'ADDED selected']);
    });

    it('resolves when its signal aborts, and tells nothing after', async (t) => {
      const harness = await options.open(t);
      const [namespace] = harness.namespaces;
      const first = recorded(harness, namespace);
      await first.until('SYNCED');
      await first.stop();
      const before = first.events.length;
      await harness.put(configMap(namespace, 'late', {}));
      // The positive signal: a watch started afterwards lists the object.
      const second = recorded(harness, namespace);
      t.after(second.stop);
      await second.until('SYNCED');
      assert.deepEqual(names(second.events), ['ADDED late', 'SYNCED ']);
      assert.equal(first.events.length, before, 'the stopped watch told nothing more');
    });
  });
}
