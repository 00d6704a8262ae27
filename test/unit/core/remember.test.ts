import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rememberSuccess } from '../../../src/core/remember.ts';

describe('rememberSuccess', () => {
  it('loads once, and callers while it loads share the load', async () => {
    let loads = 0;
    const get = rememberSuccess(() => {
      loads += 1;
      return Promise.resolve('Secret');
    });
    assert.deepEqual(await Promise.all([get(), get()]), ['Secret', 'Secret']);
    assert.equal(await get(), 'Secret');
    assert.equal(loads, 1);
  });

  it('forgets a failed load: the next call tries again', async () => {
    const answers = [() => Promise.reject(new Error('connection refused')), () => Promise.resolve('Secret')];
    let loads = 0;
    const get = rememberSuccess(() => {
      loads += 1;
      return (answers.shift() ?? (() => Promise.resolve('again')))();
    });
    await assert.rejects(get(), /connection refused/);
    assert.equal(await get(), 'Secret');
    assert.equal(await get(), 'Secret');
    assert.equal(loads, 2);
  });
});
