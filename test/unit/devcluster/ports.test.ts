import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { assertPortFree, freePort, freePorts } from '../../../src/devcluster/ports.ts';

describe('loopback ports', () => {
  it('finds distinct free ports', async () => {
    const ports = await freePorts(5);
    assert.equal(new Set(ports).size, 5);
    for (const p of ports) await assertPortFree(p, 'test');
  });

  it('says clearly which port is taken and for what', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      await assert.rejects(assertPortFree(port, 'kube-apiserver'), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'DEVCLUSTER_PORT_IN_USE');
        assert.match(
          error.message,
          new RegExp(`port ${port} on 127.0.0.1 for kube-apiserver is already in use`),
        );
        return true;
      });
    } finally {
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }
  });
});
