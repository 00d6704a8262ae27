/**
 * The SingleSignOn port on openid-client (a certified OpenID Connect relying party): discovery of the
 * provider, the authorization code flow with PKCE (S256), state and nonce, and the ID token's
 * signature, issuer, audience and expiry checked by the library; `offline_access` asked for when the
 * provider offers it, the refresh-token grant and RFC 7009 revocation; groups from the userinfo
 * endpoint when the ID token has no groups claim (as Dex and others send them). The client secret and
 * every token stay in this object or go back to the caller: never in an error, a log line or an answer.
 */
import * as oidc from 'openid-client';
import { CapstanError, messageOf } from '../../core/errors.ts';
import { candidateKeys, logoutClaimsOf, parseJws, signedBy, type Jwk } from './logout-token.ts';
import type {
  LogoutClaims,
  PendingSignOn,
  SignedOn,
  SignOnIdentity,
  SignOnStart,
  SingleSignOn,
} from '../../ports/single-sign-on.ts';

export interface OpenIdSignOnOptions {
  /** The provider's issuer URL; its discovery document is read from `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /**
   * Default `openid profile email groups`; `openid` is always asked for, and `offline_access` (a
   * refresh token) when the provider's discovery document lists it.
   */
  readonly scopes?: readonly string[];
  /** The ID token claim holding the user's groups. Default `groups`. */
  readonly groupsClaim?: string;
  /** The ID token claim naming the user. Default `preferred_username`, then `email`, then `sub`. */
  readonly usernameClaim?: string;
  /** Plain-HTTP providers (loopback test providers only). Default false. */
  readonly allowHttp?: boolean;
  /** The server's clock (ID token expiry is checked against it). Default Date.now. */
  readonly now?: () => number;
}

/** The provider's keys are read again for an unknown `kid` at most this often. */
const JWKS_REFETCH_MS = 30_000;

export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'groups'] as const;
export const DEFAULT_GROUPS_CLAIM = 'groups';

export class OpenIdSignOn implements SingleSignOn {
  readonly issuer: string;
  readonly #options: OpenIdSignOnOptions;
  #config: Promise<oidc.Configuration> | undefined;
  #keys: { readonly keys: readonly Jwk[]; readonly at: number } | undefined;

  constructor(options: OpenIdSignOnOptions) {
    if (!/^https?:\/\//.test(options.issuer))
      throw new CapstanError(
        'OIDC_CONFIG_INVALID',
        `the OIDC issuer must be an https:// URL, not '${options.issuer}'`,
      );
    if (options.issuer.startsWith('http:') && options.allowHttp !== true)
      throw new CapstanError(
        'OIDC_CONFIG_INVALID',
        `the OIDC issuer ${options.issuer} is plain HTTP: use https:// (an ID token and a client secret cross that line)`,
      );
    this.issuer = options.issuer;
    this.#options = options;
  }

  async start(redirectUri: string): Promise<SignOnStart> {
    const config = await this.#configuration();
    const pending: PendingSignOn = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
      redirectUri,
    };
    const scopes = this.#scopes(config);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: scopes.join(' '),
      // OpenID Connect Core 11: offline access is asked with the consent prompt (providers that follow
      // it, such as oidc-provider, drop `offline_access` without it).
      ...(scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
      response_type: 'code',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, pending };
  }

  async finish(callback: URL, pending: PendingSignOn): Promise<SignedOn> {
    const config = await this.#configuration();
    // The token endpoint must see the same redirect_uri as the authorization request.
    const current = new URL(pending.redirectUri);
    current.search = callback.search;
    let tokens: TokenAnswer;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw loginError(error);
    }
    const claims = tokens.claims();
    if (!claims) throw new CapstanError('OIDC_LOGIN_FAILED', 'the provider answered without an ID token');
    return this.#signedOn(config, tokens, claims, undefined, claims.sub);
  }

  async refresh(refreshToken: string, subject: string): Promise<SignedOn> {
    const config = await this.#configuration();
    let tokens: TokenAnswer;
    try {
      tokens = await oidc.refreshTokenGrant(config, refreshToken);
    } catch (error) {
      throw refreshError(error);
    }
    const claims = tokens.claims();
    if (claims !== undefined && claims.sub !== subject)
      throw new CapstanError('SSO_SESSION_REVOKED', 'the provider answered the refresh for another user');
    return this.#signedOn(config, tokens, claims, refreshToken, subject);
  }

  async revoke(refreshToken: string): Promise<boolean> {
    const config = await this.#configuration();
    if (config.serverMetadata().revocation_endpoint === undefined) return false;
    try {
      await oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
    } catch (error) {
      throw new CapstanError(
        'OIDC_PROVIDER_UNAVAILABLE',
        `the OIDC provider did not revoke the refresh token: ${safeMessage(error)}`,
        { retryable: true },
      );
    }
    return true;
  }

  /**
   * The identity and grant of a token answer. The groups (and the user name) that the ID token lacks
   * are read from the userinfo endpoint, when the provider has one, for `subject` (at a refresh the
   * session's: an answer without an ID token then takes userinfo's claims). `previous`: the refresh
   * token used, kept when the provider does not rotate it.
   */
  async #signedOn(
    config: oidc.Configuration,
    tokens: TokenAnswer,
    claims: oidc.IDToken | undefined,
    previous: string | undefined,
    subject: string,
  ): Promise<SignedOn> {
    const groupsClaim = this.#options.groupsClaim ?? DEFAULT_GROUPS_CLAIM;
    let merged: Record<string, unknown> = { ...claims };
    const askUserinfo =
      claims?.[groupsClaim] === undefined && config.serverMetadata().userinfo_endpoint !== undefined;
    if (askUserinfo) {
      let info: oidc.UserInfoResponse;
      try {
        info = await oidc.fetchUserInfo(config, tokens.access_token, subject);
      } catch (error) {
        throw previous === undefined ? loginError(error) : refreshError(error);
      }
      merged = { ...info, ...claims, [groupsClaim]: info[groupsClaim] };
    }
    const lifetime =
      claims === undefined ? (tokens.expires_in ?? 300) * 1000 : (claims.exp - claims.iat) * 1000;
    const refreshToken = tokens.refresh_token ?? previous;
    return {
      identity: this.#identityOf(merged),
      grant: {
        ...(refreshToken === undefined ? {} : { refreshToken }),
        idTokenLifetimeMs: lifetime,
        groupsRead: claims !== undefined || askUserinfo,
      },
    };
  }

  async verifyLogoutToken(token: string): Promise<LogoutClaims> {
    const config = await this.#configuration();
    const jws = parseJws(token);
    let keys = candidateKeys(jws.header, await this.#jwks(config, false));
    if (!signedBy(jws, keys)) {
      // A key the provider has rotated in since: its JWKS read again (not more often than every 30 s).
      keys = candidateKeys(jws.header, await this.#jwks(config, true));
      if (!signedBy(jws, keys))
        throw new CapstanError(
          'LOGOUT_TOKEN_INVALID',
          keys.length === 0
            ? `the logout token names a key the provider ${this.issuer} does not publish`
            : `the logout token's signature is not the provider's (${this.issuer})`,
        );
    }
    return logoutClaimsOf(jws.payload, {
      issuer: config.serverMetadata().issuer,
      clientId: this.#options.clientId,
      now: (this.#options.now ?? Date.now)(),
    });
  }

  /** The provider's signing keys (its discovery document's `jwks_uri`), cached; `fresh` reads them again. */
  async #jwks(config: oidc.Configuration, fresh: boolean): Promise<readonly Jwk[]> {
    const cached = this.#keys;
    if (cached !== undefined && (!fresh || Date.now() - cached.at < JWKS_REFETCH_MS)) return cached.keys;
    const uri = config.serverMetadata().jwks_uri;
    if (uri === undefined)
      throw new CapstanError(
        'LOGOUT_TOKEN_INVALID',
        `the provider ${this.issuer} publishes no keys (jwks_uri)`,
      );
    if (!uri.startsWith('https:') && this.#options.allowHttp !== true)
      throw new CapstanError(
        'OIDC_PROVIDER_UNAVAILABLE',
        `the provider's keys are at a plain-HTTP address: ${uri}`,
      );
    let body: unknown;
    try {
      const answer = await fetch(uri, { headers: { accept: 'application/json' }, redirect: 'error' });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      body = await answer.json();
    } catch (error) {
      throw new CapstanError(
        'OIDC_PROVIDER_UNAVAILABLE',
        `the OIDC provider's keys (${uri}) could not be read: ${safeMessage(error)}`,
        { retryable: true },
      );
    }
    const keys = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys))
      throw new CapstanError(
        'OIDC_PROVIDER_UNAVAILABLE',
        `the OIDC provider's keys (${uri}) are not a JWKS`,
        {
          retryable: true,
        },
      );
    this.#keys = { keys: keys as Jwk[], at: Date.now() };
    return this.#keys.keys;
  }

  async endSessionUrl(): Promise<string | undefined> {
    const config = await this.#configuration();
    return config.serverMetadata().end_session_endpoint;
  }

  #scopes(config: oidc.Configuration): string[] {
    const scopes = [...(this.#options.scopes ?? DEFAULT_SCOPES)];
    if (!scopes.includes('openid')) scopes.unshift('openid');
    const offered = config.serverMetadata().scopes_supported ?? [];
    if (offered.includes('offline_access') && !scopes.includes('offline_access'))
      scopes.push('offline_access');
    return scopes;
  }

  #identityOf(claims: Readonly<Record<string, unknown>>): SignOnIdentity {
    const nameClaim = this.#options.usernameClaim;
    const candidates = nameClaim === undefined ? ['preferred_username', 'email'] : [nameClaim];
    const name = candidates.map((c) => claims[c]).find((v): v is string => typeof v === 'string' && v !== '');
    const groups = claims[this.#options.groupsClaim ?? DEFAULT_GROUPS_CLAIM];
    const subject = typeof claims['sub'] === 'string' ? claims['sub'] : '';
    const sid = claims['sid'];
    return {
      subject,
      name: name ?? subject,
      groups: groupsOf(groups),
      ...(typeof sid === 'string' && sid !== '' ? { sid } : {}),
    };
  }

  /** Discovery once; a failed one is tried again at the next login. */
  #configuration(): Promise<oidc.Configuration> {
    this.#config ??= this.#discover().catch((error: unknown) => {
      this.#config = undefined;
      throw error;
    });
    return this.#config;
  }

  async #discover(): Promise<oidc.Configuration> {
    const { clientId, clientSecret, now } = this.#options;
    const skew = now === undefined ? 0 : Math.round((now() - Date.now()) / 1000);
    try {
      return await oidc.discovery(
        new URL(this.issuer),
        clientId,
        { client_secret: clientSecret, [oidc.clockSkew]: skew },
        oidc.ClientSecretBasic(clientSecret),
        // Deprecated only to stand out: plain HTTP is for loopback test providers (allowHttp).
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        this.#options.allowHttp === true ? { execute: [oidc.allowInsecureRequests] } : {},
      );
    } catch (error) {
      throw new CapstanError(
        'OIDC_PROVIDER_UNAVAILABLE',
        `the OIDC provider ${this.issuer} could not be discovered: ${safeMessage(error)}`,
        { retryable: true },
      );
    }
  }
}

type TokenAnswer = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

/** A refresh that failed: refused by the provider (the session ends), or the provider out of reach. */
function refreshError(error: unknown): CapstanError {
  const unavailable = ['server_error', 'temporarily_unavailable'];
  if (
    error instanceof oidc.WWWAuthenticateChallengeError ||
    (error instanceof oidc.ResponseBodyError && !unavailable.includes(error.error))
  )
    return new CapstanError(
      'SSO_SESSION_REVOKED',
      `the OIDC provider refused to refresh the session: ${error instanceof oidc.ResponseBodyError ? error.error : error.message}`,
    );
  if (error instanceof oidc.ClientError)
    return new CapstanError(
      'SSO_SESSION_REVOKED',
      `the provider's refresh answer failed a check: ${safeMessage(error.cause instanceof Error ? error.cause : error)}`,
    );
  return new CapstanError(
    'OIDC_PROVIDER_UNAVAILABLE',
    `the OIDC provider could not be reached to refresh the session: ${safeMessage(error)}`,
    { retryable: true },
  );
}

/** A groups claim: an array of strings, or one string; anything else is no group. */
function groupsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  return value.filter((g): g is string => typeof g === 'string');
}

/** Why a login failed, from the library's error: the provider's `error`, or the check that failed. */
function loginError(error: unknown): CapstanError {
  if (error instanceof oidc.AuthorizationResponseError || error instanceof oidc.ResponseBodyError)
    return new CapstanError(
      'OIDC_LOGIN_FAILED',
      `the provider refused the login: ${error.error}${error.error_description === undefined ? '' : ` (${error.error_description})`}`,
    );
  if (error instanceof oidc.ClientError) {
    // The library's own check is the cause ("unexpected "state" response parameter value", "… "exp" …").
    const check = error.cause instanceof Error ? error.cause : error;
    return new CapstanError('OIDC_LOGIN_FAILED', `the login response failed a check: ${safeMessage(check)}`);
  }
  return new CapstanError(
    'OIDC_PROVIDER_UNAVAILABLE',
    `the OIDC provider could not be reached: ${safeMessage(error)}`,
    { retryable: true },
  );
}

/** An error's message without anything that looks like a credential. */
function safeMessage(error: unknown): string {
  return messageOf(error).replace(
    /(client_secret|code_verifier|code|refresh_token|access_token|token)=[^&\s]+/g,
    '$1=***',
  );
}
