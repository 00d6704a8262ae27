/**
 * Authentication: the local admin (password hashed with scrypt, generated at first start), sessions
 * (a random secret in a cookie, its SHA-256 digest in the Store, a CSRF token beside it) and API tokens
 * for CI (`capstan_<id>_<secret>`, only the digest stored, with an expiry and a project and role).
 * Every check reads the Store, so a revoked token or a deleted session is refused at the next request.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CapstanError } from '../core/errors.ts';
import type { SessionProvider, SessionRecord, SessionSignOn, Store, TokenRecord } from '../ports/store.ts';
import type { Principal, Role } from './access.ts';
import { generatePassword, hashPassword, verifyPassword } from './passwords.ts';
import { FailureLimiter } from './rate-limit.ts';

export const ADMIN_USER = 'admin';
export const SESSION_COOKIE = 'capstan_session';
export const CSRF_HEADER = 'x-csrf-token';
export const TOKEN_PREFIX = 'capstan_';
export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** The longest a token may live, and the default. */
export const MAX_TOKEN_TTL_MS = 366 * 24 * 60 * 60 * 1000;
export const DEFAULT_TOKEN_TTL_MS = 90 * 24 * 60 * 60 * 1000;
export const LOGIN_LIMIT = { attempts: 5, windowMs: 15 * 60 * 1000 } as const;

export interface AuthenticatorOptions {
  readonly store: Store;
  readonly now: () => number;
  readonly sessionTtlMs?: number;
  /** Failed logins allowed per user name and per client address in a window. Default LOGIN_LIMIT. */
  readonly loginLimit?: { readonly attempts: number; readonly windowMs: number };
}

/** A new session: the secret for its cookie (never stored), its CSRF token and who it is. */
export interface OpenedSession {
  readonly secret: string;
  readonly csrf: string;
  readonly principal: Principal;
  readonly expiresAt: string;
}

export type LoginOutcome =
  | ({ readonly ok: true } & OpenedSession)
  | { readonly ok: false; readonly reason: 'invalid' }
  | { readonly ok: false; readonly reason: 'limited'; readonly retryAfterMs: number };

export interface Session {
  readonly principal: Principal;
  readonly csrf: string;
  readonly expiresAt: string;
}

export interface NewToken {
  readonly name: string;
  readonly project: string;
  readonly role: Role;
  readonly ttlMs: number;
}

const digestOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};
/** A token's text: `capstan_<12 hex id>_<43 base64url secret>`. */
const TOKEN_PATTERN = /^capstan_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export class Authenticator {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #sessionTtlMs: number;
  readonly #limiter: FailureLimiter;

  constructor(options: AuthenticatorOptions) {
    this.#store = options.store;
    this.#now = options.now;
    this.#sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.#limiter = new FailureLimiter({ ...(options.loginLimit ?? LOGIN_LIMIT), now: options.now });
  }

  /**
   * Creates the local admin with a generated password when there is none; the password is returned
   * once, for the caller to show once (a Secret, or the terminal), and never kept in clear.
   */
  async ensureAdmin(): Promise<
    { readonly created: false } | { readonly created: true; readonly password: string }
  > {
    if (await this.#store.users.get(ADMIN_USER)) return { created: false };
    const password = generatePassword();
    // Replicas starting together: the first to create the user wins; the others keep quiet.
    const created = await this.#store.users.create({
      name: ADMIN_USER,
      passwordHash: await hashPassword(password),
      admin: true,
      createdAt: new Date(this.#now()).toISOString(),
    });
    return created ? { created: true, password } : { created: false };
  }

  /** Sets a local user's password (and admin flag). */
  async setPassword(name: string, password: string, options: { admin: boolean }): Promise<void> {
    await this.#store.users.put({
      name,
      passwordHash: await hashPassword(password),
      admin: options.admin,
      createdAt: new Date(this.#now()).toISOString(),
    });
  }

  /** Checks a password; limited per user name and per client address. */
  async login(username: string, password: string, client: string): Promise<LoginOutcome> {
    const keys = [`user:${username}`, `client:${client}`];
    const wait = Math.max(...keys.map((k) => this.#limiter.retryAfterMs(k)));
    if (wait > 0) return { ok: false, reason: 'limited', retryAfterMs: wait };
    const user = await this.#store.users.get(username);
    // A missing user costs a hash too, so timing does not tell which names exist.
    const valid = user
      ? await verifyPassword(password, user.passwordHash)
      : (await verifyPassword(password, DUMMY_HASH), false);
    if (!user || !valid) {
      for (const key of keys) this.#limiter.fail(key);
      return { ok: false, reason: 'invalid' };
    }
    for (const key of keys) this.#limiter.succeed(key);
    return { ok: true, ...(await this.#openSession({ name: user.name, groups: [], admin: user.admin })) };
  }

  /**
   * A session for someone the OIDC provider vouched for (src/api/server/sso.ts checked the ID token):
   * their groups, which the Projects' roles name, kept with the session.
   */
  signedOn(
    user: { name: string; groups: readonly string[]; admin: boolean; provider: SessionProvider },
    signOn?: (digest: string, expiresAt: string) => SessionSignOn | undefined,
  ): Promise<OpenedSession> {
    return this.#openSession(user, signOn);
  }

  async #openSession(
    user: { name: string; groups: readonly string[]; admin: boolean; provider?: SessionProvider },
    signOn?: (digest: string, expiresAt: string) => SessionSignOn | undefined,
  ): Promise<OpenedSession> {
    const secret = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const now = this.#now();
    const expiresAt = new Date(now + this.#sessionTtlMs).toISOString();
    const digest = digestOf(secret);
    const kept = signOn?.(digest, expiresAt);
    await this.#store.sessions.create({
      digest,
      user: user.name,
      groups: [...user.groups],
      admin: user.admin,
      csrf,
      createdAt: new Date(now).toISOString(),
      expiresAt,
      ...(kept === undefined ? {} : { signOn: kept }),
      ...(user.provider === undefined ? {} : { provider: user.provider }),
    });
    return {
      secret,
      csrf,
      expiresAt,
      principal: { kind: 'user', name: user.name, groups: [...user.groups], admin: user.admin },
    };
  }

  /** Ends the session; answers what it was (a single sign-on's refresh token is revoked by the caller). */
  async logout(secret: string): Promise<SessionRecord | undefined> {
    const digest = digestOf(secret);
    const record = await this.#store.sessions.get(digest);
    await this.#store.sessions.delete(digest);
    return record;
  }

  /**
   * The session of a cookie's secret, if it exists and has not expired; `current` brings a single
   * sign-on session up to date first (src/server/sso-sessions.ts: the refresh, or its end).
   */
  async session(
    secret: string,
    current?: (record: SessionRecord) => Promise<SessionRecord>,
  ): Promise<Session | undefined> {
    const found = await this.#store.sessions.get(digestOf(secret));
    if (!found || Date.parse(found.expiresAt) <= this.#now()) return undefined;
    const record = current === undefined ? found : await current(found);
    return {
      principal: { kind: 'user', name: record.user, groups: record.groups, admin: record.admin },
      csrf: record.csrf,
      expiresAt: record.expiresAt,
    };
  }

  /** The principal of a token's text, if it is well-formed, known, not expired and not revoked. */
  async token(text: string): Promise<Principal | undefined> {
    const match = TOKEN_PATTERN.exec(text);
    if (!match?.[1] || !match[2]) return undefined;
    const record = await this.#store.tokens.get(match[1]);
    if (!record || !sameText(record.digest, digestOf(match[2]))) return undefined;
    if (record.revokedAt !== undefined || Date.parse(record.expiresAt) <= this.#now()) return undefined;
    return {
      kind: 'token',
      name: `token:${record.id}`,
      groups: [],
      admin: false,
      scope: { project: record.project, role: record.role },
      owner: record.createdBy,
    };
  }

  /** Creates a token; its text is returned once and only its digest is kept. */
  async createToken(
    createdBy: Principal,
    token: NewToken,
  ): Promise<{ readonly text: string; readonly record: TokenRecord }> {
    if (!(token.ttlMs > 0 && token.ttlMs <= MAX_TOKEN_TTL_MS))
      throw new CapstanError(
        'TOKEN_TTL_INVALID',
        `a token lives from 1 ms to ${MAX_TOKEN_TTL_MS / 86_400_000} days`,
      );
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.#now();
    const record: TokenRecord = {
      id,
      name: token.name,
      digest: digestOf(secret),
      project: token.project,
      role: token.role,
      createdBy: createdBy.kind === 'token' ? (createdBy.owner ?? createdBy.name) : createdBy.name,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + token.ttlMs).toISOString(),
    };
    await this.#store.tokens.create(record);
    return { text: `${TOKEN_PREFIX}${id}_${secret}`, record };
  }
}

/** A hash of a random password: verifying against it costs what a real check costs. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
