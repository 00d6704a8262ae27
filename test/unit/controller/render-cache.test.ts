import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RenderCache } from '../../../src/controller/render-cache.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import type { RenderRequest, RenderResult, Renderer } from '../../../src/ports/renderer.ts';

/** Counts renders; a pure unit test of the cache's keying (no renderer contract is exercised here). */
function countingRenderer(): Renderer & { calls: number; fail: boolean } {
  const renderer = {
    calls: 0,
    fail: false,
    render(request: RenderRequest): Promise<RenderResult> {
      renderer.calls += 1;
      if (renderer.fail) return Promise.reject(new Error('render failed'));
      return Promise.resolve({
        type: 'directory',
        objects: [
          {
            object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: request.path } },
            source: { file: 'x', line: 1 },
          },
        ],
      });
    },
  };
  return renderer;
}

describe('render cache', () => {
  it('renders once per commit, path and options, whatever the checkout folder', async () => {
    const renderer = countingRenderer();
    const cache = new RenderCache(renderer);
    await cache.render('c1', { root: '/a', path: 'apps/web' });
    const again = await cache.render('c1', { root: '/b', path: 'apps/web' });
    assert.equal(again.cached, true);
    await cache.render('c1', { root: '/a', path: 'apps/api' });
    await cache.render('c2', { root: '/a', path: 'apps/web' });
    await cache.render('c1', { root: '/a', path: 'apps/web', helm: { releaseName: 'x' } });
    assert.equal(renderer.calls, 4);
    assert.equal(cache.hits, 1);
    assert.equal(cache.misses, 4);
  });

  it('shares one render between concurrent callers and does not keep failures', async () => {
    const renderer = countingRenderer();
    const cache = new RenderCache(renderer);
    await Promise.all([
      cache.render('c', { root: '/', path: 'p' }),
      cache.render('c', { root: '/', path: 'p' }),
    ]);
    assert.equal(renderer.calls, 1);
    renderer.fail = true;
    await assert.rejects(cache.render('d', { root: '/', path: 'p' }));
    renderer.fail = false;
    await cache.render('d', { root: '/', path: 'p' });
    assert.equal(renderer.calls, 3);
  });

  it('keeps a failure for good for failureTtlMs (one parse of a hostile file), never one a retry may cure', async () => {
    let now = 1000;
    let failure: Error = new CapstanError('RENDER_TOO_DEEP', 'x.yaml:1:200: nests more than 200 levels deep');
    let calls = 0;
    const renderer: Renderer = {
      render: () => {
        calls += 1;
        return Promise.reject(failure);
      },
    };
    const cache = new RenderCache(renderer, { failureTtlMs: 60_000, now: () => now });
    for (let i = 0; i < 5; i++) {
      await assert.rejects(cache.render('c', { root: '/', path: 'p' }), /nests more than 200 levels deep/);
    }
    assert.equal(calls, 1, 'the failed render is answered from the cache');
    assert.deepEqual(cache.size, { entries: 1, objects: 0 });
    now += 60_000;
    await assert.rejects(cache.render('c', { root: '/', path: 'p' }), /nests more than 200 levels deep/);
    assert.equal(calls, 2, 'rendered again once its time was up');
    failure = new CapstanError('RENDER_TIMEOUT', 'too slow', { retryable: true });
    await assert.rejects(cache.render('d', { root: '/', path: 'p' }), /too slow/);
    await assert.rejects(cache.render('d', { root: '/', path: 'p' }), /too slow/);
    assert.equal(calls, 4, 'a failure that may pass on a retry is rendered again');
  });

  it('keys by the content of what the render reads where the renderer tells it, by commit where a path has no id', async () => {
    const renderer = Object.assign(countingRenderer(), {
      inputs: (request: RenderRequest) =>
        Promise.resolve({ type: 'directory' as const, paths: [request.path, 'shared'], tools: ['tool v1'] }),
    });
    const cache = new RenderCache(renderer);
    let ids: Record<string, string | undefined> = { 'apps/web': 'tree:1', shared: 'tree:2' };
    let lookups = 0;
    const source = {
      contentIds: (paths: readonly string[]) => {
        lookups += 1;
        return Promise.resolve(new Map(paths.map((p) => [p, ids[p]])));
      },
    };
    await cache.render('c1', { root: '/a', path: 'apps/web' }, source);
    assert.equal((await cache.render('c2', { root: '/b', path: 'apps/web' }, source)).cached, true);
    assert.equal((await cache.render('c2', { root: '/b', path: 'apps/web' }, source)).cached, true);
    assert.equal(lookups, 2, 'one lookup per commit and request');
    ids = { 'apps/web': 'tree:1', shared: 'tree:3' };
    assert.equal((await cache.render('c3', { root: '/b', path: 'apps/web' }, source)).cached, false);
    ids = { 'apps/web': 'tree:1', shared: undefined };
    const byCommit = await cache.key('c4', { root: '/b', path: 'apps/web' }, source);
    assert.match(byCommit, /"commit":"c4"/);
    assert.match(byCommit, /tool v1/);
  });

  it('keys by commit, without remembering it, when the content ids fail', async () => {
    const renderer = Object.assign(countingRenderer(), {
      inputs: () => Promise.resolve({ type: 'directory' as const, paths: ['p'], tools: [] }),
    });
    const cache = new RenderCache(renderer);
    let fail = true;
    const source = {
      contentIds: (paths: readonly string[]) =>
        fail
          ? Promise.reject(new Error('git failed'))
          : Promise.resolve(new Map(paths.map((p) => [p, 'id']))),
    };
    assert.match(await cache.key('c', { root: '/', path: 'p' }, source), /"commit":"c"/);
    fail = false;
    assert.match(await cache.key('c', { root: '/', path: 'p' }, source), /"content":\{"p":"id"\}/);
  });

  it('forgets the least recently used entry past its bound', async () => {
    const renderer = countingRenderer();
    const cache = new RenderCache(renderer, { maxEntries: 2 });
    await cache.render('a', { root: '/', path: 'p' });
    await cache.render('b', { root: '/', path: 'p' });
    await cache.render('a', { root: '/', path: 'p' });
    await cache.render('c', { root: '/', path: 'p' });
    await cache.render('a', { root: '/', path: 'p' });
    assert.equal(renderer.calls, 3, 'a stayed (recently used), b was evicted');
  });

  it('keeps a render for each of a thousand applications by default, and bounds the objects it holds', async () => {
    const renderer = countingRenderer();
    const cache = new RenderCache(renderer);
    for (let i = 0; i < 1000; i++) await cache.render('c', { root: '/', path: `apps/${String(i)}` });
    for (let i = 0; i < 1000; i++)
      assert.equal((await cache.render('c', { root: '/', path: `apps/${String(i)}` })).cached, true);
    assert.deepEqual(cache.size, { entries: 1000, objects: 1000 });

    const small = new RenderCache(countingRenderer(), { maxObjects: 3 });
    for (const path of ['a', 'b', 'c', 'd', 'e']) await small.render('c', { root: '/', path });
    assert.deepEqual(small.size, { entries: 3, objects: 3 });
    assert.equal((await small.render('c', { root: '/', path: 'a' })).cached, false, 'a went first');
    assert.equal((await small.render('c', { root: '/', path: 'e' })).cached, true);
  });

  it('gives the same key when a render it let go is made again', async () => {
    const cache = new RenderCache(countingRenderer(), { maxEntries: 1 });
    const first = await cache.render('c', { root: '/a', path: 'p' });
    await cache.render('c', { root: '/a', path: 'q' });
    const again = await cache.render('c', { root: '/b', path: 'p' });
    assert.equal(again.cached, false);
    assert.equal(again.key, first.key);
    assert.notEqual(again.result, first.result);
  });

  it('renders again for another cluster version or API version set, and holds the API versions by digest', async () => {
    const renderer = countingRenderer();
    const cache = new RenderCache(renderer);
    const helm = (kubeVersion: string, apiVersions: readonly string[]) => ({
      root: '/',
      path: 'chart',
      helm: { releaseName: 'web', kubeVersion, apiVersions },
    });
    const served = ['v1', 'apps/v1', 'apps/v1/Deployment'];
    await cache.render('c', helm('v1.36.3', served));
    assert.equal((await cache.render('c', helm('v1.36.3', [...served]))).cached, true);
    assert.equal((await cache.render('c', helm('v1.37.0', served))).cached, false, 'an upgraded cluster');
    const crd = await cache.render('c', helm('v1.37.0', [...served, 'monitoring.coreos.com/v1']));
    assert.equal(crd.cached, false, 'a CRD added');
    assert.ok(!crd.key.includes('apps/v1/Deployment'), 'the API versions are held by their digest');
    assert.equal(renderer.calls, 3);
  });

  it('keys chart credentials by a keyed hash: never their values, never shared with other or no credentials', async () => {
    const renderer = countingRenderer();
    const cache = new RenderCache(renderer);
    const password = 'p4ssw0rd-sentinel';
    const withCredentials = (username: string) => ({
      root: '/',
      path: 'chart',
      chartCredentials: [
        { kind: 'basic' as const, username, password, urlPrefix: 'https://charts.example.com' },
      ],
    });
    const first = await cache.render('c', withCredentials('team-a'));
    assert.ok(!first.key.includes(password) && !first.key.includes('team-a'), first.key);
    assert.equal((await cache.render('c', withCredentials('team-a'))).cached, true);
    assert.equal((await cache.render('c', withCredentials('team-b'))).cached, false, 'other credentials');
    assert.equal((await cache.render('c', { root: '/', path: 'chart' })).cached, false, 'no credentials');
    // Another process (another random HMAC key) gives another key for the same credentials.
    const other = await new RenderCache(countingRenderer()).render('c', withCredentials('team-a'));
    assert.notEqual(other.key, first.key);
  });
});
