import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compareVersions,
  formatVersion,
  maxSatisfying,
  parseRange,
  parseVersion,
  satisfies,
  type SemVer,
} from '../../../src/core/semver.ts';

function v(text: string): SemVer {
  const version = parseVersion(text);
  assert.ok(version, `'${text}' should parse`);
  return version;
}

describe('parseVersion', () => {
  it('reads full versions with or without a leading v, pre-release and build', () => {
    assert.deepEqual(v('1.2.3'), { major: 1, minor: 2, patch: 3, prerelease: [], build: [] });
    assert.deepEqual(v('v10.20.30'), { major: 10, minor: 20, patch: 30, prerelease: [], build: [] });
    assert.deepEqual(v('1.0.0-rc.1+build.5'), {
      major: 1,
      minor: 0,
      patch: 0,
      prerelease: ['rc', 1],
      build: ['build', '5'],
    });
    assert.equal(formatVersion(v('v1.0.0-alpha.beta+exp.sha.5114f85')), '1.0.0-alpha.beta+exp.sha.5114f85');
  });

  for (const text of [
    '1.2',
    '1',
    '01.2.3',
    '1.02.3',
    '1.2.3-',
    '1.2.3-01',
    'x1.2.3',
    'main',
    '',
    '1.2.3.4',
    ' 1.2.3',
  ]) {
    it(`refuses '${text}'`, () => {
      assert.equal(parseVersion(text), undefined);
    });
  }
});

describe('compareVersions', () => {
  it('orders by precedence as semver.org §11 says', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.1.0',
      '1.10.0',
      '2.0.0',
    ];
    for (let i = 1; i < ordered.length; i++) {
      const [lower, higher] = [ordered[i - 1] ?? '', ordered[i] ?? ''];
      assert.ok(compareVersions(v(lower), v(higher)) < 0, `${lower} < ${higher}`);
      assert.ok(compareVersions(v(higher), v(lower)) > 0, `${higher} > ${lower}`);
    }
  });

  it('ignores build metadata and the v', () => {
    assert.equal(compareVersions(v('v1.2.3+a'), v('1.2.3+b')), 0);
  });
});

describe('satisfies', () => {
  // [range, matching versions, versions that do not match]
  const table: [string, string[], string[]][] = [
    ['*', ['0.0.0', '1.2.3', '99.0.0'], ['1.0.0-rc.1']],
    ['', ['1.2.3'], ['2.0.0-alpha']],
    ['x', ['1.2.3'], []],
    ['1.x', ['1.0.0', '1.9.9'], ['0.9.9', '2.0.0', '1.5.0-beta']],
    ['1.2.x', ['1.2.0', '1.2.9'], ['1.3.0', '1.1.9']],
    ['1.2.*', ['1.2.5'], ['1.3.0']],
    ['1', ['1.0.0', '1.99.99'], ['2.0.0', '0.1.0']],
    ['1.2', ['1.2.0', '1.2.7'], ['1.3.0']],
    ['1.2.3', ['1.2.3', 'v1.2.3'], ['1.2.4', '1.2.3-rc.1']],
    ['=1.2.3', ['1.2.3'], ['1.2.2']],
    ['v1.2.3', ['1.2.3'], ['1.2.4']],
    ['>=1.2 <2', ['1.2.0', '1.9.0', '1.99.99'], ['1.1.9', '2.0.0', '2.0.0-rc.1', '1.5.0-rc.1']],
    ['>= 1.2 < 2', ['1.2.0'], ['2.0.0']],
    ['>1.2', ['1.3.0'], ['1.2.9', '1.2.0']],
    ['>1.2.3', ['1.2.4'], ['1.2.3']],
    ['<1.2', ['1.1.9'], ['1.2.0', '1.2.0-rc.1']],
    ['<=1.2', ['1.2.9', '1.0.0'], ['1.3.0']],
    ['<=1.2.3', ['1.2.3'], ['1.2.4']],
    ['^1.4', ['1.4.0', '1.9.0'], ['1.3.9', '2.0.0', '2.0.0-alpha']],
    ['^1.2.3', ['1.2.3', '1.9.9'], ['1.2.2', '2.0.0']],
    ['^0.2.3', ['0.2.3', '0.2.9'], ['0.3.0', '0.2.2']],
    ['^0.0.3', ['0.0.3'], ['0.0.4', '0.0.2']],
    ['^0.0', ['0.0.0', '0.0.9'], ['0.1.0']],
    ['^0.x', ['0.0.0', '0.9.9'], ['1.0.0']],
    ['^1.x', ['1.0.0', '1.9.9'], ['2.0.0']],
    ['~1.2.0', ['1.2.0', '1.2.9'], ['1.3.0', '1.1.9']],
    ['~1.2.3', ['1.2.3', '1.2.9'], ['1.2.2', '1.3.0']],
    ['~1.2', ['1.2.0', '1.2.9'], ['1.3.0']],
    ['~1', ['1.0.0', '1.9.9'], ['2.0.0']],
    ['~>1.2', ['1.2.5'], ['1.3.0']],
    ['1.2.3 - 2.3.4', ['1.2.3', '2.3.4', '2.0.0'], ['1.2.2', '2.3.5']],
    ['1.2 - 2.3', ['1.2.0', '2.3.9'], ['1.1.9', '2.4.0']],
    ['1.2.3 - 2', ['2.9.9'], ['3.0.0']],
    ['^1 || ^3', ['1.5.0', '3.0.0'], ['2.0.0', '4.0.0']],
    ['<*', [], ['0.0.0', '1.0.0']],
    // Pre-releases only where the range names one of the same major.minor.patch.
    ['>=2.0.0-rc.0', ['2.0.0-rc.1', '2.0.0', '2.1.0'], ['2.1.0-rc.1', '1.9.9']],
    [
      '^2.0.0-beta.2',
      ['2.0.0-beta.2', '2.0.0-beta.10', '2.0.0-rc.1', '2.5.0'],
      ['2.0.0-beta.1', '2.1.0-rc.1', '3.0.0-alpha'],
    ],
    ['~1.2.3-beta.2', ['1.2.3-beta.4', '1.2.3', '1.2.9'], ['1.2.4-beta.2', '1.2.3-beta.1']],
  ];
  for (const [rangeText, good, bad] of table) {
    it(`'${rangeText}'`, () => {
      const range = parseRange(rangeText);
      assert.ok(range, `'${rangeText}' should parse`);
      for (const text of good) assert.ok(satisfies(v(text), range), `${text} should satisfy '${rangeText}'`);
      for (const text of bad)
        assert.ok(!satisfies(v(text), range), `${text} should not satisfy '${rangeText}'`);
    });
  }

  for (const text of [
    'main',
    'release/1.x',
    '>=',
    '1.2.3.4',
    '>=1.2 <2 junk',
    '^',
    'v',
    '1.2.3 -',
    'x'.repeat(300),
  ]) {
    it(`'${text.slice(0, 20)}' is not a range`, () => {
      assert.equal(parseRange(text), undefined);
    });
  }
});

describe('maxSatisfying', () => {
  const tags = ['v1.2.0', '1.3.0', 'v1.4.0', 'v1.5.0-rc.1', 'v2.0.0', 'v2.1.0-beta.1', '0.9.0'].map(
    (name) => ({
      name,
      version: v(name),
    }),
  );
  const pick = (range: string) => {
    const parsed = parseRange(range);
    assert.ok(parsed);
    return maxSatisfying(tags, parsed)?.name;
  };

  it('picks the highest match and skips pre-releases unless named', () => {
    assert.equal(pick('>=1.2 <2'), 'v1.4.0');
    assert.equal(pick('^1.2'), 'v1.4.0');
    assert.equal(pick('*'), 'v2.0.0');
    assert.equal(pick('~1.3.0'), '1.3.0');
    assert.equal(pick('>=1.5.0-rc.0 <2'), 'v1.5.0-rc.1');
    assert.equal(pick('>=2.1.0-beta.0'), 'v2.1.0-beta.1');
  });

  it('gives undefined when nothing matches', () => {
    assert.equal(pick('^3'), undefined);
    assert.equal(pick('~2.1'), undefined);
  });
});
