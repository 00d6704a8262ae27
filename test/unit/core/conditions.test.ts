import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregateHealth, setCondition } from '../../../src/core/conditions.ts';

describe('conditions', () => {
  const t1 = new Date('2026-11-28T10:00:00Z');
  const t2 = new Date('2026-11-28T11:00:00Z');

  it('keeps the transition time while the status stays, and moves it when the status changes', () => {
    const first = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'OutOfSync', message: 'a' },
      { now: t1, generation: 3 },
    );
    const same = setCondition(
      first,
      { type: 'Ready', status: 'False', reason: 'Progressing', message: 'b' },
      { now: t2, generation: 4 },
    );
    assert.equal(same[0]?.lastTransitionTime, t1.toISOString());
    assert.equal(same[0].message, 'b');
    assert.equal(same[0].observedGeneration, 4);
    const changed = setCondition(
      same,
      { type: 'Ready', status: 'True', reason: 'Synced', message: '' },
      { now: t2 },
    );
    assert.equal(changed[0]?.lastTransitionTime, t2.toISOString());
  });

  it('keeps one condition per type, sorted', () => {
    let c = setCondition(
      undefined,
      { type: 'Stalled', status: 'False', reason: 'R', message: '' },
      { now: t1 },
    );
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'R', message: '' }, { now: t1 });
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'R', message: '' }, { now: t1 });
    assert.deepEqual(
      c.map((x) => `${x.type}=${x.status}`),
      ['Ready=False', 'Stalled=False'],
    );
  });
});

describe('aggregate health', () => {
  it('is the least healthy resource, naming it', () => {
    assert.deepEqual(aggregateHealth([]), { status: 'Healthy', message: '' });
    assert.deepEqual(
      aggregateHealth([
        { status: 'Healthy', message: '' },
        { status: 'Progressing', message: '1/2 ready', subject: 'Deployment/a/web' },
        { status: 'Degraded', message: 'CrashLoopBackOff', subject: 'Deployment/a/api' },
        { status: 'Degraded', message: 'failed', subject: 'Job/a/migrate' },
      ]),
      { status: 'Degraded', message: 'Deployment/a/api: CrashLoopBackOff (and 1 more Degraded)' },
    );
  });
});
