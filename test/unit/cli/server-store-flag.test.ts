// `capstan server --store`: which store a flag or the environment picks, and the mistakes it refuses
// before anything starts (a password on the command line, a URL of another kind, both stores at once).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storeUrlOf } from '../../../src/cli/commands/server.ts';
import { UsageError } from '../../../src/cli/output.ts';

const usage = (pattern: RegExp) => (error: unknown) =>
  error instanceof UsageError && pattern.test(error.message);

describe('capstan server --store', () => {
  it('takes --store, else CAPSTAN_STORE_URL, else none (the SQLite file)', () => {
    assert.equal(
      storeUrlOf({ store: 'postgres://capstan@db:5432/capstan' }, {}),
      'postgres://capstan@db:5432/capstan',
    );
    assert.equal(
      storeUrlOf({}, { CAPSTAN_STORE_URL: 'postgresql://capstan:pw@db/capstan' }),
      'postgresql://capstan:pw@db/capstan',
    );
    assert.equal(
      storeUrlOf({ store: 'postgres://a@b/c' }, { CAPSTAN_STORE_URL: 'postgres://x@y/z' }),
      'postgres://a@b/c',
    );
    assert.equal(storeUrlOf({ database: '/var/lib/capstan/server.db' }, {}), undefined);
    assert.equal(storeUrlOf({}, { CAPSTAN_STORE_URL: '' }), undefined);
  });

  it('refuses a password in --store, naming where to put it instead, without echoing it', () => {
    assert.throws(
      () => storeUrlOf({ store: 'postgres://capstan:hunter2-sentinel@db/capstan' }, {}),
      (error: unknown) =>
        usage(/PGPASSWORD.*CAPSTAN_STORE_URL/)(error) &&
        !(error as Error).message.includes('hunter2-sentinel'),
    );
  });

  it('refuses another kind of URL, and --store with --database', () => {
    assert.throws(() => storeUrlOf({ store: 'mysql://db/x' }, {}), usage(/--store must be a postgres:\/\//));
    assert.throws(
      () => storeUrlOf({}, { CAPSTAN_STORE_URL: 'sqlite:x.db' }),
      usage(/CAPSTAN_STORE_URL must be/),
    );
    assert.throws(
      () => storeUrlOf({ store: 'postgres://a@b/c', database: 'x.db' }, {}),
      usage(/--store .* or --database .*not both/),
    );
  });
});
