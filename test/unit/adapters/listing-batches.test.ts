import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ListingBatches,
  MAX_PATHS_PER_LISTING,
  type ContentIds,
} from '../../../src/adapters/git/listing-batches.ts';

/** A listing held until released: records which paths each run listed. */
function heldLister() {
  const runs: string[][] = [];
  const releases: (() => void)[] = [];
  const list = (paths: readonly string[]): Promise<ContentIds> => {
    runs.push([...paths]);
    return new Promise((resolve) => {
      releases.push(() => {
        resolve(new Map(paths.map((p) => [p, `tree:${p}`])));
      });
    });
  };
  /** Releases the oldest run still held, once it has started. */
  const releaseNext = async () => {
    while (releases.length === 0) await new Promise((r) => setImmediate(r));
    releases.shift()?.();
  };
  return { runs, list, releaseNext };
}

describe('ListingBatches', () => {
  it('lists together the paths asked for while a listing of the same commit runs', async () => {
    const batches = new ListingBatches();
    const lister = heldLister();
    const first = batches.request('repo@a', ['apps/1'], lister.list);
    await new Promise((r) => setImmediate(r));
    // While the first listing runs, three more applications ask (one path twice).
    const waiting = [
      batches.request('repo@a', ['apps/2'], lister.list),
      batches.request('repo@a', ['apps/3', 'apps/2'], lister.list),
      batches.request('repo@a', ['apps/4'], lister.list),
    ];
    await lister.releaseNext();
    assert.equal((await first).get('apps/1'), 'tree:apps/1');
    await lister.releaseNext();
    const answers = await Promise.all(waiting);
    assert.deepEqual(lister.runs, [['apps/1'], ['apps/2', 'apps/3', 'apps/4']]);
    assert.equal(answers[1]?.get('apps/3'), 'tree:apps/3');
    assert.equal(answers[2]?.get('apps/4'), 'tree:apps/4');
  });

  it('keeps commits apart, and starts afresh once a commit has nothing queued', async () => {
    const batches = new ListingBatches();
    const lister = heldLister();
    const a = batches.request('repo@a', ['x'], lister.list);
    const b = batches.request('repo@b', ['x'], lister.list);
    await lister.releaseNext();
    await lister.releaseNext();
    await Promise.all([a, b]);
    assert.deepEqual(lister.runs, [['x'], ['x']]);
    await new Promise((r) => setImmediate(r));
    const later = batches.request('repo@a', ['y'], lister.list);
    await lister.releaseNext();
    assert.equal((await later).get('y'), 'tree:y');
    assert.deepEqual(lister.runs, [['x'], ['x'], ['y']]);
  });

  it('a failed listing fails the requests of its batch only', async () => {
    const batches = new ListingBatches();
    let calls = 0;
    const list = (paths: readonly string[]): Promise<ContentIds> => {
      calls++;
      return calls === 1
        ? Promise.reject(new Error('git failed'))
        : Promise.resolve(new Map(paths.map((p) => [p, `id:${p}`])));
    };
    await assert.rejects(batches.request('repo@a', ['p'], list), /git failed/);
    assert.equal((await batches.request('repo@a', ['p'], list)).get('p'), 'id:p');
  });

  it('opens another batch past the paths one listing may hold', async () => {
    const batches = new ListingBatches();
    const lister = heldLister();
    const first = batches.request('repo@a', ['first'], lister.list);
    await new Promise((r) => setImmediate(r));
    const many = Array.from(
      { length: MAX_PATHS_PER_LISTING },
      (_, i) => `apps/${String(i).padStart(4, '0')}`,
    );
    const big = batches.request('repo@a', many, lister.list);
    const small = batches.request('repo@a', ['last'], lister.list);
    for (let i = 0; i < 3; i++) await lister.releaseNext();
    await Promise.all([first, big, small]);
    assert.deepEqual(
      lister.runs.map((r) => r.length),
      [1, MAX_PATHS_PER_LISTING, 1],
    );
  });
});
