// The Clock port's contract, run against the real clock (the process's timers) and FakeClock; and what
// FakeClock adds for the tests that use it: it starts where it is told and counts its pending sleeps.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { systemClock } from '../../../src/adapters/clock.ts';
import { clockContract } from '../../../src/testing/clock-contract.ts';
import { FakeClock } from '../../../src/testing/fake-clock.ts';

clockContract('the real clock', {
  open: () => ({ clock: systemClock, pass: (ms) => delay(ms) }),
});

clockContract('FakeClock', {
  open: () => {
    const clock = new FakeClock();
    return { clock, pass: (ms) => clock.advance(ms) };
  },
});

describe('FakeClock', () => {
  it('starts at the time given and moves only when advanced', async () => {
    const clock = new FakeClock(new Date('2026-01-02T03:04:05Z'));
    assert.equal(clock.now().toISOString(), '2026-01-02T03:04:05.000Z');
    await clock.advance(1_500);
    assert.equal(clock.now().toISOString(), '2026-01-02T03:04:06.500Z');
  });

  it('counts the sleeps not yet ended, and forgets an aborted one', async () => {
    const clock = new FakeClock();
    const stop = new AbortController();
    const sleeps = [clock.sleep(100), clock.sleep(200, stop.signal)];
    assert.equal(clock.pending, 2);
    stop.abort();
    assert.equal(clock.pending, 1);
    await clock.advance(100);
    assert.equal(clock.pending, 0);
    await Promise.all(sleeps);
  });
});
