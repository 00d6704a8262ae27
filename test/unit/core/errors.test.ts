import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapstanError, messageOf } from '../../../src/core/errors.ts';

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
    const error = new CapstanError('BAD_SPEC', 'spec.source.repoURL is empty');
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
