/**
 * Single sign-on through an OpenID Connect provider: the authorization code flow with PKCE. The server
 * (src/api/server/sso.ts) keeps a login's pending checks (state, nonce, PKCE verifier) in a sealed
 * cookie and asks this port to build the provider's URL and to finish the login from the callback;
 * the adapter (src/adapters/oidc) uses a certified client library. A finished login is an identity
 * with its groups, which the Projects' roles name.
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
  /** The groups claim (absent: none). */
  readonly groups: readonly string[];
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
  finish(callback: URL, pending: PendingSignOn): Promise<SignOnIdentity>;
  /** The provider's end-session endpoint, when it has one. */
  endSessionUrl(): Promise<string | undefined>;
}
