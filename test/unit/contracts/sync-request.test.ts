import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSyncRequest, requestTime, syncRequestValue } from '../../../src/contracts/application.ts';
import { syncFlags } from '../../../src/cli/commands/app.ts';
import { UsageError } from '../../../src/cli/output.ts';

describe('the sync request annotation', () => {
  const cases = [
    { request: { id: '1767225600000' }, value: '1767225600000' },
    { request: { id: '1767225600000', prune: true }, value: '1767225600000;prune' },
    { request: { id: '1767225600000', prune: false }, value: '1767225600000;prune=false' },
    { request: { id: 'by-hand' }, value: 'by-hand' },
  ];
  for (const { request, value } of cases)
    it(`writes ${JSON.stringify(request)} as '${value}' and reads it back`, () => {
      assert.equal(syncRequestValue(request), value);
      assert.deepEqual(parseSyncRequest(value), request);
    });

  it('reads an unknown option as part of the id (a plain sync), and keeps the request time', () => {
    assert.deepEqual(parseSyncRequest('1767225600000;force'), { id: '1767225600000;force' });
    assert.equal(requestTime('1767225600000;prune'), 1767225600000);
  });

  it('refuses an id with a separator', () => {
    assert.throws(() => syncRequestValue({ id: 'a;b', prune: true }), RangeError);
  });
});

describe('capstan app sync flags', () => {
  it('takes --prune, --no-prune and --dry-run on sync, refuses both prune flags, and reads none on another command', () => {
    assert.deepEqual(syncFlags('sync', { prune: true }), { prune: true });
    assert.deepEqual(syncFlags('sync', { 'no-prune': true, 'dry-run': true }), {
      prune: false,
      dryRun: true,
    });
    assert.deepEqual(syncFlags('sync', {}), {});
    assert.throws(() => syncFlags('sync', { prune: true, 'no-prune': true }), UsageError);
    assert.deepEqual(syncFlags('refresh', {}), {});
  });
});
