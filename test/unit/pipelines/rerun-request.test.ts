import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rerunRequest } from '../../../src/pipelines/rerun-request.ts';

const now = new Date('2026-03-01T12:00:00.000Z');
const revision = 'd'.repeat(40);

describe('rerunRequest', () => {
  it('asks for the same commit on the run’s branch, naming the run it repeats', () => {
    assert.deepEqual(rerunRequest({ id: 'r1', branch: 'main', revision }, 'alice', now), {
      id: `rerun-r1-${String(now.getTime())}`,
      kind: 'rerun',
      ref: 'refs/heads/main',
      revision,
      rerunOf: 'r1',
      by: 'alice',
      at: '2026-03-01T12:00:00.000Z',
    });
  });

  it('names a tag’s ref for a run of a tag, and no ref for a run of neither', () => {
    assert.equal(rerunRequest({ id: 'r2', tag: 'v1.2.0', revision }, 'bob', now).ref, 'refs/tags/v1.2.0');
    assert.equal('ref' in rerunRequest({ id: 'r3', revision }, 'bob', now), false);
  });
});
