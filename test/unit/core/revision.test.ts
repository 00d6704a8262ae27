// Short revisions as the CLI and the web UI print them: a commit's 12 hex digits, a chart's version with
// 12 digits of its archive's digest.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shortRevision } from '../../../src/core/revision.ts';
import { shortRevision as uiShortRevision } from '../../../ui/src/revision.ts';

describe('shortRevision', () => {
  const digest = `sha256:${'3f2a0c9d81be'.padEnd(64, '7')}`;
  for (const [name, short] of [
    ['src/core', shortRevision],
    ['ui', uiShortRevision],
  ] as const)
    it(`${name}: a commit, and a chart's version and digest`, () => {
      assert.equal(short('0123456789abcdef0123456789abcdef01234567'), '0123456789ab');
      assert.equal(short(`1.2.0@${digest}`), '1.2.0@3f2a0c9d81be');
      assert.equal(short(`1.2.0-rc.1+build.5@${digest}`), '1.2.0-rc.1+build.5@3f2a0c9d81be');
      // Not a chart revision (the digest is short): cut as a commit would be.
      assert.equal(short('1.2.0@sha256:abc'), '1.2.0@sha256');
    });
});
