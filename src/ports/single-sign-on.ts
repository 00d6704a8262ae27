/**
 * Single sign-on through an OpenID Connect provider: the authorization code flow with PKCE. The server
 * (src/api/server/sso.ts) keeps a login's pending checks (state, nonce, PKCE verifier) in a sealed
 * cookie and asks this port to build the provider's URL and to finish the login from the callback;
 * the adapter (src/adapters/oidc) uses a certified client library. A finished login is an identity
 * with its groups, which the Projects' roles name, and (when the provider gives one) a refresh token
 * that keeps the session going past the ID token's expiry while the provider still vouches for the user.
 */

/** What one login must check when it comes back: kept by the caller between `start` and `finish`. */
export interface PendingSignOn {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** The callback address the provider was given (it must be the same at the token endpoint). */
  readonly redirectUri: string;
}

export interface SignOnStart {
  /** Where to send the browser: the provider's authorization endpoint with every parameter. */
  readonly url: string;
  readonly pending: PendingSignOn;
}

/** Who signed on, from the ID token the provider signed (its signature, issuer, audience, expiry and nonce checked). */
export interface SignOnIdentity {
  /** The provider's `sub`. */
  readonly subject: string;
  /** The user name Capstan shows and the Projects' `users` name: the configured claim, else `sub`. */
  readonly name: string;
  /** The groups claim of the ID token, else of the userinfo endpoint (absent from both: none). */
  readonly groups: readonly string[];
  /** The provider's session id (the ID token's `sid`), which a back-channel logout may name. */
  readonly sid?: string;
}

/** A back-channel logout token, checked: whose sessions to end, and its id against replays. */
export interface LogoutClaims {
  readonly subject?: string;
  readonly sid?: string;
  readonly jti: string;
  /** Until when the token could be accepted: its `jti` is remembered that long (ISO 8601). */
  readonly expiresAt: string;
}

/** What a login or a refresh was given besides the identity: secrets that stay in the server. */
export interface SignOnGrant {
  /** The refresh token (asked for with `offline_access`); absent when the provider gave none. */
  readonly refreshToken?: string;
  /** How long the ID token lives, in ms (its `exp` minus its `iat`, so no clock is compared). */
  readonly idTokenLifetimeMs: number;
  /**
   * False when the answer said nothing of the groups: a refresh answered without an ID token by a
   * provider without a userinfo endpoint (the session keeps the groups it had).
   */
  readonly groupsRead: boolean;
}

export interface SignedOn {
  readonly identity: SignOnIdentity;
  readonly grant: SignOnGrant;
}

export interface SingleSignOn {
  /** The provider's issuer URL, as configured. */
  readonly issuer: string;
  /** A new login: fresh state, nonce and PKCE verifier, and the provider's URL. */
  start(redirectUri: string): Promise<SignOnStart>;
  /**
   * Finishes a login from the callback address the browser was sent to: checks the state, redeems the
   * code with the PKCE verifier, validates the ID token. Throws OIDC_LOGIN_FAILED (with the reason)
   * when any check fails, OIDC_PROVIDER_UNAVAILABLE when the provider cannot be reached.
   */
  finish(callback: URL, pending: PendingSignOn): Promise<SignedOn>;
  /**
   * The refresh-token grant: a new ID token (its groups read again) and, when the provider rotates
   * it, a new refresh token. Throws SSO_SESSION_REVOKED when the provider refuses the grant (the user
   * or the grant was revoked, the token expired), OIDC_PROVIDER_UNAVAILABLE when it cannot be reached.
   * `subject` is the session's: an ID token for anyone else is refused.
   */
  refresh(refreshToken: string, subject: string): Promise<SignedOn>;
  /** Revokes a refresh token at the provider (RFC 7009); false when the provider offers no revocation. */
  revoke(refreshToken: string): Promise<boolean>;
  /** The provider's end-session endpoint, when it has one. */
  endSessionUrl(): Promise<string | undefined>;
  /**
   * Checks a back-channel logout token (OpenID Connect Back-Channel Logout 1.0): signed by one of the
   * provider's keys (its JWKS), for this client, from this issuer, not expired, the logout event, `sub`
   * or `sid`, a `jti`, no `nonce`. Throws LOGOUT_TOKEN_INVALID naming the check that failed,
   * OIDC_PROVIDER_UNAVAILABLE when the provider's keys cannot be read.
   */
  verifyLogoutToken(token: string): Promise<LogoutClaims>;
}
