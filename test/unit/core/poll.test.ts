import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pollUntil, type PollTime } from '../../../src/core/poll.ts';

/** Time that moves only when slept: each try's moment is known. */
function steppedTime(): PollTime & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => new Date(now),
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

describe('pollUntil', () => {
  it('returns the first value that is not false and does not throw', async () => {
    const time = steppedTime();
    const answers: (() => unknown)[] = [
      () => {
        throw new Error('not yet');
      },
      () => false,
      () => 'ready',
    ];
    const polled = await pollUntil(() => answers.shift()?.(), { deadline: 10_000, intervalMs: 100, time });
    assert.deepEqual(polled, { met: true, value: 'ready' });
    assert.deepEqual(time.slept, [100, 100]);
  });

  it('gives up after the try at the deadline, with the last error (none when the probe said false)', async () => {
    const time = steppedTime();
    const failed = await pollUntil(
      () => {
        throw new Error(`at ${time.now().getTime()}`);
      },
      { deadline: 250, intervalMs: 100, time },
    );
    assert.ok(!failed.met);
    assert.equal(failed.last instanceof Error ? failed.last.message : '', 'at 300');
    const falsy = await pollUntil(() => false, { deadline: 0, intervalMs: 100, time: steppedTime() });
    assert.deepEqual(falsy, { met: false, last: undefined });
  });

  it('stops at once on an error stopOn names', async () => {
    const fatal = new Error('the process died');
    await assert.rejects(
      pollUntil(
        () => {
          throw fatal;
        },
        { deadline: 10_000, intervalMs: 100, time: steppedTime(), stopOn: (e) => e === fatal },
      ),
      /the process died/,
    );
  });
});
