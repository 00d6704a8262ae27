import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CredentialsCache } from '../../../src/controller/credentials-cache.ts';
import type { GitCredentials } from '../../../src/ports/source.ts';

/** A Secret store that counts reads; the password says which read answered. */
function secrets() {
  const store = { reads: 0, missing: false };
  const read = (namespace: string, name: string): Promise<GitCredentials> => {
    store.reads += 1;
    if (store.missing) return Promise.reject(new Error(`Secret/${namespace}/${name} does not exist`));
    return Promise.resolve({ kind: 'basic', username: name, password: `read ${String(store.reads)}` });
  };
  return { store, read };
}

describe('credentials cache', () => {
  it('reads a Secret once for every Application that names it, until the time to live ends', async () => {
    const { store, read } = secrets();
    let now = 0;
    const cache = new CredentialsCache(read, { now: () => now, ttlMs: 60_000 });
    const many = await Promise.all(Array.from({ length: 1000 }, () => cache.get('team', 'git')));
    assert.equal(store.reads, 1);
    assert.ok(many.every((c) => c === many[0]));
    await cache.get('other', 'git');
    assert.equal(store.reads, 2, 'by namespace and name');
    now = 59_999;
    await cache.get('team', 'git');
    assert.equal(store.reads, 2);
    now = 60_000;
    assert.deepEqual(await cache.get('team', 'git'), { kind: 'basic', username: 'git', password: 'read 3' });
  });

  it('keeps no failed read, and reads again after credentials were refused', async () => {
    const { store, read } = secrets();
    const cache = new CredentialsCache(read);
    store.missing = true;
    await assert.rejects(cache.get('team', 'git'), /does not exist/);
    store.missing = false;
    await cache.get('team', 'git');
    assert.equal(store.reads, 2, 'a Secret created after a failed read is used at once');
    cache.forget('team', 'git');
    assert.deepEqual(await cache.get('team', 'git'), { kind: 'basic', username: 'git', password: 'read 3' });
  });
});
