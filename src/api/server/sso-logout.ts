/**
 * OpenID Connect Back-Channel Logout 1.0: the provider posts a logout token here when a user's session
 * ends there (they signed out, or an administrator ended it). The token is checked through the
 * SingleSignOn port (the provider's signature and the claims the specification names), its `jti` is
 * spent in the Store (a replay, here or on another replica, is refused), and the sessions it names (by
 * the provider's `sid`, or every one of its `sub`) are deleted from the Store, so every replica refuses
 * them from its next request. Each accepted or refused token is audited; the token itself never is.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  BackchannelLogoutRequestSchema,
  ErrorBodySchema,
  type BackchannelLogoutRequest,
} from '../../contracts/server-api.ts';
import { CapstanError } from '../../core/errors.ts';
import type { LogoutClaims } from '../../ports/single-sign-on.ts';
import {
  audit,
  FORM_MEDIA_TYPE,
  HttpError,
  type Routes,
  type ServerApiOptions,
  type SsoOptions,
} from './context.ts';

/** Under SSO_PREFIX; the provider's client registration names it as `backchannel_logout_uri`. */
export const BACKCHANNEL_LOGOUT_SUFFIX = '/backchannel-logout';
const PROVIDER = { kind: 'anonymous', name: 'oidc-provider' } as const;

export function backchannelLogoutRoute(
  routes: Routes,
  options: ServerApiOptions,
  sso: SsoOptions,
  prefix: string,
): void {
  routes.add(
    {
      method: 'POST',
      url: `${prefix}${BACKCHANNEL_LOGOUT_SUFFIX}`,
      summary:
        'OpenID Connect Back-Channel Logout: the provider ends a user’s sessions here (a signed logout token)',
      tag: 'session',
      access: 'public',
      body: BackchannelLogoutRequestSchema,
      bodyType: FORM_MEDIA_TYPE,
      responses: {
        200: {
          description: 'the sessions the token names are ended on every replica (none may have been open)',
        },
        400: {
          description:
            'the logout token failed a check (LOGOUT_TOKEN_INVALID, naming it) or was used before (LOGOUT_TOKEN_REPLAYED)',
          schema: ErrorBodySchema,
        },
        502: { description: 'the provider’s keys cannot be read', schema: ErrorBodySchema },
      },
    },
    (request, reply) => backchannelLogout(options, sso, request, reply),
  );
}

async function backchannelLogout(
  options: ServerApiOptions,
  sso: SsoOptions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  void reply.header('cache-control', 'no-store');
  const { logout_token: token } = request.body as BackchannelLogoutRequest;
  let claims: LogoutClaims;
  try {
    claims = await sso.signOn.verifyLogoutToken(token);
    if (!(await options.store.sessions.spendLogoutToken(claims.jti, claims.expiresAt)))
      throw new HttpError(
        400,
        'LOGOUT_TOKEN_REPLAYED',
        `the logout token ${claims.jti} was received before: a replay is refused`,
      );
  } catch (error) {
    if (
      error instanceof HttpError ||
      (error instanceof CapstanError && error.code === 'LOGOUT_TOKEN_INVALID')
    )
      await audit(options, {
        actor: PROVIDER,
        action: 'logout',
        target: 'User/oidc',
        result: 'failure',
        reason: error.message,
        changes: { method: 'oidc', endedBy: 'backchannel' },
      });
    throw error;
  }
  const ended = await options.store.sessions.endSignedOn({
    ...(claims.subject === undefined ? {} : { subject: claims.subject }),
    ...(claims.sid === undefined ? {} : { sid: claims.sid }),
  });
  const named = {
    ...(claims.subject === undefined ? {} : { sub: claims.subject }),
    ...(claims.sid === undefined ? {} : { sid: claims.sid }),
  };
  options.logger?.({
    level: 'info',
    msg: 'sso sessions ended by back-channel logout',
    sessions: ended.length,
    ...named,
  });
  for (const user of new Set(ended.map((s) => s.user)))
    await audit(options, {
      actor: { kind: 'user', name: user },
      action: 'logout',
      target: `User/${user}`,
      result: 'success',
      changes: {
        method: 'oidc',
        endedBy: 'backchannel',
        sessions: ended.filter((s) => s.user === user).length,
        jti: claims.jti,
        ...named,
      },
    });
  if (ended.length === 0)
    await audit(options, {
      actor: PROVIDER,
      action: 'logout',
      target: 'User/oidc',
      result: 'success',
      reason: 'no open session matched',
      changes: { method: 'oidc', endedBy: 'backchannel', sessions: 0, jti: claims.jti, ...named },
    });
  void reply.code(200).send();
  return undefined;
}
