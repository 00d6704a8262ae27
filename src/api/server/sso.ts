/**
 * Single sign-on with an OpenID provider (authorization code with PKCE). The login route keeps the
 * pending checks (state, nonce, PKCE verifier) in a sealed, HttpOnly cookie scoped to these routes,
 * so any replica can finish it; the callback checks them through the SingleSignOn port, opens a
 * session with the ID token's groups (which the Projects' roles name), and sets the same session
 * cookie as a local login. The CLI logs in through a loopback address: the callback sends the browser
 * there with a one-time code that only the CLI's own PKCE verifier redeems.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  AuthConfigSchema,
  ErrorBodySchema,
  SsoCallbackQuerySchema,
  SsoExchangeRequestSchema,
  SsoExchangeResponseSchema,
  SsoLoginQuerySchema,
  type AuthConfig,
  type SsoExchangeRequest,
  type SsoExchangeResponse,
  type SsoLoginQuery,
} from '../../contracts/server-api.ts';
import { CapstanError } from '../../core/errors.ts';
import type { PendingSignOn, SignedOn } from '../../ports/single-sign-on.ts';
import type { OpenedSession } from '../../server/auth.ts';
import {
  audit,
  cookieOf,
  HttpError,
  sessionCookie,
  type Routes,
  type ServerApiOptions,
  type SsoOptions,
} from './context.ts';
import { backchannelLogoutRoute } from './sso-logout.ts';

export const SSO_PREFIX = `${API_PREFIX}/auth/oidc`;
export const SSO_CALLBACK_PATH = `${SSO_PREFIX}/callback`;
export const PENDING_COOKIE = 'capstan_oidc';
/** A login has this long at the provider. */
const PENDING_TTL_MS = 10 * 60 * 1000;
/** The CLI has this long to redeem its one-time code. */
const EXCHANGE_TTL_MS = 2 * 60 * 1000;
const PENDING_PURPOSE = 'oidc-pending';
const EXCHANGE_PURPOSE = 'oidc-cli-exchange';

const error = (description: string) => ({ description, schema: ErrorBodySchema });

/** What the login cookie carries to the callback. */
interface PendingLogin {
  readonly checks: PendingSignOn;
  readonly returnTo: string;
  readonly cli?: { readonly redirect: string; readonly challenge: string };
}

/** What the CLI's one-time code carries. */
interface CliExchange {
  readonly session: string;
  readonly csrf: string;
  readonly user: string;
  readonly groups: readonly string[];
  readonly expiresAt: string;
  readonly challenge: string;
}

export function ssoRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/auth/config`,
      summary: 'How to log in: local users, and single sign-on when an OpenID provider is configured',
      tag: 'session',
      access: 'public',
      responses: { 200: { description: 'the login methods', schema: AuthConfigSchema } },
    },
    () => authConfig(options),
  );
  const sso = options.sso;
  if (sso === undefined) return;
  routes.add(
    {
      method: 'GET',
      url: `${SSO_PREFIX}/login`,
      summary: 'Start a single sign-on: redirects to the OpenID provider (authorization code with PKCE)',
      tag: 'session',
      access: 'public',
      query: SsoLoginQuerySchema,
      responses: {
        302: { description: 'to the provider' },
        502: error('the provider cannot be reached'),
      },
    },
    (request, reply) => startLogin(options, sso, request, reply),
  );
  routes.add(
    {
      method: 'GET',
      url: SSO_CALLBACK_PATH,
      summary: 'The provider sends the browser back here; sets the session cookie and redirects',
      tag: 'session',
      access: 'public',
      query: SsoCallbackQuerySchema,
      responses: {
        302: { description: 'logged in: to the page asked for, or to the CLI’s loopback address' },
        400: error('no login was started here, or it expired: start again'),
        401: error('the provider refused, or the answer failed a check (state, code, ID token)'),
        502: error('the provider cannot be reached'),
      },
    },
    (request, reply) => finishLogin(options, sso, routes, request, reply),
  );
  routes.add(
    {
      method: 'POST',
      url: `${SSO_PREFIX}/exchange`,
      summary:
        'The CLI trades the one-time code its loopback address got (and its PKCE verifier) for its session',
      tag: 'session',
      access: 'public',
      body: SsoExchangeRequestSchema,
      responses: {
        200: { description: 'the session', schema: SsoExchangeResponseSchema },
        400: error('the code is unknown, expired, or not this verifier’s'),
      },
    },
    (request) => Promise.resolve(exchange(sso, request.body as SsoExchangeRequest)),
  );
  backchannelLogoutRoute(routes, options, sso, SSO_PREFIX);
}

async function authConfig(options: ServerApiOptions): Promise<AuthConfig> {
  if (options.sso === undefined) return { local: true };
  const endSessionUrl = await options.sso.signOn.endSessionUrl().catch(() => undefined);
  return {
    local: true,
    sso: {
      issuer: options.sso.signOn.issuer,
      loginUrl: `${SSO_PREFIX}/login`,
      ...(endSessionUrl === undefined ? {} : { endSessionUrl }),
    },
  };
}

async function startLogin(
  options: ServerApiOptions,
  sso: SsoOptions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const query = request.query as SsoLoginQuery;
  const cli = cliTarget(query);
  const started = await sso.signOn.start(`${sso.publicUrl}${SSO_CALLBACK_PATH}`);
  const pending: PendingLogin = {
    checks: started.pending,
    returnTo: query.return ?? '/',
    ...(cli === undefined ? {} : { cli }),
  };
  const sealed = sso.sealer.seal(PENDING_PURPOSE, pending, PENDING_TTL_MS);
  void reply
    .header('set-cookie', pendingCookie(options, sealed, PENDING_TTL_MS / 1000))
    .header('cache-control', 'no-store')
    .redirect(started.url, 302);
  return undefined;
}

/** The CLI's loopback address and challenge, checked: only 127.0.0.1, [::1] or localhost over http. */
function cliTarget(query: SsoLoginQuery): PendingLogin['cli'] {
  if (query.cli === undefined) {
    if (query.challenge !== undefined) throw new HttpError(400, 'INVALID_REQUEST', 'challenge goes with cli');
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(query.cli);
  } catch {
    throw new HttpError(400, 'INVALID_REQUEST', `cli is not a URL: '${query.cli}'`);
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'http:' || !loopback || url.port === '' || url.username !== '' || url.password !== '')
    throw new HttpError(
      400,
      'INVALID_REQUEST',
      'cli must be a loopback address with a port (http://127.0.0.1:PORT/…): the login ends on this machine only',
    );
  if (query.challenge === undefined)
    throw new HttpError(400, 'INVALID_REQUEST', 'cli needs challenge (base64url SHA-256 of a PKCE verifier)');
  return { redirect: url.href, challenge: query.challenge };
}

async function finishLogin(
  options: ServerApiOptions,
  sso: SsoOptions,
  routes: Routes,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  // The pending cookie is spent whatever happens: a callback is answered once.
  void reply.header('set-cookie', pendingCookie(options, '', 0)).header('cache-control', 'no-store');
  const pending = pendingOf(sso, request);
  let signedOn: SignedOn;
  try {
    if (pending === undefined)
      throw new HttpError(
        400,
        'SSO_STATE_INVALID',
        'no single sign-on was started in this browser, or it expired: start the login again',
      );
    signedOn = await sso.signOn.finish(new URL(request.url, sso.publicUrl), pending.checks);
  } catch (failure) {
    await auditFailure(options, failure);
    throw failure;
  }
  const { identity, grant } = signedOn;
  const admin = identity.groups.some((g) => sso.adminGroups.includes(g));
  // With a refresh token the session is refreshed before the ID token expires (src/server/sso-sessions.ts).
  const provider = {
    subject: identity.subject,
    ...(identity.sid === undefined ? {} : { sid: identity.sid }),
  };
  const session = await options.auth.signedOn(
    { name: identity.name, groups: identity.groups, admin, provider },
    (digest, expiresAt) => routes.signOnSessions?.stateFor(digest, identity.subject, grant, expiresAt),
  );
  await audit(options, {
    actor: { kind: 'user', name: identity.name },
    action: 'login',
    target: `User/${identity.name}`,
    result: 'success',
    changes: {
      method: 'oidc',
      groups: identity.groups.join(','),
      admin,
      refresh: grant.refreshToken !== undefined,
    },
  });
  const maxAge = Math.max(0, Math.floor((Date.parse(session.expiresAt) - options.now()) / 1000));
  const cookies = [pendingCookie(options, '', 0), sessionCookie(options, session.secret, maxAge)];
  void reply.header('set-cookie', cookies).redirect(landing(sso, pending, session), 302);
  return undefined;
}

function pendingOf(sso: SsoOptions, request: FastifyRequest): PendingLogin | undefined {
  const sealed = cookieOf(request.headers.cookie, PENDING_COOKIE);
  if (sealed === undefined || sealed === '') return undefined;
  const opened = sso.sealer.unseal<PendingLogin>(PENDING_PURPOSE, sealed);
  return opened.ok ? opened.value : undefined;
}

/** Where the browser goes once logged in: the CLI's loopback address with its one-time code, or a page. */
function landing(sso: SsoOptions, pending: PendingLogin, session: OpenedSession): string {
  if (pending.cli === undefined) return pending.returnTo;
  const exchangeCode: CliExchange = {
    session: session.secret,
    csrf: session.csrf,
    user: session.principal.name,
    groups: session.principal.groups,
    expiresAt: session.expiresAt,
    challenge: pending.cli.challenge,
  };
  const target = new URL(pending.cli.redirect);
  target.searchParams.set('code', sso.sealer.seal(EXCHANGE_PURPOSE, exchangeCode, EXCHANGE_TTL_MS));
  return target.href;
}

function exchange(sso: SsoOptions, body: SsoExchangeRequest): SsoExchangeResponse {
  const opened = sso.sealer.unseal<CliExchange>(EXCHANGE_PURPOSE, body.code);
  const expected = opened.ok ? Buffer.from(opened.value.challenge) : Buffer.alloc(0);
  const given = Buffer.from(createHash('sha256').update(body.verifier).digest('base64url'));
  if (!opened.ok || expected.length !== given.length || !timingSafeEqual(expected, given))
    throw new HttpError(
      400,
      'SSO_CODE_INVALID',
      opened.ok || opened.reason === 'invalid'
        ? 'the one-time code is not valid for this verifier: run capstan login --sso again'
        : 'the one-time code expired: run capstan login --sso again',
    );
  const { session, csrf, user, groups, expiresAt } = opened.value;
  return { session, csrfToken: csrf, user, groups: [...groups], expiresAt };
}

async function auditFailure(options: ServerApiOptions, failure: unknown): Promise<void> {
  const reason =
    failure instanceof HttpError || failure instanceof CapstanError ? failure.message : 'the login failed';
  await audit(options, {
    actor: { kind: 'anonymous', name: 'oidc' },
    action: 'login',
    target: 'User/oidc',
    result: 'failure',
    reason,
    changes: { method: 'oidc' },
  });
}

function pendingCookie(options: ServerApiOptions, value: string, maxAgeSeconds: number): string {
  return [
    `${PENDING_COOKIE}=${value}`,
    `Path=${SSO_PREFIX}`,
    'HttpOnly',
    // Lax: the provider sends the browser back with a top-level GET from its own site.
    'SameSite=Lax',
    `Max-Age=${maxAgeSeconds}`,
    ...(options.secureCookies ? ['Secure'] : []),
  ].join('; ');
}
