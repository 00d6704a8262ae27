import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureMachineSpeed, speedLines, speedOutliers, workload } from '../../../bench/machine-speed.ts';

describe('machine speed', () => {
  it('does the same work every time and times it in seconds', () => {
    assert.equal(workload(0.05), workload(0.05));
    const seconds = measureMachineSpeed(0.05);
    assert.ok(seconds > 0 && seconds < 60, `${String(seconds)} s`);
  });

  it('names the units more than 15 % away from the first one, slower or faster', () => {
    const speeds = {
      'r1/Capstan/scale': 1.0,
      'r1/Flux/scale': 1.1,
      'r5/Capstan/scale': 1.34,
      'r5/Flux/scale': 0.8,
    };
    assert.deepEqual(
      speedOutliers(speeds).map((o) => [o.id, Math.round(o.change * 100)]),
      [
        ['r5/Capstan/scale', 34],
        ['r5/Flux/scale', -20],
      ],
    );
    const [line] = speedLines({ speeds });
    assert.match(line ?? '', /0\.80–1\.34 s over 4 parts; \*\*against the first part/);
    assert.match(line ?? '', /r5\/Capstan\/scale \+34 %; r5\/Flux\/scale -20 %\.$/);
  });

  it('says only the range when every unit ran at about one speed, and nothing without figures', () => {
    assert.deepEqual(speedLines({ speeds: { a: 1.0, b: 1.12 } }), [
      'Machine speed (bench/machine-speed.ts: seconds of a fixed CPU workload before each part, lower is faster): 1.00–1.12 s over 2 parts.',
    ]);
    assert.deepEqual(speedLines({}), []);
    assert.deepEqual(speedOutliers({}), []);
  });
});
