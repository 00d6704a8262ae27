/**
 * The agent's HTTP surface: liveness, readiness, Prometheus metrics, and the webhook receivers that
 * turn a push on a git host into a refresh of the Applications of that repository. It builds a
 * Fastify app and never listens by itself (DESIGN.md): the caller calls `listen()`, tests `inject()`.
 *
 * A webhook goes through these steps, and stops at the first that refuses it:
 *   1. before the body is read: the provider (from the route or the headers), its secret (none
 *      configured → 403), a credential header (none → 401), a token compared at once (gitlab,
 *      generic), the Content-Type (→ 415);
 *   2. the body, read as bytes up to `maxBodyBytes` (→ 413); the HMAC of those raw bytes (→ 401);
 *   3. a body seen in the last 10 minutes, by its sha256 whatever the delivery id (→ 202, ignored);
 *      an event other than a push or a pull request (→ 202, ignored; a ping → 200, pong);
 *   4. only then the JSON, bounded in depth (→ 400), and the refresh events it describes (→ 400);
 *      for a pull request, its event (a field missing or malformed → 400; an action that changes no
 *      code → 202, ignored);
 *   5. `refresh` for each event (→ 200 with the Applications queued; a failure → 500); for a pull
 *      request, `pullRequest` (→ 200 with the Pipelines asked to run).
 * Secrets, tokens, signatures and bodies are never logged or echoed.
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import {
  fastify,
  type ConnectionError,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { messageOf } from '../core/errors.ts';
import { DeliveryCache } from './delivery-cache.ts';
import {
  WEBHOOK_PROVIDERS,
  type PullRequestEvent,
  type RefreshEvent,
  type WebhookProvider,
  type WebhookSecrets,
} from '../contracts/webhook-event.ts';
import {
  credentialOf,
  deliveryIdOf,
  detectProvider,
  displayHeader,
  eventOf,
  headerOf,
  type WebhookCredential,
} from './webhook-headers.ts';
import { formPayload, parseJsonBounded, refreshEventsOf, type EventsResult } from './webhook-payload.ts';
import { pullRequestEventOf } from './webhook-pull-request.ts';
import { secretsFor, verifyCredential } from './webhook-verify.ts';
import type { LogLine, Logger } from '../ports/logger.ts';
import { errorBody } from './error-body.ts';

export type {
  PullRequestEvent,
  RefreshEvent,
  WebhookProvider,
  WebhookSecrets,
} from '../contracts/webhook-event.ts';
export { MAX_CHANGED_PATHS, WEBHOOK_PROVIDERS } from '../contracts/webhook-event.ts';

export interface AgentApiOptions {
  /** Prometheus text (src/controller/metrics.ts `Registry.expose()`). */
  readonly metrics: () => string;
  /** Readiness: not being the leader is still ready; caches not synced is not. */
  readonly ready: () => { ready: boolean; reason?: string };
  /**
   * Queues a refresh of the Applications the event matches, and requests runs of the Pipelines of
   * the repository; resolves with their names (`namespace/name`).
   */
  readonly refresh: (event: RefreshEvent) => Promise<{ applications: string[]; pipelines?: string[] }>;
  /**
   * Requests runs of the Pipelines of the repository for a pull request opened, pushed to or
   * reopened; resolves with their names. Absent: pull request events are acknowledged and ignored.
   */
  readonly pullRequest?: (event: PullRequestEvent) => Promise<{ pipelines: string[]; reason?: string }>;
  /** The shared secret of each provider, read by the caller from a Secret; never logged. */
  readonly webhookSecrets: () => Promise<WebhookSecrets>;
  /** Structured JSON logs, one object per line (`level`, `msg`, fields). */
  readonly logger?: Logger;
  /** The largest webhook body accepted, in bytes. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Time to receive a whole request (headers and body), in ms; then 408 and close. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Time a connection may stay silent, in ms; then it is closed. Default 10 s. */
  readonly connectionTimeoutMs?: number;
  /** How long a delivery id is remembered to ignore replays, in ms. Default 10 minutes. */
  readonly replayWindowMs?: number;
  /** The clock of the replay window, in ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Told the outcome of every webhook delivery (for metrics). */
  readonly onWebhook?: (outcome: WebhookOutcome) => void;
  /**
   * Which routes this app serves: the probes (`/healthz`, `/readyz`), `/metrics`, the webhooks. Default
   * all; the agent gives webhooks a port of their own, so that the port exposed to providers serves
   * nothing else and the metrics port no webhooks.
   */
  readonly serve?: { readonly probes?: boolean; readonly metrics?: boolean; readonly webhooks?: boolean };
}

/** What became of one webhook delivery. */
export interface WebhookOutcome {
  readonly provider: WebhookProvider | 'unknown';
  readonly result: 'queued' | 'pong' | 'ignored' | 'replayed' | 'refused' | 'invalid' | 'failed';
  readonly status: number;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000;
/** The Content-Type of the Prometheus text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export const WEBHOOK_ROUTE = '/api/v1/webhooks/git';
export const webhookRouteOf = (provider: WebhookProvider): string => `/api/v1/webhooks/${provider}`;

/** Builds the app; the caller calls `listen()` (or `inject()` in tests) and `close()`. */
export function buildAgentApi(options: AgentApiOptions): FastifyInstance {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const app = fastify({
    logger: false,
    requestIdHeader: false,
    bodyLimit: maxBodyBytes,
    connectionTimeout: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    requestTimeout,
    // Node checks request timeouts every `connectionsCheckingInterval` (30 s by default): check
    // often enough that the limit holds, and give the headers no more time than the whole request.
    http: {
      requestTimeout,
      headersTimeout: requestTimeout,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))),
    },
    clientErrorHandler: (error, socket) => {
      answerClientError(error, socket, requestTimeout, options.logger);
    },
  });

  // Bodies stay bytes until their signature is checked: no parser runs before the handler.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/x-www-form-urlencoded'],
    { parseAs: 'buffer', bodyLimit: maxBodyBytes },
    (_request, body, done) => {
      done(null, body);
    },
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const answer = refusalOfFrameworkError(error, maxBodyBytes);
    if (answer.status >= 500) {
      safeLog(options.logger, {
        level: 'error',
        msg: 'http',
        url: request.routeOptions.url,
        error: messageOf(error),
      });
    }
    void reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).send(errorBody('NOT_FOUND', 'no such route'));
  });

  const serve = { probes: true, metrics: true, webhooks: true, ...options.serve };
  if (serve.probes) registerProbes(app, options);
  if (serve.metrics) registerMetrics(app, options);
  if (serve.webhooks) {
    const webhooks = new WebhookReceiver(
      options,
      new DeliveryCache(options.replayWindowMs === undefined ? {} : { windowMs: options.replayWindowMs }),
    );
    webhooks.register(app, WEBHOOK_ROUTE, undefined);
    for (const provider of WEBHOOK_PROVIDERS) {
      webhooks.register(app, webhookRouteOf(provider), provider);
    }
  }
  return app;
}

/** `/healthz` (the event loop runs), `/readyz` (the caller says). */
function registerProbes(app: FastifyInstance, options: AgentApiOptions): void {
  app.get('/healthz', (_request, reply) => {
    void reply.code(200).send({ status: 'ok' });
  });
  app.get('/readyz', (_request, reply) => {
    let state: { ready: boolean; reason?: string };
    try {
      state = options.ready();
    } catch (error) {
      safeLog(options.logger, { level: 'warn', msg: 'readiness check failed', error: messageOf(error) });
      state = { ready: false, reason: 'the readiness check failed' };
    }
    if (state.ready) {
      void reply.code(200).send({ status: 'ready' });
    } else {
      void reply.code(503).send({ status: 'not ready', reason: state.reason ?? 'not ready' });
    }
  });
}

/** `/metrics` (the caller's registry). */
function registerMetrics(app: FastifyInstance, options: AgentApiOptions): void {
  app.get('/metrics', (_request, reply) => {
    let text: string;
    try {
      text = options.metrics();
    } catch (error) {
      safeLog(options.logger, { level: 'error', msg: 'metrics failed', error: messageOf(error) });
      void reply.code(500).send(errorBody('METRICS_FAILED', 'the metrics could not be collected'));
      return;
    }
    void reply.code(200).type(METRICS_CONTENT_TYPE).send(text);
  });
}

/** How a request is answered: status, JSON body, outcome, and the fields its log line adds. */
interface Answer {
  readonly status: number;
  readonly result: WebhookOutcome['result'];
  readonly body: Readonly<Record<string, unknown>>;
  readonly log?: Readonly<Record<string, unknown>>;
}

/** A refusal: a stable code and a message that says what to change (never a stack or a secret). */
function refusal(status: number, code: string, result: WebhookOutcome['result'], message: string[]): Answer {
  const text = message.join(' ');
  return { status, result, body: { error: code, message: text }, log: { error: code, reason: text } };
}

/** An acknowledgement without a refresh (a ping, a replay, another event). */
function acknowledged(status: number, result: WebhookOutcome['result'], reason?: string): Answer {
  return reason === undefined
    ? { status, result, body: { status: result } }
    : { status, result, body: { status: 'ignored', reason }, log: { reason } };
}

/** What the first step learned about a delivery, kept for the handler. */
interface Admitted {
  readonly provider: WebhookProvider;
  readonly credential: WebhookCredential;
  readonly secrets: readonly string[];
  readonly event: string | undefined;
  readonly deliveryId: string | undefined;
  /** The body is `payload=<JSON>` (GitHub's form delivery) rather than JSON. */
  readonly form: boolean;
}

/** A delivery refused before its body was read. */
interface Refused {
  readonly provider: WebhookProvider | 'unknown';
  readonly answer: Answer;
}

class WebhookReceiver {
  readonly #options: AgentApiOptions;
  readonly #deliveries: DeliveryCache;
  readonly #admitted = new WeakMap<FastifyRequest, Admitted>();
  readonly #started = new WeakMap<FastifyRequest, number>();
  readonly #now: () => number;

  constructor(options: AgentApiOptions, deliveries: DeliveryCache) {
    this.#options = options;
    this.#deliveries = deliveries;
    this.#now = options.now ?? Date.now;
  }

  /** One POST route; `provider` undefined detects it from the headers. */
  register(app: FastifyInstance, url: string, provider: WebhookProvider | undefined): void {
    app.post(url, {
      onRequest: async (request, reply) => {
        this.#started.set(request, this.#now());
        const admitted = await this.#admit(request.headers, provider);
        if ('answer' in admitted) {
          // The body was not read: close the connection rather than drain it.
          void reply.header('connection', 'close');
          this.#send(request, reply, admitted.provider, admitted.answer);
          return reply;
        }
        this.#admitted.set(request, admitted);
        return undefined;
      },
      handler: async (request, reply) => {
        const admitted = this.#admitted.get(request);
        if (admitted === undefined) throw new Error('webhook handler reached without admission');
        const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        this.#send(request, reply, admitted.provider, await this.#process(admitted, bytes));
        return reply;
      },
    });
  }

  /** Step 1: everything that can be decided from the headers, before the body is read. */
  async #admit(
    headers: IncomingHttpHeaders,
    routeProvider: WebhookProvider | undefined,
  ): Promise<Admitted | Refused> {
    const provider = routeProvider ?? detectProvider(headers);
    if (provider === undefined) {
      const answer = refusal(400, 'WEBHOOK_PROVIDER_UNKNOWN', 'invalid', [
        'cannot tell the git provider from the headers (X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event,',
        'X-Event-Key or Authorization: Bearer): use /api/v1/webhooks/{github|gitlab|gitea|bitbucket|generic}',
      ]);
      return { provider: 'unknown', answer };
    }
    const secrets = await this.#secretsOf(provider);
    if ('status' in secrets) return { provider, answer: secrets };
    const credential = credentialOf(provider, headers);
    if (credential.kind === 'missing') {
      return { provider, answer: refusal(401, 'WEBHOOK_UNAUTHENTICATED', 'refused', [credential.message]) };
    }
    if (credential.kind === 'token' && !verifyCredential(credential, Buffer.alloc(0), secrets)) {
      const answer = refusal(401, 'WEBHOOK_UNAUTHENTICATED', 'refused', [
        `the ${displayHeader(credential.header)} header does not match the configured ${provider} secret`,
      ]);
      return { provider, answer };
    }
    const mediaType = (headerOf(headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const accepted = provider === 'github' ? [JSON_TYPE, FORM_TYPE] : [JSON_TYPE];
    if (!accepted.includes(mediaType)) {
      const answer = refusal(415, 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE', 'invalid', [
        `the Content-Type must be ${accepted.join(' or ')}${mediaType === '' ? '' : `, not ${mediaType}`}`,
      ]);
      return { provider, answer };
    }
    return {
      provider,
      credential,
      secrets,
      event: eventOf(provider, headers),
      deliveryId: deliveryIdOf(provider, headers),
      form: mediaType === FORM_TYPE,
    };
  }

  /** The usable secrets of a provider, or the refusal: none configured (403), unreadable (503). */
  async #secretsOf(provider: WebhookProvider): Promise<readonly string[] | Answer> {
    let secrets: readonly string[];
    try {
      secrets = secretsFor(await this.#options.webhookSecrets(), provider);
    } catch (error) {
      const answer = refusal(503, 'WEBHOOK_SECRETS_UNAVAILABLE', 'failed', [
        'the webhook secrets could not be read; retry later',
      ]);
      return { ...answer, log: { ...answer.log, cause: messageOf(error) } };
    }
    if (secrets.length > 0) return secrets;
    return refusal(403, 'WEBHOOK_NOT_CONFIGURED', 'refused', [
      `${provider} webhooks are disabled: no ${provider} secret is configured in the agent's webhook Secret`,
    ]);
  }

  /** Steps 2 to 5, on the body read as bytes. */
  async #process(admitted: Admitted, bytes: Buffer): Promise<Answer> {
    const { provider, deliveryId } = admitted;
    // 2. The signature, over the raw bytes.
    if (
      admitted.credential.kind === 'hmac' &&
      !verifyCredential(admitted.credential, bytes, admitted.secrets)
    ) {
      return refusal(401, 'WEBHOOK_BAD_SIGNATURE', 'refused', [
        `the ${displayHeader(admitted.credential.header)} signature does not match the body:`,
        `check that the webhook's secret is the ${provider} secret configured in the agent`,
      ]);
    }
    // 3. Replays, pings and other events are acknowledged without a refresh. A replay is known by a
    //    digest of the (signed) body, not by the delivery id, which no signature covers: the same body
    //    sent again under a new id is still a replay.
    const digest = createHash('sha256').update(bytes).digest('hex');
    const replayKey = `${provider}:${digest}`;
    if (!this.#deliveries.claim(replayKey, this.#now())) {
      return acknowledged(
        202,
        'replayed',
        `this body (sha256 ${digest.slice(0, 12)}) was already received${deliveryId === undefined ? '' : ` (delivery ${deliveryId})`}`,
      );
    }
    const classified = classify(provider, admitted.event, this.#options.pullRequest !== undefined);
    if (classified === 'ping') return acknowledged(200, 'pong');
    if (classified === 'pullRequest') {
      const answer = await this.#pullRequest(admitted, bytes);
      if (answer.status >= 500) this.#deliveries.release(replayKey);
      return answer;
    }
    if (classified !== 'push') return acknowledged(202, 'ignored', classified.ignored);
    // 4. Only now the payload.
    const extracted = eventsOfBody(admitted, bytes);
    if (!extracted.ok) return refusal(400, 'WEBHOOK_BAD_PAYLOAD', 'invalid', [extracted.message]);
    // 5. The refresh; a failure forgets the delivery, so that the provider's retry is not a replay.
    const answer = await this.#refresh(extracted.events);
    if (answer.status >= 500) this.#deliveries.release(replayKey);
    return answer;
  }

  /** Steps 4 and 5 for a pull request event. */
  async #pullRequest(admitted: Admitted, bytes: Buffer): Promise<Answer> {
    const json = admitted.form ? formPayload(bytes) : bytes;
    if (json === undefined) {
      return refusal(400, 'WEBHOOK_BAD_PAYLOAD', 'invalid', ['the form-encoded body has no payload field']);
    }
    const parsed = parseJsonBounded(json);
    const provider = admitted.provider;
    if (!parsed.ok) return refusal(400, 'WEBHOOK_BAD_PAYLOAD', 'invalid', [parsed.message]);
    if (provider !== 'github' && provider !== 'gitlab' && provider !== 'gitea') {
      return acknowledged(202, 'ignored', `${provider} pull requests are not read`);
    }
    const result = pullRequestEventOf(provider, parsed.value, admitted.deliveryId);
    if (!result.ok) return refusal(400, 'WEBHOOK_BAD_PAYLOAD', 'invalid', [result.message]);
    if ('ignored' in result) return acknowledged(202, 'ignored', result.ignored);
    const { event } = result;
    let pipelines: string[];
    let reason: string | undefined;
    try {
      const requested = await this.#options.pullRequest?.(event);
      pipelines = requested?.pipelines ?? [];
      reason = requested?.reason;
    } catch (error) {
      const answer = refusal(500, 'WEBHOOK_REFRESH_FAILED', 'failed', [
        'the pipeline runs could not be requested; the delivery can be retried',
      ]);
      return { ...answer, log: { ...answer.log, cause: messageOf(error) } };
    }
    return {
      status: 200,
      result: 'queued',
      body: { status: 'queued', applications: [], pipelines, ...(reason === undefined ? {} : { reason }) },
      log: {
        repoURLs: event.repoURLs,
        pullRequest: event.number,
        action: event.action,
        after: event.headSha,
        pipelines: pipelines.length,
      },
    };
  }

  async #refresh(events: readonly RefreshEvent[]): Promise<Answer> {
    const applications = new Set<string>();
    const pipelines = new Set<string>();
    try {
      for (const event of events) {
        const queued = await this.#options.refresh(event);
        for (const name of queued.applications) applications.add(name);
        for (const name of queued.pipelines ?? []) pipelines.add(name);
      }
    } catch (error) {
      const answer = refusal(500, 'WEBHOOK_REFRESH_FAILED', 'failed', [
        'the refresh could not be queued; the delivery can be retried',
      ]);
      return { ...answer, log: { ...answer.log, cause: messageOf(error) } };
    }
    const first = events[0];
    return {
      status: 200,
      result: 'queued',
      body: { status: 'queued', applications: [...applications], pipelines: [...pipelines] },
      log: {
        repoURLs: first?.repoURLs,
        refs: events.map((event) => event.ref ?? '*'),
        after: first?.after,
        changedPaths: first?.changedPaths?.length ?? 'unknown',
        applications: applications.size,
        pipelines: pipelines.size,
      },
    };
  }

  /** Answers, logs one line (never a header value or the body) and tells `onWebhook`. */
  #send(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: WebhookProvider | 'unknown',
    answer: Answer,
  ): void {
    const started = this.#started.get(request) ?? this.#now();
    const level = answer.status >= 500 ? 'error' : answer.status >= 400 ? 'warn' : 'info';
    safeLog(this.#options.logger, {
      level,
      msg: 'webhook',
      provider,
      result: answer.result,
      status: answer.status,
      ...(provider === 'unknown'
        ? {}
        : withoutUndefined({
            event: eventOf(provider, request.headers)?.slice(0, 64),
            deliveryId: deliveryIdOf(provider, request.headers),
          })),
      ...withoutUndefined(answer.log ?? {}),
      durationMs: this.#now() - started,
    });
    try {
      this.#options.onWebhook?.({ provider, result: answer.result, status: answer.status });
    } catch {
      // An observer's failure never changes the answer.
    }
    void reply.code(answer.status).send(answer.body);
  }
}

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The refresh events of a verified push body (GitHub's form body holds the JSON in `payload`). */
function eventsOfBody(admitted: Admitted, bytes: Buffer): EventsResult {
  const json = admitted.form ? formPayload(bytes) : bytes;
  if (json === undefined) return { ok: false, message: 'the form-encoded body has no payload field' };
  const parsed = parseJsonBounded(json);
  return parsed.ok ? refreshEventsOf(admitted.provider, parsed.value, admitted.deliveryId) : parsed;
}

type Classified = 'push' | 'ping' | 'pullRequest' | { readonly ignored: string };

/**
 * Push events go on, and pull request events when `pullRequests` (someone reads them); pings are
 * answered; everything else is acknowledged and ignored.
 */
function classify(provider: WebhookProvider, event: string | undefined, pullRequests: boolean): Classified {
  const ignored = (expected: string): Classified => ({
    ignored: `${event === undefined ? 'a delivery without an event header' : `event '${event.slice(0, 64)}'`} is not a push (expected ${expected}); nothing to refresh`,
  });
  switch (provider) {
    case 'github':
      if (event === 'push') return 'push';
      if (event === 'ping') return 'ping';
      if (pullRequests && event === 'pull_request') return 'pullRequest';
      return ignored('X-GitHub-Event: push');
    case 'gitea':
      if (event === 'push') return 'push';
      // Gitea's X-Gitea-Event is `pull_request` for new commits too (its X-Gitea-Event-Type says `pull_request_sync`).
      if (pullRequests && (event === 'pull_request' || event === 'pull_request_sync')) return 'pullRequest';
      return ignored('X-Gitea-Event: push');
    case 'gitlab':
      if (event === 'Push Hook' || event === 'Tag Push Hook') return 'push';
      if (pullRequests && event === 'Merge Request Hook') return 'pullRequest';
      return ignored('X-Gitlab-Event: Push Hook or Tag Push Hook');
    case 'bitbucket':
      if (event === 'repo:push' || event === 'repo:refs_changed') return 'push';
      if (event === 'diagnostics:ping') return 'ping';
      return ignored('X-Event-Key: repo:push or repo:refs_changed');
    case 'generic':
      return 'push';
  }
}

/** Fastify's own errors (body too large, bad media type, bad length) as refusals; anything else is a 500. */
function refusalOfFrameworkError(error: FastifyError, maxBodyBytes: number): Answer {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return refusal(413, 'REQUEST_BODY_TOO_LARGE', 'invalid', [
        `the body is larger than ${maxBodyBytes} bytes`,
      ]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return refusal(415, 'UNSUPPORTED_MEDIA_TYPE', 'invalid', ['the Content-Type must be application/json']);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return refusal(400, 'BAD_CONTENT_LENGTH', 'invalid', ['the body length does not match Content-Length']);
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    // Fastify's own messages say what was wrong without quoting the request.
    const code: unknown = error.code; // absent on errors that are not Fastify's, whatever the type says
    const message =
      typeof code === 'string' && code.startsWith('FST_') ? error.message : 'the request is malformed';
    return refusal(status, 'BAD_REQUEST', 'invalid', [message]);
  }
  return refusal(500, 'INTERNAL_ERROR', 'failed', ['internal error; see the agent log']);
}

/**
 * Errors Node raises before a request reaches Fastify: a request not received within the time limit
 * (a slow or stalled client), headers too large, or bytes that are not HTTP. Answered in the same JSON
 * shape as every other error, then the connection is closed.
 */
function answerClientError(
  error: ConnectionError,
  socket: Socket,
  requestTimeout: number,
  logger: AgentApiOptions['logger'],
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'REQUEST_TIMEOUT', `the request was not received within ${requestTimeout} ms`]
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HEADERS_TOO_LARGE', 'the request headers are too large']
        : [400, 'BAD_REQUEST', 'the request is not valid HTTP'];
  safeLog(logger, {
    level: 'warn',
    msg: 'http client error',
    status,
    error: code,
    remote: socket.remoteAddress,
  });
  if (socket.writable) {
    const body = JSON.stringify({ error: code, message });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/** Logs a line; a failing logger never fails a request. */
function safeLog(logger: AgentApiOptions['logger'], line: LogLine): void {
  try {
    logger?.(line);
  } catch {
    // Logging is best effort.
  }
}
