// The dev cluster's volume provisioner's plan (src/devcluster/local-volumes.ts): which claims get a
// volume, what the volume is, and which volumes go; and its passes, one at a time. The process itself
// runs with every dev cluster (test/integration/local-volumes.test.ts on kwok nodes,
// test/integration/real-node.node.test.ts on the real node).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LOCAL_VOLUMES,
  PassQueue,
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
    const plan = planVolumes([claim({ uid: 'u1', node: 'real-node' })], [], root, new Set(['real-node']));
    assert.deepEqual(plan.remove, []);
    assert.equal(plan.create.length, 1);
    const [made] = plan.create;
    assert.ok(made);
    assert.equal(made.folder, `${root}/pvc-u1`);
    assert.equal(made.makeFolder, true);
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

  it('makes the volume of a kwok node without a folder (nothing runs there to use one)', () => {
    const plan = planVolumes([claim({ uid: 'k', node: 'kwok-node-0' })], [], root, new Set(['real-node']));
    const [made] = plan.create;
    assert.ok(made);
    assert.equal(made.makeFolder, false);
    // The object is the same as on the real node: the path it would have, that node as its affinity.
    const spec = made.volume['spec'] as { local: { path: string }; nodeAffinity: unknown };
    assert.equal(spec.local.path, `${root}/pvc-k`);
    assert.match(JSON.stringify(spec.nodeAffinity), /"values":\["kwok-node-0"\]/);
  });
});

describe('PassQueue', () => {
  it('runs one pass at a time, and one more for any number of triggers during a pass', async () => {
    const started: number[] = [];
    let release: () => void = () => undefined;
    let running = 0;
    let most = 0;
    const queue = new PassQueue(async () => {
      running += 1;
      most = Math.max(most, running);
      started.push(started.length + 1);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      running -= 1;
    });
    const first = queue.trigger();
    // Three changes seen while the first pass lists: one pass after it covers them all.
    const during = [queue.trigger(), queue.trigger(), queue.trigger()];
    assert.equal(started.length, 1);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(started.length, 2, 'one more pass');
    release();
    await Promise.all([first, ...during]);
    assert.equal(started.length, 2);
    assert.equal(most, 1, 'never two passes at once');
    // Idle again: the next trigger starts a pass at once.
    const later = queue.trigger();
    assert.equal(started.length, 3);
    release();
    await later;
  });
});
