import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { predictApplied } from '../../../src/core/predicted.ts';
import { redactSecret } from '../../../src/core/diff.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

const object = (spec: unknown, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'a' },
  spec,
  ...extra,
});

describe('predictApplied', () => {
  const cases: { name: string; live: unknown; desired: unknown; expected: unknown }[] = [
    {
      name: 'a field the desired sets replaces the live one; defaults stay',
      live: { replicas: 1, progressDeadlineSeconds: 600 },
      desired: { replicas: 3 },
      expected: { replicas: 3, progressDeadlineSeconds: 600 },
    },
    {
      name: 'lists of named items merge by name, in the desired order',
      live: {
        containers: [
          { name: 'b', image: 'b:1', imagePullPolicy: 'Always' },
          { name: 'a', image: 'a:1' },
        ],
      },
      desired: {
        containers: [
          { name: 'a', image: 'a:2' },
          { name: 'b', image: 'b:1' },
        ],
      },
      expected: {
        containers: [
          { name: 'a', image: 'a:2' },
          { name: 'b', image: 'b:1', imagePullPolicy: 'Always' },
        ],
      },
    },
    {
      name: 'a named item the desired drops is gone; a new one comes as given',
      live: { containers: [{ name: 'old', image: 'o' }] },
      desired: { containers: [{ name: 'new', image: 'n' }] },
      expected: { containers: [{ name: 'new', image: 'n' }] },
    },
    {
      name: 'a container’s ports merge by containerPort: the defaulted protocol stays',
      live: { ports: [{ containerPort: 8080, protocol: 'TCP' }] },
      desired: { ports: [{ containerPort: 8080 }] },
      expected: { ports: [{ containerPort: 8080, protocol: 'TCP' }] },
    },
    {
      name: 'a Service’s ports merge by port (its nodePort and protocol stay)',
      live: {
        ports: [{ port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }],
      },
      desired: { ports: [{ port: 80, targetPort: 8081 }] },
      expected: { ports: [{ port: 80, targetPort: 8081, nodePort: 30080, protocol: 'TCP' }] },
    },
    {
      name: 'a key given twice (the same port over TCP and UDP) is no merge key: the list is replaced',
      live: { ports: [{ containerPort: 53, protocol: 'UDP', hostPort: 53 }] },
      desired: {
        ports: [
          { containerPort: 53, protocol: 'UDP' },
          { containerPort: 53, protocol: 'TCP' },
        ],
      },
      expected: {
        ports: [
          { containerPort: 53, protocol: 'UDP' },
          { containerPort: 53, protocol: 'TCP' },
        ],
      },
    },
    {
      name: 'other lists are replaced whole',
      live: { args: ['--a', '--b'] },
      desired: { args: ['--c'] },
      expected: { args: ['--c'] },
    },
    {
      name: 'a scalar replaces a map and a map a scalar',
      live: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } }, paused: false },
      desired: { strategy: 'Recreate', paused: { yes: true } },
      expected: { strategy: 'Recreate', paused: { yes: true } },
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const predicted = predictApplied(object(c.live, { status: { ready: 1 } }), object(c.desired));
      assert.deepEqual(predicted['spec'], c.expected);
      assert.deepEqual(predicted['status'], { ready: 1 });
    });
});

describe('redactSecret', () => {
  it('hides every value of a Secret and the annotation that copies them, keeps the keys and everything else', () => {
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'db',
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"p":"c2VjcmV0"}}',
          team: 'a',
        },
      },
      type: 'Opaque',
      data: { p: 'c2VjcmV0' },
      stringData: { q: 'secret' },
    };
    assert.deepEqual(redactSecret(secret), {
      ...secret,
      metadata: {
        name: 'db',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '***', team: 'a' },
      },
      data: { p: '***' },
      stringData: { q: '***' },
    });
  });

  it('leaves other kinds as they are', () => {
    const config: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { a: 'b' },
    };
    assert.equal(redactSecret(config), config);
  });
});
