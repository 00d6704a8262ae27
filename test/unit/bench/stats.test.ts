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

  it('counts runs that hit the limit as at least the limit, and marks the figures they fall on', () => {
    // Three measured, two timed out at 600 s: the median is the largest measured sample, exact.
    assert.deepEqual(summarise([28.7, 23.4, 178.9], { count: 2, limit: 600 }), {
      runs: 5,
      median: 178.9,
      p99: 600,
      min: 23.4,
      max: 600,
      censored: 2,
      atLeast: ['p99', 'max'],
    });
    // Three of five timed out: the median itself is a lower bound.
    const s = summarise([20, 10], { count: 3, limit: 600 });
    assert.equal(s.median, 600);
    assert.deepEqual(s.atLeast, ['median', 'p99', 'max']);
    // A p99 interpolated between a measured sample and a censored one is a lower bound too.
    assert.deepEqual(summarise([1, 2, 3, 4], { count: 1, limit: 10 }).atLeast, ['p99', 'max']);
    // Every run timed out: every figure is the limit, as a lower bound.
    assert.deepEqual(summarise([], { count: 2, limit: 60 }), {
      runs: 2,
      median: 60,
      p99: 60,
      min: 60,
      max: 60,
      censored: 2,
      atLeast: ['median', 'p99', 'min', 'max'],
    });
  });

  it('sorts a measured sample above the limit before a censored run, so the bound stays a bound', () => {
    const s = summarise([601], { count: 1, limit: 600 });
    assert.equal(s.min, 600);
    assert.deepEqual(s.atLeast, ['median', 'p99', 'min']);
  });

  it('is the plain summary when no run timed out', () => {
    assert.deepEqual(summarise([3, 1, 2], { count: 0, limit: 600 }), summarise([1, 2, 3]));
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
