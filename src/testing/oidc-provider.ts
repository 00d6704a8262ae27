/**
 * A real OpenID provider for tests: the npm `oidc-provider` (a certified OpenID Provider), on a
 * loopback port, with one confidential client, users and their groups. Its sign-in pages are the
 * package's own development pages (any password is taken for a known user; an unknown one is
 * refused at the token step). With `refreshTokens` it issues rotating refresh tokens for
 * `offline_access` and offers RFC 7009 revocation; `removeUser` revokes a person (their next refresh
 * is refused, as a provider whose administrator disabled them refuses it). `Browser` drives them as a person would: it follows redirects, keeps
 * cookies per host, and submits the sign-in and consent forms.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
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
}

export interface TestOidcProvider {
  readonly issuer: string;
  /** The user is gone: a refresh or sign-in for them is refused from now on. */
  removeUser(login: string): void;
  /** The user's groups from now on (the next ID token, refreshed or not, carries them). */
  setGroups(login: string, groups: readonly string[]): void;
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
  const provider = new Provider(issuer, configuration(options, users));
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
    stop,
  };
}

function configuration(options: OidcProviderOptions, users: ReadonlyMap<string, TestUser>): Configuration {
  const refresh = options.refreshTokens === true;
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: [...options.redirectUris],
        grant_types: refresh ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...key, kid: 'test-key', use: 'sig', alg: 'RS256' }] },
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
    features: { devInteractions: { enabled: true }, revocation: { enabled: refresh } },
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
