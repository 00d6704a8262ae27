// The promotion queue: environments looked at one at a time, a wake during a pass looked at once more
// afterwards (never twice at once), a step that moved followed at once, a gate's clock honoured, gone
// environments skipped, and stop() waiting for the pass under way.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedEnvironment } from '../../../src/contracts/environment.ts';
import { PromotionQueue } from '../../../src/promotions/promotion-queue.ts';

const env = (name: string) => ({ namespace: 'team', name }) as unknown as ResolvedEnvironment;

/** A promise and its resolve. */
function later<T = void>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('the promotion queue', () => {
  it('looks at one environment at a time, and once more after a wake during its pass', async () => {
    const calls: string[] = [];
    let running = 0;
    let most = 0;
    const gate = later();
    const second = later();
    const queue = new PromotionQueue({
      environment: (key) => env(key.split('/')[1] ?? ''),
      reconcile: async (e) => {
        running++;
        most = Math.max(most, running);
        calls.push(e.name);
        if (calls.length === 1) await gate.promise;
        if (calls.length === 3) second.resolve();
        running--;
        return undefined;
      },
    });
    queue.wake('team/dev');
    queue.wake('team/dev');
    queue.wake('team/staging');
    queue.wake('team/staging');
    gate.resolve();
    await second.promise;
    await queue.stop();
    assert.deepEqual(calls, ['dev', 'dev', 'staging']);
    assert.equal(most, 1, 'never two passes at once');
  });

  it('follows a step that moved at once, honours the clock it asks for, and skips a gone environment', async () => {
    const answers: (number | undefined)[] = [0, 0, 5, undefined];
    const calls: string[] = [];
    const done = later();
    const queue = new PromotionQueue({
      environment: (key) => (key === 'team/gone' ? undefined : env('dev')),
      reconcile: () => {
        calls.push('dev');
        const answer = answers.shift();
        if (answers.length === 0) done.resolve();
        return Promise.resolve(answer);
      },
    });
    queue.wake('team/gone');
    queue.wake('team/dev');
    await done.promise;
    await queue.stop();
    assert.equal(calls.length, 4, 'two moves at once, then the clock, then waiting for an event');
    assert.equal(queue.passes, 4);
  });

  it('stops: no pass after, and waits for the one under way', async () => {
    const gate = later();
    const started = later();
    let ended = false;
    const queue = new PromotionQueue({
      environment: () => env('dev'),
      reconcile: async () => {
        started.resolve();
        await gate.promise;
        ended = true;
        return 0;
      },
    });
    queue.wake('team/dev');
    await started.promise;
    const stopping = queue.stop();
    gate.resolve();
    await stopping;
    assert.equal(ended, true);
    queue.wake('team/dev');
    assert.equal(queue.passes, 1, 'nothing after stop');
  });
});
