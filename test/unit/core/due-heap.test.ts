import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DueHeap } from '../../../src/core/due-heap.ts';

describe('DueHeap', () => {
  it('hands out keys earliest first, only those due', () => {
    const heap = new DueHeap();
    // A fixed shuffle of 500 distinct times.
    const times = Array.from({ length: 500 }, (_, i) => ((i * 7919) % 500) * 10);
    times.forEach((at, i) => heap.set(`k${String(i)}`, at));
    assert.equal(heap.size, 500);
    assert.equal(heap.earliest(), 0);
    const firstHalf = heap.takeDue(2_495);
    assert.equal(firstHalf.length, 250);
    assert.deepEqual(
      firstHalf.map((key) => times[Number(key.slice(1))]),
      [...times].sort((a, b) => a - b).slice(0, 250),
    );
    assert.equal(heap.earliest(), 2_500);
    assert.equal(heap.takeDue(10_000).length, 250);
    assert.equal(heap.size, 0);
    assert.equal(heap.earliest(), undefined);
  });

  it('keeps the earlier of two times for a key, and drops the replaced one', () => {
    const heap = new DueHeap();
    assert.equal(heap.set('a', 500), true);
    assert.equal(heap.set('a', 900), false, 'a later time does not replace an earlier one');
    assert.equal(heap.get('a'), 500);
    assert.equal(heap.set('a', 100), true);
    heap.set('b', 300);
    assert.equal(heap.size, 2);
    assert.deepEqual(heap.takeDue(100), ['a']);
    // a's replaced entry (500) is not handed out again.
    assert.deepEqual(heap.takeDue(1_000), ['b']);
    assert.equal(heap.earliest(), undefined);
    // Due again at a time it had before: handed out once.
    heap.set('a', 200);
    heap.set('a', 150);
    heap.set('a', 200);
    assert.deepEqual(heap.takeDue(1_000), ['a']);
    assert.deepEqual(heap.takeDue(1_000), []);
  });

  it('is empty after clear', () => {
    const heap = new DueHeap();
    heap.set('a', 1);
    heap.set('b', 2);
    heap.clear();
    assert.equal(heap.size, 0);
    assert.deepEqual(heap.takeDue(10), []);
    assert.equal(heap.get('a'), undefined);
  });
});
