import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CapstanError, ERROR_CODES, failureOf, messageOf } from '../../../src/core/errors.ts';

describe('CapstanError', () => {
  it('carries a stable code, the subject, whether a retry can help, and the cause', () => {
    const cause = new Error('connection refused');
    const error = new CapstanError('SOURCE_UNREACHABLE', 'cannot fetch', {
      subject: 'Deployment/web/api',
      retryable: true,
      cause,
    });
    assert.equal(error.code, 'SOURCE_UNREACHABLE');
    assert.equal(error.subject, 'Deployment/web/api');
    assert.equal(error.retryable, true);
    assert.equal(error.cause, cause);
    assert.ok(error instanceof Error);
  });

  it('is terminal unless said otherwise', () => {
    const error = new CapstanError('APPLICATION_INVALID', 'spec.source.repoURL is empty');
    assert.equal(error.retryable, false);
    assert.equal(error.subject, undefined);
    assert.equal('cause' in error, false);
  });

  it('messageOf gives the message of anything thrown', () => {
    assert.equal(messageOf(new Error('boom')), 'boom');
    assert.equal(messageOf('plain'), 'plain');
    assert.equal(messageOf(42), '42');
  });
});

describe('failureOf', () => {
  it("records a CapstanError's detail (without its subject), code and retryability", () => {
    const error = new CapstanError('KUBE_CONFLICT', 'Deployment/web/api: the object was modified', {
      subject: 'Deployment/web/api',
      retryable: true,
      detail: 'the object was modified',
    });
    assert.deepEqual(failureOf(error), {
      message: 'the object was modified',
      code: 'KUBE_CONFLICT',
      retryable: true,
    });
    assert.deepEqual(failureOf(new CapstanError('SYNC_TIMEOUT', 'too slow')), {
      message: 'too slow',
      code: 'SYNC_TIMEOUT',
      retryable: false,
    });
    assert.deepEqual(failureOf(new Error('boom')), { message: 'boom' });
  });
});

describe('ERROR_CODES', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  const sources = [...files('src'), ...files('bench')]
    .filter((f) => !f.endsWith(join('core', 'errors.ts')))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');

  it('are unique, in UPPER_SNAKE_CASE', () => {
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
    for (const code of ERROR_CODES) assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  });

  it('are each used by the code (no code left in the list after its last use)', () => {
    const unused = ERROR_CODES.filter((code) => !sources.includes(`'${code}'`));
    assert.deepEqual(unused, []);
  });
});
