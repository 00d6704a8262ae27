/**
 * The web UI's assets (ui/dist, built by Vite) served by `capstan server`, beside the API.
 *
 * - Files are read once at start into memory (the build is a few hundred kB), each with a strong ETag.
 * - Hashed assets (`/assets/name-HASH.js`) are cached for a year (`immutable`); index.html never is,
 *   so a new build is seen at the next navigation.
 * - Any other GET that asks for HTML and is not under /api/ answers index.html (the SPA's client routes:
 *   /applications/ns/name); an unknown path under /api/ keeps the API's JSON 404.
 * - Every answer (API too) carries the security headers: a strict Content-Security-Policy (scripts and
 *   styles from this origin only, no inline script, `frame-ancestors 'none'`), and HSTS under TLS.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { API_PREFIX } from '../../contracts/server-api.ts';
import { errorBody } from '../error-body.ts';

export interface WebUiOptions {
  /** The built UI (ui/dist). When it holds no index.html, the UI is not served (the API still is). */
  readonly root: string;
  /** The server speaks TLS: HSTS is sent. */
  readonly tls: boolean;
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
  readonly immutable: boolean;
}

/** The policy of every answer: this origin only, nothing inline, no framing, no plugins. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000; includeSubDomains';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Adds the security headers to every answer, and the UI's routes when the UI is built. Returns whether it is. */
export function serveWebUi(app: FastifyInstance, options: WebUiOptions): boolean {
  addSecurityHeaders(app, options);
  const assets = readAssets(options.root);
  const index = assets.get('/index.html');
  if (!index) return false;
  app.get('/*', (request, reply) => {
    const path = decodeURIComponent(request.url.split('?')[0] ?? '/');
    const asset = assets.get(path);
    if (asset) return sendAsset(reply, asset, request.headers['if-none-match']);
    if (path.startsWith(`${API_PREFIX}/`) || path === API_PREFIX || extname(path) !== '')
      return reply.code(404).send(errorBody('NOT_FOUND', `no route GET ${path}`));
    return sendAsset(reply, index, request.headers['if-none-match']);
  });
  return true;
}

function addSecurityHeaders(app: FastifyInstance, options: WebUiOptions): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    void reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-frame-options', 'DENY')
      .header('cross-origin-opener-policy', 'same-origin');
    if (options.tls) void reply.header('strict-transport-security', STRICT_TRANSPORT_SECURITY);
    done(null, payload);
  });
}

function sendAsset(reply: FastifyReply, asset: Asset, ifNoneMatch: string | undefined): FastifyReply {
  void reply
    .header('etag', asset.etag)
    .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (ifNoneMatch === asset.etag) return reply.code(304).send();
  return reply.type(asset.type).send(asset.body);
}

/** Every file under root, by URL path; only files of known types (no source maps, nothing else). */
function readAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(join(root, 'index.html'))) return assets;
  for (const file of filesUnder(root)) {
    const type = TYPES[extname(file)];
    if (type === undefined) continue;
    const path = `/${relative(root, file).split(sep).join('/')}`;
    const body = readFileSync(file);
    assets.set(path, {
      body,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      immutable: path.startsWith('/assets/'),
    });
  }
  return assets;
}

function filesUnder(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
