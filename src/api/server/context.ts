/**
 * What every route of the server API shares: its options (the services it is built on), the route
 * table the OpenAPI document is generated from, authentication before the handler, and how errors
 * become answers (a stable code and a message; never a stack, a secret or a 500 that says why).
 */
import type { ResolvedEnvironment } from '../../contracts/environment.ts';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CapstanError, messageOf, type ErrorCode } from '../../core/errors.ts';
import { errorBody } from '../error-body.ts';
import { ErrorBodySchema, type ClusterInfo, type EventInfo } from '../../contracts/server-api.ts';
import type { ApplicationWriter } from '../../ports/application-writer.ts';
import type { Logger } from '../../ports/logger.ts';
import type { PromotionMetrics } from '../../promotions/promotion-driver.ts';
import type { PipelineDirectory, PipelineFileReader } from '../../ports/pipelines.ts';
import type { SingleSignOn } from '../../ports/single-sign-on.ts';
import type { GitCredentials, SourceFetcher } from '../../ports/source.ts';
import type {
  Actor,
  AuditEntryInput,
  AuditResult,
  ChangeSummary,
  RunRecord,
  Store,
} from '../../ports/store.ts';
import {
  authorize,
  type Decision,
  type Permission,
  type Principal,
  type ProjectDirectory,
} from '../../server/access.ts';
import type { ApplicationIndex } from '../../server/application-index.ts';
import { CSRF_HEADER, SESSION_COOKIE, type Authenticator } from '../../server/auth.ts';
import type { CursorCodec } from '../../server/cursor.ts';
import type { ResourceViews } from '../../server/resource-views.ts';
import type { Sealer } from '../../server/sealed.ts';
import { SignOnSessions } from '../../server/sso-sessions.ts';

/** Single sign-on with an OpenID provider (src/api/server/sso.ts). */
export interface SsoOptions {
  readonly signOn: SingleSignOn;
  /** Seals a login's pending checks into its cookie, with a key every replica shares. */
  readonly sealer: Sealer;
  /** The address browsers reach this server at (https://capstan.example.com): the provider's callback is below it. */
  readonly publicUrl: string;
  /** Members of these groups are global admins. Default none: roles come from the Projects. */
  readonly adminGroups: readonly string[];
}

/** The cluster's Environments, resolved with their defaults (those the contract refuses are left out). */
export interface EnvironmentDirectory {
  list(): Promise<readonly ResolvedEnvironment[]>;
  get(namespace: string, name: string): Promise<ResolvedEnvironment | undefined>;
  /**
   * Writes the Environment's status from the Store after a promotion by hand, an approval or a
   * rejection: the replica that drives promotions, and every replica's event stream, hear of it.
   */
  promotionChanged?(namespace: string, name: string): Promise<void>;
}

export interface ServerApiOptions {
  /** The watch cache of Applications every read comes from. */
  readonly applications: ApplicationIndex;
  /** Changes to Applications (annotations, finalizers, apply, delete), with the server's identity. */
  readonly writer: ApplicationWriter;
  readonly projects: ProjectDirectory;
  /** Registered destination clusters, without credentials. */
  readonly clusters: () => Promise<readonly ClusterInfo[]>;
  /** Kubernetes Events about one Application, newest last. */
  readonly events: (namespace: string, name: string) => Promise<readonly EventInfo[]>;
  /** Live and desired manifests, diffs and Events of one resource of an Application. */
  readonly resources: ResourceViews;
  /** ls-remote for a repository connection test (the agent's git adapter and host policy). */
  readonly repositories: Pick<SourceFetcher, 'resolve'>;
  /** The git credentials of a Secret (as the agent reads an Application's secretRef), for a connection test. */
  readonly repositorySecrets?: (namespace: string, name: string) => Promise<GitCredentials>;
  readonly auth: Authenticator;
  readonly store: Store;
  readonly cursors: CursorCodec;
  readonly now: () => number;
  /** Cookies with the Secure attribute (set when the server is behind TLS). */
  readonly secureCookies: boolean;
  /** Readiness: the watch cache has listed once, the store answers. */
  readonly ready?: () => { ready: boolean; reason?: string };
  /**
   * Pipeline run actions: a re-run is a request on the Pipeline (any replica); a cancel is taken by
   * the process that drives runs (`elsewhere`: not this one now). Absent: 503 on both.
   */
  readonly pipelineRuns?: {
    readonly rerun: (run: RunRecord, by: string) => Promise<void>;
    readonly cancel: (id: string, by: string) => Promise<RunRecord | 'elsewhere' | undefined>;
    /** Approves a run of a pull request from a fork that waits (the driver's, as a cancel). */
    readonly approve: (
      id: string,
      by: string,
    ) => Promise<RunRecord | 'elsewhere' | 'not-waiting' | undefined>;
    /** Revokes a fork author's approval for a Pipeline (false: they were not approved). */
    readonly revoke: (
      pipeline: { readonly namespace: string; readonly name: string },
      login: string,
      by: string,
    ) => Promise<boolean | 'elsewhere' | undefined>;
  };
  /** The cluster's Environments (docs/promotions.md). Absent: those routes answer 503. */
  readonly environments?: EnvironmentDirectory;
  /** The cluster's Pipelines (list, one, runs by hand). Absent: those routes answer 503. */
  readonly pipelines?: PipelineDirectory;
  /** Reads pipeline files for `GET /pipelines/NS/NAME/triggers`. Absent: that route answers 503. */
  readonly pipelineFiles?: PipelineFileReader;
  /** Prometheus text for `/metrics` (the process's registry: pipeline runs and steps, promotions); absent: no route. */
  readonly metrics?: () => string;
  /** Told of the promotions this API records and decides (requests by hand, approvals, rejections). */
  readonly promotionMetrics?: PromotionMetrics;
  /** Structured JSON log lines; never carries a secret, a password, a token or a body. */
  readonly logger?: Logger;
  /** The largest request body, in bytes. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** Interval of the event stream's keep-alive comments. Default 15 s. */
  readonly heartbeatMs?: number;
  /** OIDC single sign-on; absent: local users and tokens only. */
  readonly sso?: SsoOptions;
}

/** The one media type besides JSON a route may take (only the routes that declare it). */
export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

/** A route as the OpenAPI document describes it. */
export interface RouteDoc {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly url: string;
  readonly summary: string;
  readonly tag: string;
  /** `public`: no credentials; `authenticated`: any; else checked per project by the handler. */
  readonly access: 'public' | 'authenticated' | Permission;
  readonly params?: TSchema;
  readonly query?: TSchema;
  readonly body?: TSchema;
  /** The body's media type when it is not JSON (the back-channel logout's form). Default application/json. */
  readonly bodyType?: typeof FORM_MEDIA_TYPE;
  /** Status → schema of the answer (undefined: no body). */
  readonly responses: Readonly<
    Record<number, { readonly description: string; readonly schema?: TSchema; readonly type?: string }>
  >;
}

/** An answer that is not a success: thrown by handlers, turned into the JSON error body. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly extra: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    extra: Record<string, string> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.headers = headers;
  }
}

/** A request after authentication: who is calling, and how. */
export interface Caller {
  readonly principal: Principal;
  /** The session's secret (for logout); absent for a token. */
  readonly sessionSecret?: string;
  readonly csrf?: string;
  readonly expiresAt?: string;
}

/** The caller of a route that needs one: a 401 when the request carries no session or token. */
export const need = (caller: Caller | undefined): Caller => {
  if (!caller) throw new HttpError(401, 'UNAUTHENTICATED', 'log in first');
  return caller;
};

export interface Handler {
  (request: FastifyRequest, reply: FastifyReply, caller: Caller | undefined): Promise<unknown>;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Registers the routes of the server API and keeps their documentation. */
export class Routes {
  readonly docs: RouteDoc[] = [];
  readonly #app: FastifyInstance;
  readonly #options: ServerApiOptions;
  readonly #callers = new WeakMap<FastifyRequest, Caller>();
  /** Single sign-on sessions refreshed with the provider's refresh token (when one is configured). */
  readonly signOnSessions: SignOnSessions | undefined;

  constructor(app: FastifyInstance, options: ServerApiOptions) {
    this.#app = app;
    this.#options = options;
    this.signOnSessions =
      options.sso === undefined
        ? undefined
        : new SignOnSessions({
            signOn: options.sso.signOn,
            sealer: options.sso.sealer,
            store: options.store,
            now: options.now,
            adminGroups: options.sso.adminGroups,
            ...(options.logger === undefined ? {} : { logger: options.logger }),
          });
  }

  add(given: RouteDoc, handler: Handler): void {
    const doc = withCommonAnswers(given);
    this.docs.push(doc);
    this.#app.route({
      method: doc.method,
      url: doc.url,
      schema: {
        ...(doc.params ? { params: doc.params } : {}),
        ...(doc.query ? { querystring: doc.query } : {}),
        ...(doc.body ? { body: doc.body } : {}),
      },
      // Before the body is read or validated: without credentials, 401 whatever the body.
      onRequest: async (request) => {
        if (doc.access !== 'public') this.#callers.set(request, await this.#authenticate(request));
        const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
        if (doc.bodyType !== undefined && type !== doc.bodyType)
          throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `send ${doc.bodyType}`);
      },
      handler: async (request, reply) => {
        const result = await handler(request, reply, this.#callers.get(request));
        if (reply.sent) return reply;
        return result;
      },
    });
  }

  /** Bearer token, or session cookie (plus its CSRF token on unsafe methods); else 401. */
  async #authenticate(request: FastifyRequest): Promise<Caller> {
    const { auth } = this.#options;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const principal = match?.[1] === undefined ? undefined : await auth.token(match[1]);
      if (!principal)
        throw new HttpError(
          401,
          'UNAUTHENTICATED',
          'the token is unknown, expired or revoked: log in again or create a new token',
        );
      return { principal };
    }
    const secret = cookieOf(request.headers.cookie, SESSION_COOKIE);
    if (secret === undefined)
      throw new HttpError(
        401,
        'UNAUTHENTICATED',
        'log in first (POST /api/v1/session) or send an API token (Authorization: Bearer …)',
      );
    const session = await this.#session(secret);
    if (!session)
      throw new HttpError(401, 'UNAUTHENTICATED', 'the session has expired or ended: log in again');
    if (UNSAFE.has(request.method)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameText(sent, session.csrf))
        throw new HttpError(
          403,
          'CSRF_TOKEN_MISSING',
          `a session's unsafe request needs its CSRF token in the ${CSRF_HEADER} header (from POST or GET /api/v1/session)`,
        );
    }
    return {
      principal: session.principal,
      sessionSecret: secret,
      csrf: session.csrf,
      expiresAt: session.expiresAt,
    };
  }

  /** A session by its secret, a single sign-on one refreshed when due; the provider out of reach is 503. */
  async #session(secret: string) {
    const sessions = this.signOnSessions;
    try {
      return await this.#options.auth.session(
        secret,
        sessions === undefined ? undefined : (record) => sessions.current(record),
      );
    } catch (error) {
      if (error instanceof CapstanError && error.code === 'OIDC_PROVIDER_UNAVAILABLE')
        throw new HttpError(503, 'OIDC_PROVIDER_UNAVAILABLE', error.message);
      throw error;
    }
  }
}

const errorAnswer = (description: string) => ({ description, schema: ErrorBodySchema });

/** The answers every route may give, documented once: bad input for a body, 401 when secured, 503 when the store is down. */
function withCommonAnswers(doc: RouteDoc): RouteDoc {
  const common: RouteDoc['responses'] = {
    ...(doc.body || doc.query || doc.params
      ? { 400: errorAnswer('bad input: malformed JSON, an unknown field, a wrong value') }
      : {}),
    ...(doc.body
      ? {
          413: errorAnswer('the body is too large'),
          415: errorAnswer(
            doc.bodyType === undefined ? 'the body is not JSON' : `the body is not ${doc.bodyType}`,
          ),
        }
      : {}),
    ...(doc.access === 'public' ? {} : { 401: errorAnswer('no session or token, or an expired one') }),
    ...(doc.access === 'public' || doc.method === 'GET'
      ? {}
      : { 403: errorAnswer('a permission is missing, or the CSRF token') }),
    // Node answers it before any route (app.ts, answerClientError): a query string or cookies too long.
    431: errorAnswer('the request headers (query string, cookies) pass Node’s limit of 16 KiB'),
    503: errorAnswer(
      'the store or the cluster is unavailable (or the OpenID provider, when a single sign-on session is due for its refresh)',
    ),
  };
  return { ...doc, responses: { ...common, ...doc.responses } };
}

function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The session cookie (HttpOnly, SameSite=Strict, Secure under TLS); an empty value and 0 clear it. */
export function sessionCookie(options: ServerApiOptions, value: string, maxAgeSeconds: number): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeSeconds}`,
    ...(options.secureCookies ? ['Secure'] : []),
  ].join('; ');
}

/** The value of one cookie in a Cookie header. */
export function cookieOf(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export const actorOf = (principal: Principal | undefined, fallback = 'anonymous'): Actor =>
  principal === undefined
    ? { kind: 'anonymous', name: fallback }
    : { kind: principal.kind, name: principal.name };

/** Writes one audit entry; a store that fails is logged (the action's answer stands). */
export async function audit(
  options: ServerApiOptions,
  entry: Omit<AuditEntryInput, 'time' | 'result'> & { result: AuditResult; changes?: ChangeSummary },
): Promise<void> {
  try {
    await options.store.audit.append({ ...entry, time: new Date(options.now()).toISOString() });
  } catch (error) {
    options.logger?.({
      level: 'error',
      msg: 'audit entry not written',
      action: entry.action,
      target: entry.target,
      error: messageOf(error),
    });
  }
}

/** Refuses with 403 (and audits the refusal) unless the caller holds `permission` in `project`. */
export async function requirePermission(
  options: ServerApiOptions,
  caller: Caller,
  permission: Permission,
  project: string,
  audited?: { action: string; target: string },
): Promise<void> {
  const decision: Decision = authorize(caller.principal, permission, project, options.projects);
  if (decision.allowed) return;
  if (audited)
    await audit(options, {
      actor: actorOf(caller.principal),
      action: audited.action,
      target: audited.target,
      project,
      result: 'denied',
      reason: decision.message,
    });
  throw new HttpError(403, 'FORBIDDEN', decision.message, {
    permission: decision.permission,
    project: decision.project,
  });
}

/** The status and body of an error, whatever threw it. */
export function answerOf(
  error: unknown,
  maxBodyBytes: number,
): { status: number; body: Record<string, string>; headers: Record<string, string>; log: boolean } {
  if (error instanceof HttpError)
    return {
      status: error.status,
      body: errorBody(error.code, error.message, error.extra),
      headers: error.headers,
      log: false,
    };
  if (error instanceof CapstanError) {
    const status = STATUS_OF_CODE[error.code] ?? (error.retryable ? 503 : 500);
    const message = status === 500 ? 'the server failed; see its log' : error.message;
    return { status, body: errorBody(error.code, message), headers: {}, log: status >= 500 };
  }
  const fastifyError = error as {
    code?: string;
    statusCode?: number;
    validation?: unknown;
    message?: string;
  };
  if (fastifyError.validation !== undefined)
    return {
      status: 400,
      body: errorBody('INVALID_REQUEST', messageOf(error)),
      headers: {},
      log: false,
    };
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        body: errorBody('BODY_TOO_LARGE', `the body is larger than ${maxBodyBytes} bytes`),
        headers: {},
        log: false,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        body: errorBody('UNSUPPORTED_MEDIA_TYPE', 'send JSON (Content-Type: application/json)'),
        headers: {},
        log: false,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return {
        status: 400,
        body: errorBody('MALFORMED_JSON', `the body is not valid JSON: ${messageOf(error)}`),
        headers: {},
        log: false,
      };
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400)
    return {
      status: 400,
      body: errorBody('MALFORMED_JSON', `the body is not valid JSON: ${messageOf(error)}`),
      headers: {},
      log: false,
    };
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  )
    return {
      status: fastifyError.statusCode,
      body: errorBody('BAD_REQUEST', messageOf(error)),
      headers: {},
      log: false,
    };
  return {
    status: 500,
    body: errorBody('INTERNAL', 'the server failed; see its log'),
    headers: {},
    log: true,
  };
}

/** HTTP status of the CapstanError codes the services throw. */
const STATUS_OF_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
  PROMOTION_IMAGE_INVALID: 400,
  PROMOTION_STATE: 409,
  CURSOR_INVALID: 400,
  CURSOR_MISMATCH: 400,
  CURSOR_EXPIRED: 400,
  LABEL_SELECTOR_INVALID: 400,
  TOKEN_TTL_INVALID: 400,
  KUBE_NOT_FOUND: 404,
  KUBE_CONFLICT: 409,
  KUBE_INVALID: 422,
  KUBE_IMMUTABLE: 422,
  KUBE_BAD_REQUEST: 400,
  KUBE_FORBIDDEN: 502,
  KUBE_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  RESOURCE_NOT_MANAGED: 404,
  SYNC_SELECTION_NOT_FOUND: 422,
  POD_CONTAINER_INVALID: 400,
  POD_NOT_ON_REAL_NODE: 409,
  POD_LOGS_UNAVAILABLE: 502,
  SOURCE_BAD_CREDENTIALS: 400,
  DESIRED_STATE_UNAVAILABLE: 502,
  OIDC_LOGIN_FAILED: 401,
  OIDC_PROVIDER_UNAVAILABLE: 502,
  SSO_SESSION_REVOKED: 401,
  LOGOUT_TOKEN_INVALID: 400,
  LOGOUT_TOKEN_REPLAYED: 400,
};
