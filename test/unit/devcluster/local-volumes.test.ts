// The real node's volume provisioner's plan (src/devcluster/local-volumes.ts): which claims get a
// volume, what the volume is, and which volumes go. The process itself runs on the real node
// (test/integration/real-node.node.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LOCAL_VOLUMES,
  planVolumes,
  type Claim,
  type Volume,
} from '../../../src/devcluster/local-volumes.ts';

const root = '/state/clusters/c/node/volumes';
const claim = (over: {
  uid: string;
  node?: string;
  cls?: string;
  volumeName?: string;
  mode?: string;
}): Claim => ({
  metadata: {
    name: `data-${over.uid}`,
    namespace: 'ns',
    uid: over.uid,
    ...(over.node === undefined ? {} : { annotations: { 'volume.kubernetes.io/selected-node': over.node } }),
  },
  spec: {
    storageClassName: over.cls ?? LOCAL_VOLUMES.storageClass,
    accessModes: ['ReadWriteOnce'],
    resources: { requests: { storage: '2Gi' } },
    ...(over.volumeName === undefined ? {} : { volumeName: over.volumeName }),
    ...(over.mode === undefined ? {} : { volumeMode: over.mode }),
  },
  status: { phase: over.volumeName === undefined ? 'Pending' : 'Bound' },
});
const volume = (name: string, phase: string, path = `${root}/${name}`, ours = true): Volume => ({
  metadata: {
    name,
    ...(ours ? { annotations: { 'pv.kubernetes.io/provisioned-by': LOCAL_VOLUMES.provisioner } } : {}),
  },
  spec: { local: { path }, persistentVolumeReclaimPolicy: 'Delete' },
  status: { phase },
});

describe('planVolumes', () => {
  it('makes a local volume, bound to the claim, on the node the scheduler chose', () => {
    const plan = planVolumes([claim({ uid: 'u1', node: 'real-node' })], [], root);
    assert.deepEqual(plan.remove, []);
    assert.equal(plan.create.length, 1);
    const [made] = plan.create;
    assert.ok(made);
    assert.equal(made.folder, `${root}/pvc-u1`);
    assert.deepEqual(made.volume['spec'], {
      capacity: { storage: '2Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'capstan-local',
      volumeMode: 'Filesystem',
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: 'ns',
        name: 'data-u1',
        uid: 'u1',
      },
      local: { path: `${root}/pvc-u1` },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['real-node'] }] },
          ],
        },
      },
    });
  });

  it('leaves alone a claim without a node yet, of another class, bound, or whose volume exists', () => {
    const plan = planVolumes(
      [
        claim({ uid: 'a' }),
        claim({ uid: 'b', node: 'n', cls: 'other' }),
        claim({ uid: 'c', node: 'n', volumeName: 'pv-c' }),
        claim({ uid: 'd', node: 'n' }),
      ],
      [volume('pvc-d', 'Available')],
      root,
    );
    assert.deepEqual(plan, { create: [], remove: [], refused: [] });
  });

  it('refuses a block volume, naming the claim', () => {
    const plan = planVolumes([claim({ uid: 'b', node: 'n', mode: 'Block' })], [], root);
    assert.deepEqual(plan.create, []);
    assert.deepEqual(plan.refused, ['PersistentVolumeClaim/ns/data-b: volumeMode Block (only Filesystem)']);
  });

  it('removes its released volumes only: never another provisioner’s, nor a path outside its folder', () => {
    const plan = planVolumes(
      [],
      [
        volume('pvc-1', 'Released'),
        volume('pvc-2', 'Bound'),
        volume('pvc-3', 'Released', '/elsewhere/pvc-3'),
        volume('pvc-4', 'Released', `${root}/pvc-4`, false),
      ],
      root,
    );
    assert.deepEqual(plan.remove, [{ name: 'pvc-1', folder: `${root}/pvc-1` }]);
  });
});
