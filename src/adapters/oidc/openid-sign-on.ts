/**
 * The SingleSignOn port on openid-client (a certified OpenID Connect relying party): discovery of the
 * provider, the authorization code flow with PKCE (S256), state and nonce, and the ID token's
 * signature, issuer, audience and expiry checked by the library. The client secret stays in this
 * object: never in an error, a log line or an answer.
 */
import * as oidc from 'openid-client';
import { CapstanError, messageOf } from '../../core/errors.ts';
import type { PendingSignOn, SignOnIdentity, SignOnStart, SingleSignOn } from '../../ports/single-sign-on.ts';

export interface OpenIdSignOnOptions {
  /** The provider's issuer URL; its discovery document is read from `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Default `openid profile email groups`; `openid` is always asked for. */
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

export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'groups'] as const;
export const DEFAULT_GROUPS_CLAIM = 'groups';

export class OpenIdSignOn implements SingleSignOn {
  readonly issuer: string;
  readonly #options: OpenIdSignOnOptions;
  #config: Promise<oidc.Configuration> | undefined;

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
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.#scopes().join(' '),
      response_type: 'code',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, pending };
  }

  async finish(callback: URL, pending: PendingSignOn): Promise<SignOnIdentity> {
    const config = await this.#configuration();
    // The token endpoint must see the same redirect_uri as the authorization request.
    const current = new URL(pending.redirectUri);
    current.search = callback.search;
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (error) {
      throw loginError(error);
    }
    if (!claims) throw new CapstanError('OIDC_LOGIN_FAILED', 'the provider answered without an ID token');
    return this.#identityOf(claims);
  }

  async endSessionUrl(): Promise<string | undefined> {
    const config = await this.#configuration();
    return config.serverMetadata().end_session_endpoint;
  }

  #scopes(): string[] {
    const scopes = this.#options.scopes ?? DEFAULT_SCOPES;
    return scopes.includes('openid') ? [...scopes] : ['openid', ...scopes];
  }

  #identityOf(claims: oidc.IDToken): SignOnIdentity {
    const nameClaim = this.#options.usernameClaim;
    const candidates = nameClaim === undefined ? ['preferred_username', 'email'] : [nameClaim];
    const name = candidates.map((c) => claims[c]).find((v): v is string => typeof v === 'string' && v !== '');
    const groups = claims[this.#options.groupsClaim ?? DEFAULT_GROUPS_CLAIM];
    return {
      subject: claims.sub,
      name: name ?? claims.sub,
      groups: groupsOf(groups),
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
  return messageOf(error).replace(/(client_secret|code_verifier|code)=[^&\s]+/g, '$1=***');
}
