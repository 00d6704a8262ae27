// ScriptedWatcher, the watch of the agent's unit tests, passes the same contract as the real watch
// against an API server (test/integration/watch.test.ts); by hand, it leaves every event to the test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResourceType } from '../../../src/ports/cluster.ts';
import type { WatchEvent } from '../../../src/ports/watch.ts';
import { ScriptedWatcher } from '../../../src/testing/scripted-watcher.ts';
import { watchContract } from '../../../src/testing/watch-contract.ts';

const configMaps: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};

watchContract('ScriptedWatcher', {
  open: () => {
    const watcher = new ScriptedWatcher();
    return Promise.resolve({
      watcher,
      type: configMaps,
      namespaces: ['team-a', 'team-b'] as const,
      put: (object) => {
        watcher.put(configMaps, object);
        return Promise.resolve();
      },
      remove: (namespace, name) => {
        watcher.remove(configMaps, namespace, name);
        return Promise.resolve();
      },
    });
  },
});

describe('ScriptedWatcher by hand', () => {
  it('sends nothing by itself, and hands the test each watch with its handler and options', async () => {
    const watcher = new ScriptedWatcher({ list: 'by-hand' });
    watcher.put(configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'x' } });
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const done = watcher.watch(configMaps, 'x', (e) => events.push(e), { signal: stop.signal });
    assert.equal(watcher.watches.length, 1);
    assert.equal(watcher.watches[0]?.namespace, 'x');
    watcher.put(configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'x' } });
    assert.deepEqual(events, []);
    stop.abort();
    await done;
    assert.equal(watcher.watches.length, 0);
  });
});
