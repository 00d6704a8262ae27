/**
 * The contract every Clock passes (DESIGN.md, "Tests": one contract suite per port, run against the
 * real adapter and any fake): the real clock (src/adapters/clock.ts) and FakeClock (fake-clock.ts), both in
 * the unit tier (test/unit/testing/clock.test.ts): the real one needs nothing but the process's timers.
 * Every assertion is about order (what has ended, what has not), never about how long a wait took.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../ports/clock.ts';
import { settle } from './fake-clock.ts';

export interface ClockHarness {
  readonly clock: Clock;
  /** Lets `ms` of the clock's time pass: the real clock waits, a fake one moves forward. */
  readonly pass: (ms: number) => Promise<void>;
}

export interface ClockContractOptions {
  /** A fresh harness for one test. */
  readonly open: () => ClockHarness;
}

/** A sleep whose end the test can see without waiting for it. */
function watched(sleep: Promise<void>): { readonly ended: () => boolean; readonly done: Promise<void> } {
  let ended = false;
  const done = sleep.then(() => {
    ended = true;
  });
  return { ended: () => ended, done };
}

export function clockContract(name: string, options: ClockContractOptions): void {
  describe(`Clock contract: ${name}`, () => {
    it('tells the time as a Date that never goes back', async () => {
      const { clock, pass } = options.open();
      const before = clock.now();
      assert.ok(before instanceof Date && !Number.isNaN(before.getTime()));
      await pass(5);
      assert.ok(clock.now().getTime() >= before.getTime());
    });

    it('ends a sleep once its time has passed, and not before', async () => {
      const { clock, pass } = options.open();
      const stop = new AbortController();
      const long = watched(clock.sleep(60_000, stop.signal));
      const short = watched(clock.sleep(10));
      await pass(10);
      await short.done;
      await settle();
      assert.equal(long.ended(), false, 'a sleep of a minute is still pending after 10 ms');
      stop.abort();
      await long.done;
    });

    it('ends the shorter of two sleeps first', async () => {
      const { clock, pass } = options.open();
      const order: string[] = [];
      const sleeps = [
        clock.sleep(40).then(() => order.push('long')),
        clock.sleep(10).then(() => order.push('short')),
      ];
      await pass(40);
      await Promise.all(sleeps);
      assert.deepEqual(order, ['short', 'long']);
    });

    it('ends a sleep at once, without an error, when its signal aborts, or was aborted before', async () => {
      const { clock } = options.open();
      const stop = new AbortController();
      const sleep = watched(clock.sleep(60_000, stop.signal));
      await settle();
      assert.equal(sleep.ended(), false);
      stop.abort();
      await sleep.done;
      assert.equal(sleep.ended(), true);
      await clock.sleep(60_000, stop.signal);
    });
  });
}
