// The fake ResourceReader of the server's route tests passes the same contract as the server's real
// reader (test/integration/resource-reader.test.ts).
import { randomBytes } from 'node:crypto';
import { describe } from 'node:test';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationOwnerName,
} from '../../../src/contracts/application.ts';
import { encodeInventory, makeInventory } from '../../../src/core/inventory.ts';
import { FakeResourceReader } from '../../../src/testing/fake-resource-reader.ts';
import { resourceReaderContract } from '../../../src/testing/resource-reader-contract.ts';

describe('FakeResourceReader', () => {
  resourceReaderContract('fake', {
    open: () => {
      const reader = new FakeResourceReader();
      const namespace = 'team-a';
      return Promise.resolve({
        reader,
        namespace,
        app: {
          apiVersion: APPLICATION_API_VERSION,
          kind: APPLICATION_KIND,
          metadata: { name: 'web', namespace },
          spec: { source: { repoURL: 'https://git.example.com/team/config.git', path: 'app' } },
        },
        live: (objects) => {
          for (const object of objects) reader.setLive(object);
          return Promise.resolve();
        },
        commit: (objects) => {
          const sha = randomBytes(20).toString('hex');
          reader.setDesired(sha, objects, { target: true });
          return Promise.resolve(sha);
        },
        event: (id, reason) => {
          reader.addEvent(id, { type: 'Normal', reason, message: reason, count: 1 });
          return Promise.resolve();
        },
        inventory: (ids) => {
          const inventory = makeInventory(applicationOwnerName(namespace, 'web'), ids, {
            digest: 'd',
            now: new Date(0),
          });
          reader.setLive({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name: `capstan-inventory-${inventory.application}`,
              namespace: reader.inventoryNamespace,
            },
            data: { inventory: encodeInventory(inventory) },
          });
          return Promise.resolve();
        },
      });
    },
  });
});
