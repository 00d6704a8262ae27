import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantile, summarise } from '../../../bench/stats.ts';
import { generateObjects } from '../../../bench/sync-500.ts';

describe('benchmark statistics', () => {
  it('gives median, p99, min and max of unsorted samples', () => {
    const s = summarise([5, 1, 3, 2, 4]);
    assert.deepEqual(s, { runs: 5, median: 3, p99: 4.96, min: 1, max: 5 });
  });

  it('interpolates the median of an even count', () => {
    assert.equal(summarise([1, 2, 3, 10]).median, 2.5);
  });

  it('has no value for no samples', () => {
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });
});

describe('benchmark fixture generator', () => {
  it('makes the requested number of objects with unique names and the documented mix of kinds', () => {
    const objects = generateObjects(500);
    assert.equal(objects.length, 500);
    assert.equal(new Set(objects.map((o) => `${o.kind}/${o.metadata.name ?? ''}`)).size, 500);
    const kinds = Object.fromEntries(
      ['Deployment', 'Service', 'Secret', 'ConfigMap'].map((k) => [
        k,
        objects.filter((o) => o.kind === k).length,
      ]),
    );
    assert.deepEqual(kinds, { Deployment: 50, Service: 100, Secret: 50, ConfigMap: 300 });
  });
});
