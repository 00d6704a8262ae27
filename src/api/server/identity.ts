/**
 * Login, the session, and API tokens. A login sets the session cookie (HttpOnly, SameSite=Strict,
 * Secure under TLS) and answers the CSRF token that unsafe requests of the session send back. Failed
 * logins are limited (429 with Retry-After) and audited; so are token creation and revocation.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  CreatedTokenSchema,
  ErrorBodySchema,
  LoginRequestSchema,
  SessionSchema,
  TokenParamsSchema,
  TokenRequestSchema,
  TokenSchema,
  type LoginRequest,
  type SessionInfo,
  type TokenInfo,
  type TokenRequest,
} from '../../contracts/server-api.ts';
import type { TokenRecord } from '../../ports/store.ts';
import { actionsIn, EVERY_PROJECT, mayGrant, rolesIn, type Principal } from '../../server/access.ts';
import { DEFAULT_TOKEN_TTL_MS } from '../../server/auth.ts';
import {
  actorOf,
  audit,
  HttpError,
  requirePermission,
  sessionCookie,
  type Caller,
  type Routes,
  type ServerApiOptions,
} from './context.ts';

const error = (description: string) => ({ description, schema: ErrorBodySchema });

export function identityRoutes(routes: Routes, options: ServerApiOptions): void {
  sessionRoutes(routes, options);
  tokenRoutes(routes, options);
}

/** Local login, who am I, logout. */
function sessionRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'POST',
      url: `${API_PREFIX}/session`,
      summary: 'Log in with a local user and password; sets the session cookie and answers its CSRF token',
      tag: 'session',
      access: 'public',
      body: LoginRequestSchema,
      responses: {
        200: { description: 'logged in', schema: SessionSchema },
        400: error('bad input'),
        401: error('wrong user or password'),
        429: error('too many failed attempts; Retry-After says when to try again'),
      },
    },
    async (request, reply) => login(options, request, reply),
  );
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/session`,
      summary: 'Who is calling (and the session’s CSRF token)',
      tag: 'session',
      access: 'authenticated',
      responses: {
        200: { description: 'the caller', schema: SessionSchema },
        401: error('no session or token'),
      },
    },
    (_request, _reply, caller) => Promise.resolve(sessionInfo(must(caller))),
  );
  routes.add(
    {
      method: 'DELETE',
      url: `${API_PREFIX}/session`,
      summary: 'Log out: ends the session and clears its cookie',
      tag: 'session',
      access: 'authenticated',
      responses: {
        204: { description: 'logged out' },
        401: error('no session'),
        403: error('no CSRF token'),
      },
    },
    async (_request, reply, caller) => {
      const { sessionSecret, principal } = must(caller);
      const ended = sessionSecret === undefined ? undefined : await options.auth.logout(sessionSecret);
      // A single sign-on's refresh token is revoked at the provider too (when it offers revocation).
      if (ended !== undefined) await routes.signOnSessions?.revoke(ended);
      await audit(options, {
        actor: actorOf(principal),
        action: 'logout',
        target: `User/${principal.name}`,
        result: 'success',
      });
      void reply
        .header('set-cookie', sessionCookie(options, '', 0))
        .code(204)
        .send();
      return undefined;
    },
  );
}

/** API tokens for CI: list, create (at most the creator's own role), revoke. */
function tokenRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/tokens`,
      summary:
        'API tokens, without their secrets: every one for a global admin, else those the caller created',
      tag: 'tokens',
      access: 'authenticated',
      responses: {
        200: { description: 'tokens', schema: Type.Object({ items: Type.Array(TokenSchema) }) },
        401: error('no session or token'),
      },
    },
    async (_request, _reply, caller) => {
      const { principal } = must(caller);
      const all = await options.store.tokens.list();
      const mine =
        principal.admin && principal.scope === undefined
          ? all
          : all.filter((t) => t.createdBy === ownerName(principal));
      return { items: mine.map(tokenInfo) };
    },
  );
  routes.add(
    {
      method: 'POST',
      url: `${API_PREFIX}/tokens`,
      summary:
        'Create an API token for a project and role (at most the creator’s own); its text is shown once',
      tag: 'tokens',
      access: 'tokens.create',
      body: TokenRequestSchema,
      responses: {
        201: { description: 'created', schema: CreatedTokenSchema },
        400: error('bad input'),
        401: error('no session or token'),
        403: error('the caller may not give that role in that project'),
      },
    },
    async (request, reply, caller) => createToken(options, request, reply, must(caller)),
  );
  routes.add(
    {
      method: 'DELETE',
      url: `${API_PREFIX}/tokens/:id`,
      summary: 'Revoke an API token (its creator or a global admin); refused at once from then on',
      tag: 'tokens',
      access: 'authenticated',
      params: TokenParamsSchema,
      responses: {
        204: { description: 'revoked' },
        401: error('no session or token'),
        403: error('not the caller’s token'),
        404: error('no such token'),
      },
    },
    async (request, reply, caller) => revokeToken(options, request, reply, must(caller)),
  );
}

const must = (caller: Caller | undefined): Caller => {
  if (!caller) throw new HttpError(401, 'UNAUTHENTICATED', 'log in first');
  return caller;
};

const ownerName = (principal: Principal) =>
  principal.kind === 'token' ? (principal.owner ?? principal.name) : principal.name;

function sessionInfo(caller: Caller): SessionInfo {
  const { principal } = caller;
  return {
    user: principal.name,
    kind: principal.kind,
    admin: principal.admin,
    groups: [...principal.groups],
    ...(caller.csrf === undefined ? {} : { csrfToken: caller.csrf }),
    ...(caller.expiresAt === undefined ? {} : { expiresAt: caller.expiresAt }),
    ...(principal.scope === undefined ? {} : { scope: principal.scope }),
  };
}

async function login(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const { username, password } = request.body as LoginRequest;
  const outcome = await options.auth.login(username, password, request.ip);
  const target = `User/${username}`;
  if (!outcome.ok) {
    await audit(options, {
      actor: { kind: 'anonymous', name: username },
      action: 'login',
      target,
      result: outcome.reason === 'limited' ? 'denied' : 'failure',
      reason: outcome.reason === 'limited' ? 'too many failed attempts' : 'wrong user or password',
    });
    if (outcome.reason === 'limited') {
      const seconds = Math.ceil(outcome.retryAfterMs / 1000);
      throw new HttpError(
        429,
        'TOO_MANY_ATTEMPTS',
        `too many failed logins: try again in ${seconds} s`,
        {},
        { 'retry-after': String(seconds) },
      );
    }
    throw new HttpError(401, 'LOGIN_FAILED', 'wrong user or password');
  }
  await audit(options, { actor: actorOf(outcome.principal), action: 'login', target, result: 'success' });
  const maxAge = Math.max(0, Math.floor((Date.parse(outcome.expiresAt) - options.now()) / 1000));
  void reply.header('set-cookie', sessionCookie(options, outcome.secret, maxAge));
  return sessionInfo({ principal: outcome.principal, csrf: outcome.csrf, expiresAt: outcome.expiresAt });
}

function tokenInfo(record: TokenRecord): TokenInfo {
  const { digest: _digest, ...info } = record;
  return info;
}

async function createToken(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
): Promise<unknown> {
  const body = request.body as TokenRequest;
  const { principal } = caller;
  const target = `Token/${body.name}`;
  if (body.project === EVERY_PROJECT) {
    if (!(principal.admin && principal.scope === undefined)) {
      await audit(options, {
        actor: actorOf(principal),
        action: 'token.create',
        target,
        result: 'denied',
        reason: "only a global admin creates a token for '*'",
      });
      throw new HttpError(
        403,
        'FORBIDDEN',
        "only a global admin may create a token for every project ('*')",
        { permission: 'tokens.create', project: '*' },
      );
    }
  } else {
    await requirePermission(options, caller, 'tokens.create', body.project, {
      action: 'token.create',
      target,
    });
    const held = actionsIn(principal, body.project, options.projects);
    if (!mayGrant(held, body.role)) {
      await audit(options, {
        actor: actorOf(principal),
        action: 'token.create',
        target,
        project: body.project,
        result: 'denied',
        reason: `role ${body.role} above the creator's`,
      });
      const roles = rolesIn(principal, body.project, options.projects);
      throw new HttpError(
        403,
        'FORBIDDEN',
        `a token may not do more than you in '${body.project}': the role ${body.role} is above yours (${roles.join(', ') || 'none'})`,
        { permission: 'tokens.create', project: body.project },
      );
    }
  }
  const ttlMs = body.expiresInDays === undefined ? DEFAULT_TOKEN_TTL_MS : body.expiresInDays * 86_400_000;
  const created = await options.auth.createToken(principal, {
    name: body.name,
    project: body.project,
    role: body.role,
    ttlMs,
  });
  await audit(options, {
    actor: actorOf(principal),
    action: 'token.create',
    target: `Token/${created.record.id}`,
    ...(body.project === EVERY_PROJECT ? {} : { project: body.project }),
    result: 'success',
    changes: { name: body.name, role: body.role, expiresAt: created.record.expiresAt },
  });
  void reply.code(201);
  return { token: created.text, info: tokenInfo(created.record) };
}

async function revokeToken(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
): Promise<unknown> {
  const { id } = request.params as { id: string };
  const { principal } = caller;
  const record = await options.store.tokens.get(id);
  if (!record) throw new HttpError(404, 'NOT_FOUND', `there is no token ${id}`);
  const target = `Token/${id}`;
  if (!(principal.admin && principal.scope === undefined) && record.createdBy !== ownerName(principal)) {
    await audit(options, {
      actor: actorOf(principal),
      action: 'token.revoke',
      target,
      result: 'denied',
      reason: 'not the creator',
    });
    throw new HttpError(403, 'FORBIDDEN', 'only its creator or a global admin may revoke a token', {
      permission: 'tokens.revoke',
      project: record.project,
    });
  }
  await options.store.tokens.revoke(id, new Date(options.now()).toISOString());
  await audit(options, {
    actor: actorOf(principal),
    action: 'token.revoke',
    target,
    project: record.project,
    result: 'success',
  });
  void reply.code(204).send();
  return undefined;
}
