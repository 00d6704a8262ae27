// `capstan login SERVER --sso`: single sign-on from the command line. A listener on a loopback port
// waits for the browser; the login URL (printed for the user to open) carries that address and the
// challenge of a PKCE verifier only this process knows. The server's callback sends the browser to
// the loopback address with a one-time code, which this process trades, with its verifier, for its
// session.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CapstanError } from '../core/errors.ts';
import type { SsoExchangeResponse } from '../contracts/server-api.ts';
import { answer, send, type ServerLogin } from './server-client.ts';

export const DEFAULT_SSO_TIMEOUT_MS = 5 * 60 * 1000;

export interface SsoLoginOptions {
  /** Told the URL to open in a browser (the CLI prints it). */
  readonly onUrl: (url: string) => void;
  /** How long to wait for the browser. Default 5 minutes. */
  readonly timeoutMs?: number;
}

export async function ssoLogin(server: string, options: SsoLoginOptions): Promise<ServerLogin> {
  const base = server.replace(/\/+$/, '');
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const loopback = await listenOnLoopback();
  try {
    const redirect = `http://127.0.0.1:${(loopback.server.address() as AddressInfo).port}/callback`;
    const url = new URL(`${base}/api/v1/auth/oidc/login`);
    url.searchParams.set('cli', redirect);
    url.searchParams.set('challenge', challenge);
    options.onUrl(url.href);
    // Step: wait for the browser to come back with the one-time code.
    const code = await loopback.code(options.timeoutMs ?? DEFAULT_SSO_TIMEOUT_MS);
    // Step: trade it, with the verifier, for the session.
    const response = await send(base, 'POST', '/api/v1/auth/oidc/exchange', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, verifier }),
    });
    const session = await answer<SsoExchangeResponse>(response, 'POST /api/v1/auth/oidc/exchange');
    return {
      server: base,
      credential: {
        kind: 'session',
        session: session.session,
        csrf: session.csrfToken,
        expiresAt: session.expiresAt,
      },
      user: session.user,
    };
  } finally {
    loopback.server.closeAllConnections();
    loopback.server.close();
  }
}

/** A listener on 127.0.0.1 (a free port) whose first request with `code` ends the wait. */
async function listenOnLoopback(): Promise<{ server: Server; code: (timeoutMs: number) => Promise<string> }> {
  let deliver: (code: string) => void = () => {};
  const received = new Promise<string>((resolve) => {
    deliver = resolve;
  });
  const server = createServer((request, response) => {
    const code = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('code');
    if (request.method !== 'GET' || code === null || code === '') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not a capstan login\n');
      return;
    }
    response
      .writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      .end('Logged in to capstan: you may close this window and go back to the terminal.\n');
    deliver(code);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const code = (timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new CapstanError(
            'LOGIN_FAILED',
            `no login came back within ${Math.round(timeoutMs / 1000)} s: run capstan login --sso again and open the URL it prints`,
          ),
        );
      }, timeoutMs);
      void received.then((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  return { server, code };
}
