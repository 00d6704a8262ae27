import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue } from '../../../src/controller/work-queue.ts';
import { FakeClock, settle } from '../../../src/testing/fake-clock.ts';

/** A promise the test resolves by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('WorkQueue', () => {
  it('de-duplicates: a key added several times is processed once', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.add('a');
    assert.equal(queue.len(), 2);
    assert.equal(queue.depth, 2);
    const seen: string[] = [];
    const running = queue.run((key) => {
      seen.push(key);
      return Promise.resolve();
    });
    await settle();
    assert.deepEqual(seen, ['a', 'b']);
    assert.equal(queue.len(), 0);
    await queue.shutDown();
    await running;
  });

  it('never processes one key twice at once, and re-queues a key added while it is processed', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const first = gate();
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    const running = queue.run(
      async () => {
        calls++;
        active++;
        maxActive = Math.max(maxActive, active);
        if (calls === 1) await first.promise;
        active--;
      },
      { concurrency: 4 },
    );
    queue.add('a');
    await settle();
    assert.equal(queue.processing, 1);
    // Added twice while processing: not handed to a second worker, and queued again only once.
    queue.add('a');
    queue.add('a');
    await settle();
    assert.equal(calls, 1);
    assert.equal(queue.len(), 0, 'a key being processed is not in the ready queue');
    first.open();
    await settle();
    assert.equal(calls, 2, 'processed again after the first run ended');
    assert.equal(maxActive, 1);
    await settle();
    assert.equal(calls, 2, 'and only once more');
    await queue.shutDown();
    await running;
  });

  it('delayed keys wait on one timer, and come in the order of their times', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const delays = Array.from({ length: 1000 }, (_, i) => 1_000 + ((i * 7919) % 1000) * 10);
    delays.forEach((delay, i) => {
      queue.addAfter(`k${String(i)}`, delay);
    });
    assert.equal(queue.delayed, 1000);
    assert.equal(clock.pending, 1, 'one sleep for the earliest, not one per key');
    const seen: string[] = [];
    const running = queue.run((key) => {
      seen.push(key);
      return Promise.resolve();
    });
    await clock.advance(5_990);
    assert.equal(seen.length, 500);
    assert.equal(clock.pending, 1);
    await clock.advance(10_000);
    assert.deepEqual(
      seen.map((key) => delays[Number(key.slice(1))]),
      [...delays].sort((a, b) => a - b),
    );
    assert.equal(queue.delayed, 0);
    assert.equal(clock.pending, 0);
    await queue.shutDown();
    await running;
  });

  it('addAfter queues a key when its time comes; the earliest pending delay wins', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('a', 1_000);
    queue.addAfter('a', 5_000);
    assert.equal(queue.delayed, 1);
    assert.equal(queue.len(), 0);
    await clock.advance(999);
    assert.equal(queue.len(), 0);
    await clock.advance(1);
    assert.equal(queue.len(), 1);
    assert.equal(queue.delayed, 0);
    await clock.advance(10_000);
    assert.equal(queue.len(), 1, 'the later delay was dropped');
    // An earlier delay replaces a later one.
    queue.addAfter('b', 5_000);
    queue.addAfter('b', 1_000);
    await clock.advance(1_000);
    assert.equal(queue.len(), 2);
    assert.equal(clock.pending, 0);
    queue.addAfter('c', 0);
    assert.equal(queue.len(), 3, 'no delay: added at once');
  });

  it('backs off exponentially per key, from 5 s doubling up to 5 min', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const delays = Array.from({ length: 10 }, () => queue.addRateLimited('a'));
    assert.deepEqual(
      delays,
      [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000],
    );
    assert.equal(queue.retries('a'), 10);
    assert.equal(queue.backoffDelay('b'), 5_000, 'each key has its own backoff');
    await clock.advance(4_999);
    assert.equal(queue.len(), 0);
    await clock.advance(1);
    assert.equal(queue.len(), 1, 'queued at the first (earliest) delay');
  });

  it('takes named backoff options', () => {
    const queue = new WorkQueue({ clock: new FakeClock(), baseDelayMs: 100, factor: 3, maxDelayMs: 1_000 });
    assert.deepEqual(
      Array.from({ length: 5 }, () => queue.addRateLimited('a')),
      [100, 300, 900, 1_000, 1_000],
    );
    assert.throws(() => new WorkQueue({ clock: new FakeClock(), baseDelayMs: 0 }), RangeError);
    assert.throws(
      () => new WorkQueue({ clock: new FakeClock(), baseDelayMs: 10, maxDelayMs: 5 }),
      RangeError,
    );
  });

  it('forget resets the backoff of one key', () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.addRateLimited('b');
    assert.equal(queue.backoffDelay('a'), 20_000);
    queue.forget('a');
    assert.equal(queue.retries('a'), 0);
    assert.equal(queue.addRateLimited('a'), 5_000);
    assert.equal(queue.backoffDelay('b'), 10_000, 'other keys keep theirs');
  });

  it('re-queues with backoff a key whose handler throws', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const errors: string[] = [];
    let calls = 0;
    const running = queue.run(
      () => {
        calls++;
        return Promise.reject(new Error(`boom ${calls}`));
      },
      { onError: (key, error) => errors.push(`${key}: ${(error as Error).message}`) },
    );
    queue.add('a');
    await settle();
    assert.deepEqual(errors, ['a: boom 1']);
    assert.equal(queue.retries('a'), 1);
    await clock.advance(4_999);
    assert.equal(calls, 1);
    await clock.advance(1);
    assert.equal(calls, 2);
    assert.equal(queue.backoffDelay('a'), 20_000, 'the second failure doubled the delay');
    await queue.shutDown();
    await running;
  });

  it('bounds concurrency', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const gates = new Map<string, { promise: Promise<void>; open: () => void }>();
    let active = 0;
    let maxActive = 0;
    const done: string[] = [];
    const running = queue.run(
      async (key) => {
        active++;
        maxActive = Math.max(maxActive, active);
        const g = gate();
        gates.set(key, g);
        await g.promise;
        active--;
        done.push(key);
      },
      { concurrency: 3 },
    );
    for (const key of ['a', 'b', 'c', 'd', 'e']) queue.add(key);
    await settle();
    assert.equal(active, 3);
    assert.equal(queue.len(), 2);
    gates.get('b')?.open();
    await settle();
    assert.equal(active, 3, 'a freed worker takes the next key');
    assert.equal(queue.len(), 1);
    for (const key of ['a', 'c', 'd', 'e']) {
      gates.get(key)?.open();
      await settle();
    }
    assert.equal(maxActive, 3);
    assert.deepEqual(done.sort(), ['a', 'b', 'c', 'd', 'e']);
    await queue.shutDown();
    await running;
    assert.throws(() =>
      new WorkQueue({ clock: new FakeClock() }).run(() => Promise.resolve(), { concurrency: 0 }),
    );
  });

  it('shutDown drains: running handlers finish, nothing new starts, and it returns after them', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const slow = gate();
    const started: string[] = [];
    let finished = false;
    let signalAborted = false;
    const running = queue.run(async (key, signal) => {
      started.push(key);
      await slow.promise;
      signalAborted = signal.aborted;
      finished = true;
    });
    queue.add('a');
    queue.add('b');
    queue.addAfter('c', 1_000);
    await settle();
    assert.deepEqual(started, ['a']);
    let shutDownReturned = false;
    const stopping = queue.shutDown().then(() => {
      shutDownReturned = true;
    });
    await settle();
    assert.equal(queue.shuttingDown, true);
    assert.equal(shutDownReturned, false, 'waits for the running handler');
    queue.add('d');
    assert.equal(queue.len(), 0, 'no key is accepted after shutDown');
    slow.open();
    await stopping;
    await running;
    assert.equal(finished, true);
    assert.equal(signalAborted, false, 'a draining handler is not aborted');
    await clock.advance(5_000);
    assert.deepEqual(started, ['a'], 'queued and delayed keys are dropped');
    assert.equal(clock.pending, 0, 'delayed adds are cancelled');
  });

  it('shutDown without drain aborts the running handlers, and still waits for them to return', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    let sawAbort = false;
    const running = queue.run(
      (_key, signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            resolve();
          });
        }),
      { concurrency: 2 },
    );
    queue.add('a');
    await settle();
    await queue.shutDown({ drain: false });
    assert.equal(sawAbort, true);
    await running;
  });

  it('a drain with a time limit aborts the handlers that overrun it', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    let abortedAt: number | undefined;
    const running = queue.run(
      (_key, signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            abortedAt = clock.now().getTime();
            resolve();
          });
        }),
    );
    queue.add('a');
    await settle();
    const stopping = queue.shutDown({ timeoutMs: 10_000 });
    await clock.advance(9_999);
    assert.equal(abortedAt, undefined);
    await clock.advance(1);
    await stopping;
    await running;
    assert.equal(abortedAt, 10_000);
  });

  it('shutDown before run, and run twice', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    await queue.shutDown();
    await queue.run(() => Promise.resolve());
    assert.throws(() => queue.run(() => Promise.resolve()), /already/);
  });
});
