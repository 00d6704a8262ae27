// The web UI's assets as `capstan server` serves them: index.html for client routes, long caching for
// hashed assets only, the API's JSON 404 kept under /api/, and the security headers on every answer.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fastify, type FastifyInstance } from 'fastify';
import {
  CONTENT_SECURITY_POLICY,
  serveWebUi,
  STRICT_TRANSPORT_SECURITY,
} from '../../../src/api/server/web-ui.ts';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'capstan-web-ui-'));
  await mkdir(join(root, 'assets'));
  await writeFile(join(root, 'index.html'), '<!doctype html><div id="root"></div>');
  await writeFile(join(root, 'assets', 'index-AbC123.js'), 'console.log(1)');
  await writeFile(join(root, 'assets', 'index-AbC123.js.map'), '{}');
});
after(() => rm(root, { recursive: true, force: true }));

function appWith(options: { tls: boolean; root?: string }): { app: FastifyInstance; served: boolean } {
  const app = fastify();
  app.get('/api/v1/session', () => ({ user: 'x' }));
  const served = serveWebUi(app, { root: options.root ?? root, tls: options.tls });
  return { app, served };
}

describe('serveWebUi', () => {
  it('answers index.html for client routes, never cached, with a strict CSP and no HSTS without TLS', async () => {
    const { app, served } = appWith({ tls: false });
    assert.equal(served, true);
    for (const url of ['/', '/applications', '/applications/team-a/web?sync=OutOfSync', '/audit']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.headers['content-type'] as string, /^text\/html/);
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.equal(res.headers['strict-transport-security'], undefined);
      assert.match(res.body, /id="root"/);
    }
    assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
    assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  });

  it('caches hashed assets for a year, answers 304 to their ETag, and serves no source maps', async () => {
    const { app } = appWith({ tls: false });
    const res = await app.inject({ url: '/assets/index-AbC123.js' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/javascript/);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    const etag = res.headers['etag'] as string;
    const again = await app.inject({ url: '/assets/index-AbC123.js', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal((await app.inject({ url: '/assets/index-AbC123.js.map' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/assets/missing-1.js' })).statusCode, 404);
  });

  it('keeps the API: its routes answer, an unknown API path is the JSON 404, not index.html', async () => {
    const { app } = appWith({ tls: false });
    const session = await app.inject({ url: '/api/v1/session' });
    assert.deepEqual(session.json(), { user: 'x' });
    assert.equal(session.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    const unknown = await app.inject({ url: '/api/v1/nothing-here' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json<{ error: string }>().error, 'NOT_FOUND');
  });

  it('sends HSTS under TLS', async () => {
    const { app } = appWith({ tls: true });
    const res = await app.inject({ url: '/' });
    assert.equal(res.headers['strict-transport-security'], STRICT_TRANSPORT_SECURITY);
  });

  it('serves no UI (and says so) when the build is missing, the headers still', async () => {
    const { app, served } = appWith({ tls: false, root: join(root, 'nowhere') });
    assert.equal(served, false);
    const res = await app.inject({ url: '/api/v1/session' });
    assert.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    assert.equal((await app.inject({ url: '/' })).statusCode, 404);
  });
});
