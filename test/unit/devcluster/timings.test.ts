// dev-cluster up --timings: phases recorded by start (they overlap), a failed phase recorded too, and
// the table a person reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTimings, Timings } from '../../../src/devcluster/timings.ts';

describe('Timings', () => {
  it('records overlapping phases by start, and a phase that fails', async () => {
    const timings = new Timings();
    let release: () => void = () => undefined;
    const slow = timings.time('slow', () => new Promise<void>((resolve) => (release = resolve)));
    await timings.time('quick', () => Promise.resolve(1));
    await assert.rejects(
      timings.time('failing', () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    release();
    await slow;
    assert.deepEqual(
      timings.phases.map((p) => p.phase),
      ['slow', 'quick', 'failing'],
    );
    assert.ok(timings.phases.every((p) => p.durationMs >= 0 && p.startMs >= 0));
  });

  it('formats a table with start, duration and the total', () => {
    const lines = formatTimings(
      [
        { phase: 'etcd healthy', startMs: 2800, durationMs: 1200 },
        { phase: 'kube-apiserver ready', startMs: 4100, durationMs: 11_250 },
      ],
      22_400,
    );
    assert.deepEqual(lines, [
      '   start  duration  phase',
      '   2.8 s     1.2 s  etcd healthy',
      '   4.1 s    11.3 s  kube-apiserver ready',
      '            22.4 s  total',
    ]);
  });
});
