// Pipeline cache keys, claims and commands (src/core/pipeline-cache.ts), and where they go in the run
// Pod (src/core/run-pod.ts): restored by the checkout, saved by the last container, on the Pipeline's claim.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cacheClaimManifest,
  cacheClaimName,
  cacheFlags,
  cacheKey,
  cacheSaveArgs,
  keyFileDigest,
} from '../../../src/core/pipeline-cache.ts';
import { runPodManifest, type RunPodInput } from '../../../src/core/run-pod.ts';
import { runPodState, type RunPodView } from '../../../src/core/run-steps.ts';

const owner = { project: 'team-a', namespace: 'team-a', pipeline: 'web' };
const npm = { name: 'npm', key: 'package-lock.json', paths: ['node_modules', '.npm'] };
const lock = keyFileDigest(Buffer.from('{"lockfileVersion":3}\n'));

describe('cache keys', () => {
  it('the same lockfile, Pipeline and cache give the same key; any other part changes it', () => {
    const key = cacheKey(owner, npm, lock);
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(cacheKey({ ...owner }, { ...npm }, lock), key);
    const others = [
      cacheKey(owner, npm, keyFileDigest(Buffer.from('{"lockfileVersion":3} \n'))),
      cacheKey({ ...owner, project: 'team-b' }, npm, lock),
      cacheKey({ ...owner, namespace: 'team-b' }, npm, lock),
      cacheKey({ ...owner, pipeline: 'api' }, npm, lock),
      cacheKey(owner, { ...npm, name: 'yarn' }, lock),
      cacheKey(owner, { ...npm, key: 'app/package-lock.json' }, lock),
    ];
    assert.equal(new Set([key, ...others]).size, others.length + 1);
  });

  it('fields cannot run into each other (a JSON list, not a concatenation)', () => {
    assert.notEqual(
      cacheKey({ project: 'a-b', namespace: 'c', pipeline: 'd' }, npm, lock),
      cacheKey({ project: 'a', namespace: 'b-c', pipeline: 'd' }, npm, lock),
    );
  });

  it("the claim is the Pipeline's own, named after it within 63 characters", () => {
    assert.equal(cacheClaimName('web'), 'capstan-cache-web');
    assert.equal(cacheClaimName('a'.repeat(60)).length, 63);
    assert.doesNotMatch(cacheClaimName(`${'a'.repeat(48)}-b`), /-$/);
    assert.deepEqual(cacheClaimManifest('team-a', 'web'), {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'capstan-cache-web',
        namespace: 'team-a',
        labels: { 'capstan.dev/pipeline-cache': 'web' },
      },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
    });
  });
});

describe('cache commands', () => {
  it('restore and save name the volume, the owner and the caches as JSON arguments, never a shell line', () => {
    const hostile = { name: 'npm', key: "lock'; rm -rf /", paths: ['$(reboot)'] };
    const flags = cacheFlags(owner, [hostile]);
    assert.deepEqual(flags, [
      '--cache-dir',
      '/cache',
      '--cache-owner',
      JSON.stringify(owner),
      '--caches',
      JSON.stringify([hostile]),
    ]);
    assert.deepEqual(cacheSaveArgs(owner, [npm], '/workspace'), [
      'pipeline',
      'cache',
      'save',
      '--workspace',
      '/workspace',
      ...cacheFlags(owner, [npm]),
    ]);
  });
});

const base: RunPodInput = {
  namespace: 'team-a',
  pipeline: 'web',
  runId: 'r1',
  repoURL: 'https://git.example.com/web.git',
  revision: 'a'.repeat(40),
  capstanImage: 'capstan@sha256:' + 'b'.repeat(64),
  steps: [
    { name: 'install', image: 'node:24', commands: ['npm ci'] },
    { name: 'test', image: 'node:24', commands: ['npm test'] },
  ],
  timeoutSeconds: 600,
  serviceAccountName: 'builder',
};

interface PodShape {
  spec: {
    securityContext?: { fsGroup?: number };
    volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[];
    initContainers: { name: string; image?: string; args?: string[]; volumeMounts: { name: string }[] }[];
    containers: { name: string; image?: string; args?: string[]; volumeMounts: { name: string }[] }[];
  };
}

describe('caches in the run Pod', () => {
  it('without caches: no claim, no save container, no fsGroup', () => {
    const pod = runPodManifest(base) as unknown as PodShape;
    assert.equal(pod.spec.containers[0]?.name, 'test');
    assert.ok(pod.spec.volumes.every((v) => v.persistentVolumeClaim === undefined));
    assert.equal(pod.spec.securityContext, undefined);
    assert.ok(!(pod.spec.initContainers[0]?.args ?? []).includes('--caches'));
  });

  it("with caches: the checkout restores from the Pipeline's claim, the last container saves, steps do not see the volume", () => {
    const pod = runPodManifest({ ...base, caches: { owner, definitions: [npm] } }) as unknown as PodShape;
    assert.deepEqual(
      pod.spec.volumes.find((v) => v.name === 'cache'),
      { name: 'cache', persistentVolumeClaim: { claimName: 'capstan-cache-web' } },
    );
    assert.deepEqual(pod.spec.securityContext, { fsGroup: 10001 });
    const [checkout, install, test] = pod.spec.initContainers;
    assert.equal(checkout?.name, 'checkout');
    assert.deepEqual(checkout.args?.slice(-6), cacheFlags(owner, [npm]));
    assert.ok(checkout.volumeMounts.some((m) => m.name === 'cache'));
    for (const step of [install, test]) assert.ok(step?.volumeMounts.every((m) => m.name !== 'cache'));
    const [save] = pod.spec.containers;
    assert.equal(save?.name, 'capstan');
    assert.equal(save.image, base.capstanImage);
    assert.deepEqual(save.args, cacheSaveArgs(owner, [npm], '/workspace'));
    // The save is the Pod's last container: the kubelet starts it only when every step succeeded, and
    // the run's steps read from the Pod list it after them.
    const state = runPodState(
      runPodManifest({ ...base, caches: { owner, definitions: [npm] } }) as RunPodView,
    );
    assert.deepEqual(
      state.steps.map((s) => s.name),
      ['checkout', 'install', 'test', 'capstan'],
    );
  });
});
