// The fake Cluster of the unit tests passes the same contract as KubeCluster on a real API server
// (test/integration/cluster-port.test.ts).
import { describe } from 'node:test';
import { clusterContract } from '../../../src/testing/cluster-contract.ts';
import { FakeCluster } from '../../../src/testing/fake-cluster.ts';

describe('FakeCluster', () => {
  clusterContract('fake', {
    open: async () => {
      const cluster = new FakeCluster();
      const namespaces = await cluster.resourceType('v1', 'Namespace');
      if (namespaces === undefined) throw new Error('the fake serves Namespaces');
      await cluster.apply(
        namespaces,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } },
        { fieldManager: 'capstan-test' },
      );
      return { cluster, namespace: 'team-a' };
    },
  });
});
