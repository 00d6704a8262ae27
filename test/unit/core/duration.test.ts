import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapstanError } from '../../../src/core/errors.ts';
import { formatDuration, isDuration, parseDuration } from '../../../src/core/duration.ts';

describe('parseDuration', () => {
  const cases: [string, number][] = [
    ['3m', 180_000],
    ['90s', 90_000],
    ['250ms', 250],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2m30s500ms', 150_500],
    ['0s', 0],
    ['90', 90_000],
    ['2.5', 2500],
    [' 5m ', 300_000],
  ];
  for (const [text, ms] of cases) {
    it(`reads '${text}' as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  it('refuses anything else, saying what a duration looks like', () => {
    for (const text of ['', '3 m', '3min', '-5s', 'm', '5s3', '1d', 'h1', '1e3s', '9'.repeat(70) + 's']) {
      assert.throws(
        () => parseDuration(text),
        (error: unknown) =>
          error instanceof CapstanError &&
          error.code === 'INVALID_DURATION' &&
          /90s, 5m, 1h30m/.test(error.message),
        text,
      );
    }
  });
});

describe('isDuration', () => {
  it('requires a unit, as the CRD pattern does', () => {
    assert.equal(isDuration('3m'), true);
    assert.equal(isDuration('1h30m'), true);
    assert.equal(isDuration('90'), false);
    assert.equal(isDuration('3 m'), false);
  });
});

describe('formatDuration', () => {
  it('writes the shortest text that reads back', () => {
    for (const [ms, text] of [
      [180_000, '3m'],
      [5_400_000, '1h30m'],
      [1500, '1.5s'],
      [250, '250ms'],
      [0, '0s'],
      [3_601_000, '1h1s'],
    ] as const) {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms);
    }
  });
});
