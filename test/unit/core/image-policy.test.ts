import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, noTagMatches, parseImageRepository } from '../../../src/core/image-policy.ts';

const FIELD = 'spec.source.imagePolicy';
const pick = (semver: string, tags: string[], filterTags?: { pattern: string; extract?: string }) =>
  compilePolicy({ semver, ...(filterTags === undefined ? {} : { filterTags }) }, FIELD).pick(tags)?.tag;

describe('image policies: the newest tag in a semver range', () => {
  it('picks 1.3.0 of 1.2.0, 1.3.0, 2.0.0 and 1.4.0-rc.1 for >=1.0.0 <2.0.0', () => {
    assert.equal(pick('>=1.0.0 <2.0.0', ['1.2.0', '1.3.0', '2.0.0', '1.4.0-rc.1']), '1.3.0');
    assert.equal(pick('>=1.0.0 <2.0.0', ['1.2.0', '1.3.0', '2.0.0', '1.4.0-rc.1', '1.5.0']), '1.5.0');
  });

  it('takes a pre-release only where the range names one', () => {
    assert.equal(pick('>=1.4.0-rc.0 <2.0.0', ['1.3.0', '1.4.0-rc.1', '1.4.0-rc.2']), '1.4.0-rc.2');
    assert.equal(pick('^1', ['1.3.0', '1.4.0-rc.1']), '1.3.0');
  });

  it('orders by semver precedence, not by text, and ignores tags that are not versions', () => {
    assert.equal(pick('*', ['1.9.0', '1.10.0', 'latest', 'main', '1.2']), '1.10.0');
    assert.equal(pick('~1.2', ['v1.2.3', '1.2.10', '1.3.0']), '1.2.10');
    // Equal versions: the greater tag, whatever the order the registry gives them in.
    assert.equal(pick('1.3.x', ['v1.3.0', '1.3.0']), 'v1.3.0');
    assert.equal(pick('1.3.x', ['1.3.0', 'v1.3.0']), 'v1.3.0');
    assert.equal(pick('>=3', ['1.0.0']), undefined);
  });

  it('filters tags and reads the version from a part of them (Flux’s filterTags)', () => {
    const tags = ['main-abc123-1.4.0', 'main-def456-1.10.0', 'pr-9-9.0.0', '2.0.0'];
    assert.equal(
      pick('>=1', tags, { pattern: '^main-[a-f0-9]+-(?P<version>.*)$', extract: '$version' }),
      'main-def456-1.10.0',
    );
    assert.equal(
      pick('>=1', tags, { pattern: '^main-[a-f0-9]+-(.*)$', extract: '${1}' }),
      'main-def456-1.10.0',
    );
    assert.equal(pick('>=1', ['v1.0.0', 'x1.2.0'], { pattern: '^v' }), 'v1.0.0');
  });

  it('refuses a range that is not one, and a pattern that is not a regular expression, naming the field', () => {
    assert.throws(() => compilePolicy({ semver: 'not a range' }, FIELD), {
      code: 'PROMOTION_CONFIG_INVALID',
      message: /^spec\.source\.imagePolicy\.semver: 'not a range' is not a semver range/,
    });
    assert.throws(() => compilePolicy({ semver: '*', filterTags: { pattern: '([' } }, FIELD), {
      code: 'PROMOTION_CONFIG_INVALID',
      message: /^spec\.source\.imagePolicy\.filterTags\.pattern: '\(\[' is not a regular expression/,
    });
  });

  it('says why nothing was chosen', () => {
    assert.equal(
      noTagMatches(FIELD, { semver: '>=3' }, ['1.0.0', '2.0.0']),
      "spec.source.imagePolicy.semver: none of the repository's 2 tags matches '>=3' (1.0.0, 2.0.0)",
    );
    assert.match(
      noTagMatches(FIELD, { semver: '>=3' }, []),
      /none of the repository's 0 tags matches '>=3'$/,
    );
  });
});

describe('image repositories', () => {
  it('reads the registry host and the path', () => {
    assert.deepEqual(parseImageRepository('127.0.0.1:5000/team/hello', FIELD), {
      registry: '127.0.0.1:5000',
      path: 'team/hello',
    });
    assert.deepEqual(parseImageRepository('localhost/hello', FIELD), {
      registry: 'localhost',
      path: 'hello',
    });
    assert.deepEqual(parseImageRepository('registry.example.com/a/b-c/d_e', FIELD), {
      registry: 'registry.example.com',
      path: 'a/b-c/d_e',
    });
  });

  for (const text of [
    'hello',
    'team/hello',
    'registry.example.com/hello:1.0',
    'registry.example.com/hello@sha256:abc',
    'registry.example.com/Hello',
    'registry.example.com/',
  ])
    it(`refuses '${text}'`, () => {
      assert.throws(() => parseImageRepository(text, FIELD), {
        code: 'PROMOTION_CONFIG_INVALID',
        message: /is not an image repository with its registry host/,
      });
    });
});
