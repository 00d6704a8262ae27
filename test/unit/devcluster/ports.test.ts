import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import {
  assertPortFree,
  BLOCKED_PORTS,
  ephemeralRange,
  freePort,
  freePorts,
  portChoices,
} from '../../../src/devcluster/ports.ts';

describe('loopback ports', () => {
  it('finds distinct free ports', async () => {
    const ports = await freePorts(5);
    assert.equal(new Set(ports).size, 5);
    for (const p of ports) await assertPortFree(p, 'test');
  });

  it("chooses outside the kernel's ephemeral range, which any outgoing connection may take", async () => {
    assert.deepEqual(ephemeralRange('32768\t60999\n'), { low: 32768, high: 60999 });
    assert.deepEqual(ephemeralRange(undefined), { low: 32768, high: 60999 });
    assert.deepEqual(ephemeralRange('nonsense'), { low: 32768, high: 60999 });
    assert.deepEqual(portChoices({ low: 32768, high: 60999 }), { low: 10_000, high: 32767 });
    // A range that starts low leaves the ports above it.
    assert.deepEqual(portChoices({ low: 1024, high: 40000 }), { low: 40001, high: 65535 });
    const range = ephemeralRange();
    for (const port of await freePorts(20))
      assert.ok(port < range.low || port > range.high, `${port} is outside ${range.low}-${range.high}`);
  });

  it('never chooses a port that browsers and fetch() refuse (10080, inside its range)', async () => {
    const { low, high } = portChoices();
    assert.ok(low <= 10080 && 10080 <= high, 'the range holds 10080');
    await assert.rejects(fetch('http://127.0.0.1:10080/'), (error: Error) => {
      assert.match(String((error.cause as Error | undefined)?.message), /bad port/, 'fetch refuses it');
      return true;
    });
    // The first choice falls on 10080, the next anywhere else.
    const choices = [(10080 - low + 0.5) / (high - low + 1), 0.5];
    const port = await freePort(() => choices.shift() ?? Math.random());
    assert.notEqual(port, 10080);
    assert.equal(BLOCKED_PORTS.has(port), false);
    assert.equal(choices.length, 0, 'the blocked port was passed over');
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
