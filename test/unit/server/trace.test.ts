import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  type Application,
} from '../../../src/contracts/application.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import type { RunRecord } from '../../../src/ports/store.ts';
import { traceOf } from '../../../src/server/trace.ts';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const app = {
  apiVersion: APPLICATION_API_VERSION,
  kind: APPLICATION_KIND,
  metadata: { name: 'web', namespace: 'shop' },
  spec: { source: { repoURL: 'https://git.example/config.git', path: '.' } },
  status: {
    history: [
      {
        id: 1,
        revision: '1'.repeat(40),
        startedAt: '2026-03-01T00:00:00Z',
        result: 'Succeeded',
        message: 'web: v1',
      },
      {
        id: 2,
        revision: '2'.repeat(40),
        startedAt: '2026-03-02T00:00:00Z',
        result: 'Succeeded',
        message: 'web: v2',
      },
    ],
  },
} as unknown as Application;

const pod = (
  name: string,
  containers: { name: string; image: string }[],
  imageIDs: Record<string, string> = {},
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop' },
  spec: { containers },
  status: { containerStatuses: Object.entries(imageIDs).map(([n, imageID]) => ({ name: n, imageID })) },
});
const run = (id: string, digest: string): RunRecord => ({
  id,
  namespace: 'shop',
  pipeline: 'build-web',
  project: 'default',
  revision: 'c'.repeat(40),
  branch: 'main',
  trigger: 'push',
  triggeredBy: 'webhook',
  phase: 'Succeeded',
  queuedAt: '2026-03-01T00:00:00Z',
  steps: [],
  images: [{ step: 'image', reference: `registry.example/web@${digest}`, digest, tags: [] }],
});

describe('traceOf', () => {
  it('joins each image its Pods run to the run that recorded its digest, newest sync first', () => {
    const trace = traceOf(
      app,
      [
        pod('web-1', [{ name: 'web', image: `registry.example/web@${A}` }]),
        pod('web-2', [{ name: 'web', image: `registry.example/web@${A}` }]),
        pod('api-1', [{ name: 'api', image: 'registry.example/api:1' }], {
          api: `registry.example/api@${B}`,
        }),
        pod('db-1', [{ name: 'db', image: 'postgres:17' }]),
      ],
      [run('r-2', A), run('r-1', A)],
    );
    assert.equal(trace.application, 'Application/shop/web');
    assert.deepEqual(
      trace.syncs.map((s) => s.message),
      ['web: v2', 'web: v1'],
    );
    assert.deepEqual(trace.images, [
      {
        image: `registry.example/web@${A}`,
        digest: A,
        pods: ['Pod/shop/web-1', 'Pod/shop/web-2'],
        run: {
          id: 'r-2',
          namespace: 'shop',
          pipeline: 'build-web',
          revision: 'c'.repeat(40),
          branch: 'main',
        },
      },
      { image: 'registry.example/api:1', digest: B, pods: ['Pod/shop/api-1'] },
      { image: 'postgres:17', pods: ['Pod/shop/db-1'] },
    ]);
    assert.deepEqual(trace.missing, [
      `registry.example/api:1: no pipeline run you may read recorded the digest ${B.slice(0, 19)}…`,
      'postgres:17: no digest (a tag, and no running container reported one)',
      'which configuration commit wrote each image reference is not recorded (image write-back)',
    ]);
  });

  it('says when no Pod was found', () => {
    assert.match(traceOf(app, [], []).missing[0] ?? '', /no Pod of its workloads was found/);
  });
});
