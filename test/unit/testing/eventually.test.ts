import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '../../../src/testing/eventually.ts';

describe('eventually', () => {
  it('returns the first value that is not false and does not throw', async () => {
    let calls = 0;
    const value = await eventually(
      () => {
        calls += 1;
        if (calls < 3) throw new Error('not yet');
        return calls === 3 ? false : 'done';
      },
      { intervalMs: 1 },
    );
    assert.equal(value, 'done');
    assert.equal(calls, 4);
  });

  it('fails after the limit with what was awaited and the last reason', async () => {
    await assert.rejects(
      eventually(
        () => {
          throw new Error('replicas 0/1');
        },
        { timeoutMs: 50, intervalMs: 5, what: 'Deployment/web/api available' },
      ),
      /Deployment\/web\/api available not met after 50 ms: replicas 0\/1/,
    );
  });
});
