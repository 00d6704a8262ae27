// The real watch (KubeWatcher) passes the Watcher contract against a real API server, as the scripted
// one of the unit tests does (test/unit/testing/scripted-watcher.test.ts). Its recovery from faults is
// in watch.fault.test.ts.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { RestClient } from '../../src/adapters/kube/rest-client.ts';
import { KubeWatcher } from '../../src/adapters/kube/watch.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { watchContract } from '../../src/testing/watch-contract.ts';

let kube: KubeClients;
let admin: KubeCluster;
let client: RestClient;
let configMaps: ResourceType;

before(async () => {
  const cluster = await testCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  const config = loadKubeConfig({ kubeconfig: cluster.adminKubeconfig });
  admin = new KubeCluster(config);
  client = new RestClient(config, { timeoutMs: 10_000 });
  const type = await admin.resourceType('v1', 'ConfigMap');
  assert.ok(type);
  configMaps = type;
});

after(() => {
  client.close();
  admin.close();
});

watchContract('KubeWatcher against a real API server', {
  open: async (t) => {
    const namespaces = [await freshNamespace(t, kube), await freshNamespace(t, kube)] as const;
    return {
      watcher: new KubeWatcher(client),
      type: configMaps,
      namespaces,
      put: async (object) => {
        await admin.apply(configMaps, object, { fieldManager: 'capstan-contract', force: true });
      },
      remove: async (namespace, name) => {
        await admin.delete(configMaps, namespace, name);
      },
    };
  },
});
