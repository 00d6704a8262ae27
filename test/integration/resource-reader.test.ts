// The server's ResourceReader (src/adapters/kube/resource-reader.ts, as src/main/server-resources.ts
// wires it) passes the same contract as the fake of the route tests: live objects from a real API
// server, desired state from a real git server (with the Application's git credentials Secret), Events
// from the API server.
import { after, before, describe } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { RestClient } from '../../src/adapters/kube/rest-client.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationOwnerName,
} from '../../src/contracts/application.ts';
import { makeInventory } from '../../src/core/inventory.ts';
import { serverResourceReader } from '../../src/main/server-resources.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { resourceReaderContract } from '../../src/testing/resource-reader-contract.ts';

const git = await startGitServer(after);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-reader-'));
let admin: KubeCluster;
let watchClient: RestClient;
let kube: KubeClients;

before(async () => {
  const cluster = await testCluster();
  const config = loadKubeConfig({ kubeconfig: cluster.adminKubeconfig });
  admin = new KubeCluster(config);
  watchClient = new RestClient(config);
  kube = kubeClients(cluster.adminKubeconfig);
});

after(async () => {
  admin.close();
  watchClient.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('the server’s ResourceReader', () => {
  resourceReaderContract('server', {
    open: async (t) => {
      const namespace = await freshNamespace(t, kube);
      const repo = `reader-${namespace}`;
      await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
      const { reader, close } = serverResourceReader({
        cluster: admin,
        watchClient,
        namespace,
        // The agent's inventories beside it, not in capstan-system (as the install runs it in its namespace).
        inventoryNamespace: namespace,
        repositoryHosts: ['127.0.0.1'],
        cacheDir: join(scratch, namespace),
      });
      t.after(() => {
        close();
        return Promise.resolve();
      });
      let created = false;
      let previous: string[] = [];
      return {
        reader,
        namespace,
        app: {
          apiVersion: APPLICATION_API_VERSION,
          kind: APPLICATION_KIND,
          metadata: { name: 'web', namespace },
          spec: {
            source: {
              repoURL: git.url(repo),
              path: 'app',
              targetRevision: 'main',
              secretRef: { name: 'git' },
              insecureHttp: true,
            },
          },
        },
        live: async (objects) => {
          for (const object of objects) {
            const type = await admin.resourceType(object.apiVersion, object.kind);
            if (!type) throw new Error(`no type ${object.kind}`);
            await admin.apply(type, object, { fieldManager: 'capstan-test' });
          }
        },
        commit: async (objects) => {
          const files: Record<string, string | null> = Object.fromEntries(
            previous.map((path) => [path, null]),
          );
          for (const object of objects) files[`app/${object.metadata.name ?? ''}.yaml`] = stringify(object);
          previous = objects.map((o) => `app/${o.metadata.name ?? ''}.yaml`);
          if (created) return git.commit(repo, { files });
          created = true;
          return git.createRepository(repo, { files });
        },
        inventory: async (ids) => {
          const owner = applicationOwnerName(namespace, 'web');
          await new ConfigMapInventoryStore(admin, namespace).write(
            makeInventory(owner, ids, { digest: 'd', now: new Date() }),
          );
        },
        event: async (id, reason) => {
          await kube.core.createNamespacedEvent({
            namespace: id.namespace,
            body: {
              metadata: { generateName: `${id.name}.`, namespace: id.namespace },
              involvedObject: { apiVersion: 'v1', kind: id.kind, name: id.name, namespace: id.namespace },
              reason,
              message: reason,
              type: 'Normal',
              count: 1,
              firstTimestamp: new Date(),
              lastTimestamp: new Date(),
            },
          });
        },
      };
    },
  });
});
