/**
 * A real OpenID provider for tests: the npm `oidc-provider` (a certified OpenID Provider), on a
 * loopback port, with one confidential client, users and their groups. Its sign-in pages are the
 * package's own development pages (any password is taken for a known user; an unknown one is
 * refused at the token step). With `refreshTokens` it issues rotating refresh tokens for
 * `offline_access` and offers RFC 7009 revocation; `removeUser` revokes a person (their next refresh
 * is refused, as a provider whose administrator disabled them refuses it). `Browser` drives them as a person would: it follows redirects, keeps
 * cookies per host, and submits the sign-in and consent forms.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

export interface TestUser {
  readonly groups: readonly string[];
  readonly email?: string;
}

export interface OidcProviderOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where the client may be sent back (the server's callback). */
  readonly redirectUris: readonly string[];
  readonly users: Readonly<Record<string, TestUser>>;
  /** Seconds an ID token lives. Default 3600. */
  readonly idTokenTtlSeconds?: number;
  /**
   * Refresh tokens for `offline_access` (the client may use the refresh-token grant; every refresh
   * rotates the token), and a revocation endpoint. Default false: no refresh token, no revocation.
   */
  readonly refreshTokens?: boolean;
  /**
   * `userinfo`: the ID token carries `sub` and the protocol claims only; profile, email and groups come
   * from the userinfo endpoint (as Dex and Okta do by default). Default: in the ID token too.
   */
  readonly claimsIn?: 'idToken' | 'userinfo';
  /**
   * The client's `backchannel_logout_uri` (OpenID Connect Back-Channel Logout, with `sid` required):
   * when a user signs out at the provider (its end-session page), it posts a signed logout token there.
   */
  readonly backchannelLogoutUri?: string;
}

/** A JWT the provider's own key signs (or, with `foreignKey`, another key under the same kid). */
export interface SignOptions {
  readonly foreignKey?: boolean;
  readonly header?: Readonly<Record<string, unknown>>;
}

export interface TestOidcProvider {
  readonly issuer: string;
  /** The user is gone: a refresh or sign-in for them is refused from now on. */
  removeUser(login: string): void;
  /** The user's groups from now on (the next ID token, refreshed or not, carries them). */
  setGroups(login: string, groups: readonly string[]): void;
  /**
   * Signs claims as this provider signs its tokens (RS256, its key): the tests' hostile logout tokens
   * (a wrong audience, a nonce, expired, replayed) are then refused for their claims, not their signature.
   */
  sign(claims: Readonly<Record<string, unknown>>, options?: SignOptions): string;
  stop(): Promise<void>;
}

/** Starts the provider on 127.0.0.1 (a free port); `after` stops it. */
export async function startOidcProvider(
  options: OidcProviderOptions,
  after: (fn: () => Promise<void>) => void,
): Promise<TestOidcProvider> {
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(503).end();
  };
  const server = createServer((req, res) => {
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const users = new Map<string, TestUser>(Object.entries(options.users));
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const provider = new Provider(issuer, configuration(options, users, key));
  const callback = provider.callback();
  handle = (req, res) => {
    void callback(req, res);
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        resolve();
      });
    });
  after(stop);
  return {
    issuer,
    removeUser: (login) => {
      users.delete(login);
    },
    setGroups: (login, groups) => {
      const user = users.get(login);
      if (user !== undefined) users.set(login, { ...user, groups: [...groups] });
    },
    sign: (claims, signOptions = {}) => {
      const signer =
        signOptions.foreignKey === true
          ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
          : key;
      const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const signed = `${part({ alg: 'RS256', kid: KEY_ID, typ: 'logout+jwt', ...signOptions.header })}.${part(claims)}`;
      return `${signed}.${sign('sha256', Buffer.from(signed), signer).toString('base64url')}`;
    },
    stop,
  };
}

const KEY_ID = 'test-key';

function configuration(
  options: OidcProviderOptions,
  users: ReadonlyMap<string, TestUser>,
  privateKey: KeyObject,
): Configuration {
  const refresh = options.refreshTokens === true;
  const key = privateKey.export({ format: 'jwk' });
  const backchannel = options.backchannelLogoutUri;
  return {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: [...options.redirectUris],
        grant_types: refresh ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        ...(backchannel === undefined
          ? {}
          : { backchannel_logout_uri: backchannel, backchannel_logout_session_required: true }),
      },
    ],
    jwks: { keys: [{ ...key, kid: KEY_ID, use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email'],
      groups: ['groups'],
    },
    // The scopes' claims in the ID token too (as Dex, Keycloak and Okta can be set to), unless
    // `claimsIn: userinfo`: then only at the userinfo endpoint, as the specification has it.
    conformIdTokenClaims: options.claimsIn === 'userinfo',
    ...(refresh ? { rotateRefreshToken: true } : {}),
    pkce: { required: () => true },
    ttl: {
      IdToken: options.idTokenTtlSeconds ?? 3600,
      AuthorizationCode: 60,
      AccessToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 3600,
    },
    // Its outgoing requests (the back-channel logout) go to the test's server on loopback: the package
    // refuses special-use addresses (loopback among them) through its own dispatcher, and gives up
    // after 2.5 s, too short on a loaded test machine. Here they go out as plain fetches of 30 s.
    fetch: (url, init) => {
      const {
        dispatcher: _loopbackRefused,
        signal: _short,
        ...rest
      } = init as RequestInit & {
        dispatcher?: unknown;
      };
      return globalThis.fetch(url, { ...rest, signal: AbortSignal.timeout(30_000) });
    },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: refresh },
      backchannelLogout: { enabled: backchannel !== undefined },
    },
    findAccount: (_ctx, id) => {
      const user = users.get(id);
      if (user === undefined) return undefined;
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          preferred_username: id,
          name: id,
          ...(user.email === undefined ? {} : { email: user.email }),
          groups: [...user.groups],
        }),
      };
    },
  };
}

export interface BrowserPage {
  readonly url: string;
  readonly status: number;
  readonly body: string;
  readonly headers: Headers;
}

/**
 * A minimal browser: cookies per host (Path and SameSite are not modelled), redirects followed, the
 * provider's sign-in and consent forms submitted as `login`. It stops at the first page that is not
 * a redirect, or before visiting an address `stopAt` accepts (that address is returned, unvisited).
 */
export class Browser {
  readonly #jar = new Map<string, Map<string, string>>();
  readonly #login: string;

  constructor(options: { readonly login: string }) {
    this.#login = options.login;
  }

  async open(start: string, options: { stopAt?: (url: URL) => boolean } = {}): Promise<BrowserPage> {
    let next: { url: string; init: RequestInit } = { url: start, init: {} };
    for (let hop = 0; hop < 20; hop++) {
      const url = new URL(next.url);
      if (options.stopAt?.(url) === true)
        return { url: url.href, status: 0, body: '', headers: new Headers() };
      const page = await this.request(url, next.init);
      const location = page.headers.get('location');
      if (page.status >= 300 && page.status < 400 && location !== null) {
        next = { url: new URL(location, url).href, init: {} };
        continue;
      }
      const form = signInForm(page.body, url);
      if (form === undefined) return page;
      const fields = new URLSearchParams({ prompt: form.prompt });
      if (form.prompt === 'login') {
        fields.set('login', this.#login);
        fields.set('password', 'any');
      }
      next = {
        url: form.action,
        init: {
          method: 'POST',
          body: fields.toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
      };
    }
    throw new Error(`too many redirects from ${start}`);
  }

  /** One request with this browser's cookies; the answer's cookies are kept. */
  async request(url: URL, init: RequestInit = {}): Promise<BrowserPage> {
    const jar = this.#jar.get(url.host) ?? new Map<string, string>();
    this.#jar.set(url.host, jar);
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line) || /expires=thu, 01 jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    return { url: url.href, status: response.status, body: await response.text(), headers: response.headers };
  }

  /**
   * Signs out at the provider, as a person on its end-session page who answers yes (OpenID Connect
   * RP-Initiated Logout); the provider posts its back-channel logout tokens before it answers.
   */
  async signOut(issuer: string, clientId: string): Promise<BrowserPage> {
    const page = await this.request(
      new URL(`${issuer}/session/end?client_id=${encodeURIComponent(clientId)}`),
    );
    const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(page.body)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1];
    if (action === undefined || xsrf === undefined)
      throw new Error(`no logout form at the provider (${page.status}): ${page.body.slice(0, 200)}`);
    return this.request(new URL(action.replaceAll('&amp;', '&'), issuer), {
      method: 'POST',
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  /** The value of a cookie this browser holds for `host`. */
  cookie(host: string, name: string): string | undefined {
    return this.#jar.get(host)?.get(name);
  }

  /** Sets (or with undefined, removes) a cookie, as another tab or an attacker's page might. */
  setCookie(host: string, name: string, value: string | undefined): void {
    const jar = this.#jar.get(host) ?? new Map<string, string>();
    this.#jar.set(host, jar);
    if (value === undefined) jar.delete(name);
    else jar.set(name, value);
  }
}

/** The provider's development sign-in or consent form on a page, if there is one. */
function signInForm(body: string, base: URL): { action: string; prompt: string } | undefined {
  const action = /<form[^>]*action="([^"]+)"/.exec(body)?.[1];
  const prompt = /name="prompt" value="([a-z]+)"/.exec(body)?.[1];
  if (action === undefined || prompt === undefined) return undefined;
  return { action: new URL(action.replaceAll('&amp;', '&'), base).href, prompt };
}
