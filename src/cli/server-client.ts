// The client of `capstan server` for the CLI: a login kept in a config file (mode 0600), and the
// requests `capstan app`, `capstan audit` and `capstan login` make.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CapstanError, messageOf, type ErrorCode } from '../core/errors.ts';
import type { Application, RequestKind } from '../contracts/application.ts';
import type { AuditPage, SessionInfo, SyncPreview, SyncRequest } from '../contracts/server-api.ts';

/** What `capstan login` stores: the server and a credential (an API token, or a session and its CSRF token). */
export interface ServerLogin {
  readonly server: string;
  readonly credential:
    | { readonly kind: 'token'; readonly token: string }
    | {
        readonly kind: 'session';
        readonly session: string;
        readonly csrf: string;
        readonly expiresAt?: string;
      };
  readonly user: string;
}

export const configPath = (env: NodeJS.ProcessEnv = process.env): string =>
  env['CAPSTAN_CONFIG'] ??
  join(env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'capstan', 'login.json');

export async function readLogin(path = configPath()): Promise<ServerLogin | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as ServerLogin;
  } catch (error) {
    throw new CapstanError(
      'LOGIN_FILE_INVALID',
      `${path} is not valid JSON (${messageOf(error)}): run capstan login again`,
    );
  }
}

/** Writes the login, readable by its owner only (0600, in a 0700 folder). */
export async function writeLogin(login: ServerLogin, path = configPath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

export async function removeLogin(path = configPath()): Promise<void> {
  await rm(path, { force: true });
}

const SESSION_COOKIE = 'capstan_session';

/** Logs in with a password (a session) or checks a token; returns what to store. */
export async function login(
  server: string,
  credential: { readonly password: { user: string; password: string } } | { readonly token: string },
): Promise<ServerLogin> {
  const base = server.replace(/\/+$/, '');
  if ('token' in credential) {
    const client = new ServerClient({
      server: base,
      credential: { kind: 'token', token: credential.token },
      user: '',
    });
    const who = await client.json<SessionInfo>('GET', '/api/v1/session');
    return { server: base, credential: { kind: 'token', token: credential.token }, user: who.user };
  }
  const response = await send(base, 'POST', '/api/v1/session', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: credential.password.user, password: credential.password.password }),
  });
  const body = await answer<SessionInfo>(response, 'POST /api/v1/session');
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const session = cookie.startsWith(`${SESSION_COOKIE}=`) ? cookie.slice(SESSION_COOKIE.length + 1) : '';
  if (session === '' || body.csrfToken === undefined)
    throw new CapstanError(
      'LOGIN_FAILED',
      `${base} answered the login without a session: is it a capstan server?`,
    );
  return {
    server: base,
    credential: {
      kind: 'session',
      session,
      csrf: body.csrfToken,
      ...(body.expiresAt ? { expiresAt: body.expiresAt } : {}),
    },
    user: body.user,
  };
}

export async function send(
  base: string,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string },
): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, { method, ...init, redirect: 'error' });
  } catch (error) {
    throw new CapstanError(
      'SERVER_UNREACHABLE',
      `cannot reach ${base} (${messageOf(error)}): check the address, or run capstan login again`,
      {
        retryable: true,
      },
    );
  }
}

export async function answer<T>(
  response: Response,
  what: string,
  notFound: ErrorCode = 'APPLICATION_NOT_FOUND',
): Promise<T> {
  const text = await response.text();
  if (response.ok) return (text === '' ? undefined : JSON.parse(text)) as T;
  let error = 'HTTP_ERROR';
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { error?: string; message?: string };
    error = body.error ?? error;
    message = body.message ?? message;
  } catch {
    // not JSON: the text as it is
  }
  const hint = response.status === 401 ? ' (run capstan login again)' : '';
  throw new CapstanError(codeOf(response.status, notFound), `${what}: ${message} [${error}]${hint}`, {
    retryable: response.status >= 500,
  });
}

/** The CLI's error code for a refusal of the server, by HTTP status. */
function codeOf(status: number, notFound: ErrorCode): ErrorCode {
  if (status === 401) return 'SERVER_UNAUTHENTICATED';
  if (status === 403) return 'SERVER_FORBIDDEN';
  if (status === 404) return notFound;
  if (status === 409) return 'SERVER_CONFLICT';
  return status >= 500 ? 'SERVER_FAILED' : 'SERVER_REFUSED';
}

/** Requests to the server with a stored login. */
export class ServerClient {
  readonly login: ServerLogin;

  constructor(login: ServerLogin) {
    this.login = login;
  }

  async json<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { readonly notFound?: ErrorCode } = {},
  ): Promise<T> {
    const headers = this.headers(method);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await send(this.login.server, method, path, {
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return answer<T>(response, `${method} ${path}`, options.notFound);
  }

  /** The credential's headers (a session's CSRF token on unsafe methods). */
  headers(method: string): Record<string, string> {
    const { credential } = this.login;
    return credential.kind === 'token'
      ? { authorization: `Bearer ${credential.token}` }
      : {
          cookie: `${SESSION_COOKIE}=${credential.session}`,
          ...(method === 'GET' ? {} : { 'x-csrf-token': credential.csrf }),
        };
  }

  /** Every Application (of one namespace, or all), as objects, page after page. */
  async applications(namespace: string | undefined): Promise<Application[]> {
    const items: Application[] = [];
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ view: 'full', limit: '500' });
      if (namespace !== undefined) query.set('namespace', namespace);
      if (cursor !== undefined) query.set('cursor', cursor);
      const page = await this.json<{ items: Application[]; next?: string }>(
        'GET',
        `/api/v1/applications?${query.toString()}`,
      );
      items.push(...page.items);
      cursor = page.next;
    } while (cursor !== undefined);
    return items;
  }

  application(namespace: string, name: string): Promise<Application> {
    return this.json<Application>(
      'GET',
      `/api/v1/applications/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`,
    );
  }

  /** Asks the agent through the server; answers the annotation value written. */
  request(
    namespace: string,
    name: string,
    kind: RequestKind,
    body: Record<string, unknown>,
  ): Promise<{ annotation: string; value: string }> {
    const path = { sync: 'sync', refresh: 'refresh', rollback: 'rollback', releaseHold: 'release-hold' }[
      kind
    ];
    return this.json(
      'POST',
      `/api/v1/applications/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${path}`,
      body,
    );
  }

  /** A dry run of a sync: what it would do to each resource; nothing is asked of the agent. */
  previewSync(namespace: string, name: string, body: Omit<SyncRequest, 'dryRun'>): Promise<SyncPreview> {
    return this.json<SyncPreview>(
      'POST',
      `/api/v1/applications/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/sync`,
      { ...body, dryRun: true },
    );
  }

  audit(query: Record<string, string>): Promise<AuditPage> {
    return this.json<AuditPage>('GET', `/api/v1/audit?${new URLSearchParams(query).toString()}`);
  }

  async logout(): Promise<void> {
    if (this.login.credential.kind === 'session') await this.json('DELETE', '/api/v1/session');
  }
}
