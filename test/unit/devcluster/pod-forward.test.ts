// Where `dev-cluster expose pod/NAME PORT` forwards to (src/devcluster/pod-forward.ts): the pod's own
// address and port, or an error naming the pod. The forwarder itself: test/integration/real-node.node.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podForwarderName, podTarget } from '../../../src/devcluster/pod-forward.ts';
import type { AdminClient } from '../../../src/devcluster/rest.ts';

/** An API server that knows one pod (its answer to GET of that pod's path), 404 for the rest. */
const apiWith = (path: string, pod: unknown): AdminClient => ({
  server: 'https://127.0.0.1:1',
  call: (method, asked) =>
    Promise.resolve(
      method === 'GET' && asked === path ? { status: 200, body: pod } : { status: 404, body: {} },
    ),
});
const running = (over: { node?: string; phase?: string; ip?: string } = {}) => ({
  spec: {
    nodeName: over.node ?? 'real-node-0',
    containers: [{ ports: [{ name: 'metrics', containerPort: 8081 }] }, { ports: [{ containerPort: 9000 }] }],
  },
  status: { phase: over.phase ?? 'Running', podIP: over.ip ?? '10.201.0.7' },
});
const path = '/api/v1/namespaces/ns/pods/web-0';

describe('podTarget', () => {
  it('is the pod’s address and port, given by number or by a container port’s name', async () => {
    const api = apiWith(path, running());
    assert.equal(await podTarget(api, { namespace: 'ns', pod: 'web-0', port: '8080' }), '10.201.0.7:8080');
    assert.equal(await podTarget(api, { namespace: 'ns', pod: 'web-0', port: 'metrics' }), '10.201.0.7:8081');
  });

  it('refuses, naming the pod: one that does not exist, one on a kwok node, one not running, a port it lacks', async () => {
    const target = (pod: unknown, port = '8080', name = 'web-0') =>
      podTarget(apiWith(path, pod), { namespace: 'ns', pod: name, port });
    await assert.rejects(target(running(), '8080', 'other'), /Pod\/ns\/other does not exist/);
    await assert.rejects(
      target(running({ node: 'kwok-node-0' })),
      /Pod\/ns\/web-0 runs on kwok-node-0, not on the real node/,
    );
    await assert.rejects(
      target(running({ phase: 'Pending', ip: '' })),
      /Pod\/ns\/web-0 is Pending and has no address yet/,
    );
    await assert.rejects(target(running(), 'grpc'), /Pod\/ns\/web-0 has no container port named 'grpc'/);
    await assert.rejects(target(running(), '70000'), /no container port named '70000'/);
  });

  it('names one forwarder per pod and port', () => {
    assert.equal(podForwarderName({ namespace: 'ns', pod: 'web-0', port: '8080' }), 'pod-ns-web-0-8080');
  });
});
