/**
 * The server API (`capstan server`): an HTTP JSON API under /api/v1 for people and tools (and the web
 * UI), with login, roles per project and an audit trail. It builds a Fastify app and never listens by
 * itself (DESIGN.md): src/main calls `listen()`, tests call `inject()`.
 *
 * Requests are validated against the shared contracts (src/contracts/server-api.ts) by the project's
 * own validator, so errors name the field; bodies are closed (unknown fields → 400), bounded
 * (→ 413) and JSON only (→ 415). Every route but the probes, the OpenAPI document and login needs a
 * session or a token.
 */
import { maxHeaderSize } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TSchema } from '@sinclair/typebox';
import { fastify, type FastifyInstance } from 'fastify';
import { messageOf } from '../../core/errors.ts';
import { API_PREFIX } from '../../contracts/server-api.ts';
import { validate } from '../../contracts/validate.ts';
import { applicationRoutes } from './applications.ts';
import {
  answerOf,
  FORM_MEDIA_TYPE,
  HttpError,
  Routes,
  type RouteDoc,
  type ServerApiOptions,
} from './context.ts';
import { directoryRoutes } from './directory.ts';
import { identityRoutes } from './identity.ts';
import { openApiDocument } from './openapi.ts';
import { pipelineObjectRoutes } from './pipeline-objects.ts';
import { pipelineRoutes } from './pipelines.ts';
import { promotionRoutes } from './promotions.ts';
import { repositoryRoutes } from './repositories.ts';
import { resourceRoutes } from './resources.ts';
import { ssoRoutes } from './sso.ts';
import { streamRoutes } from './stream.ts';
import { errorBody } from '../error-body.ts';

export type { ServerApiOptions } from './context.ts';
export const DEFAULT_SERVER_MAX_BODY_BYTES = 1024 * 1024;
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;

const ROUTE_DOCS = new WeakMap<FastifyInstance, readonly RouteDoc[]>();

/** The routes of an app built here, as documented (for tests that check every answer against its schema). */
export function routeDocsOf(app: FastifyInstance): readonly RouteDoc[] {
  return ROUTE_DOCS.get(app) ?? [];
}

/** Node's header limit (16 KiB by default): a longer query string or cookie is answered 431. */
const HEADER_LIMIT_KIB = Math.round(maxHeaderSize / 1024);

/**
 * A request Node refused before any route saw it, answered in the API's error shape (documented on
 * every operation): 431 HEADERS_TOO_LARGE for headers past Node's limit, 408 for a request too slow,
 * 400 for one that is not HTTP.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, body] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ([
          431,
          'Request Header Fields Too Large',
          errorBody(
            'HEADERS_TOO_LARGE',
            `the request's headers (its query string and cookies among them) pass ${HEADER_LIMIT_KIB} KiB: send a shorter query (fewer or shorter filters) or fewer cookies`,
          ),
        ] as const)
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([
            408,
            'Request Timeout',
            errorBody('REQUEST_TIMEOUT', 'the request was not received in time'),
          ] as const)
        : ([400, 'Bad Request', errorBody('BAD_REQUEST', 'the request is not valid HTTP')] as const);
  const text = JSON.stringify(body);
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`,
    );
  socket.destroy();
}

export function buildServerApi(options: ServerApiOptions): FastifyInstance {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_SERVER_MAX_BODY_BYTES;
  const app = fastify({
    logger: false,
    requestIdHeader: false,
    bodyLimit: maxBodyBytes,
    // Past Fastify's default (100), a long path parameter is 414; let the contract refuse it (400, documented).
    maxParamLength: 2048,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    trustProxy: false,
    clientErrorHandler: answerClientError,
    ...(options.https ? { https: { cert: options.https.cert, key: options.https.key } } : {}),
  }) as unknown as FastifyInstance;
  // JSON only: a text body is 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  const formRoutes = formParser(app);
  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const checked = validate(schema as TSchema, data);
    // The checked value (its null fields dropped, as validated), never the raw input: a handler must
    // not see `"secretRef": null` where the contract let it through as absent.
    if (checked.ok) return { value: checked.value };
    return {
      error: Object.assign(new Error(`${httpPart ?? 'request'}: ${checked.errors.join('; ')}`), {
        validation: checked.errors,
      }),
    };
  });
  app.setErrorHandler((error, request, reply) => {
    const answer = answerOf(error, maxBodyBytes);
    if (answer.log)
      options.logger?.({
        level: 'error',
        msg: 'request failed',
        method: request.method,
        route: request.routeOptions.url,
        error: messageOf(error),
      });
    void reply.code(answer.status).headers(answer.headers).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`));
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    void reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    done(null, payload);
  });

  const routes = new Routes(app, options);
  registerProbes(app, options);
  identityRoutes(routes, options);
  ssoRoutes(routes, options);
  applicationRoutes(routes, options);
  resourceRoutes(routes, options);
  repositoryRoutes(routes, options);
  directoryRoutes(routes, options);
  streamRoutes(routes, options);
  pipelineObjectRoutes(routes, options);
  pipelineRoutes(routes, options);
  promotionRoutes(routes, options);
  for (const doc of routes.docs)
    if (doc.bodyType === FORM_MEDIA_TYPE) formRoutes.add(`${doc.method} ${doc.url}`);
  const document = openApiDocument(routes.docs, { version: '0.1.0' });
  ROUTE_DOCS.set(app, routes.docs);
  app.get(OPENAPI_PATH, (_request, reply) => {
    void reply.header('cache-control', 'public, max-age=60').send(document);
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (request.routeOptions.url !== undefined && !request.routeOptions.url.startsWith('/healthz'))
      options.logger?.({
        level: 'info',
        msg: 'http',
        method: request.method,
        route: request.routeOptions.url,
        status: reply.statusCode,
      });
    done();
  });
  return app;
}

function registerProbes(app: FastifyInstance, options: ServerApiOptions): void {
  app.get('/healthz', (_request, reply) => {
    void reply.send({ status: 'ok' });
  });
  const { metrics } = options;
  if (metrics)
    app.get('/metrics', (_request, reply) => {
      void reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics());
    });
  app.get('/readyz', (_request, reply) => {
    const state = options.ready?.() ?? {
      ready: options.applications.synced,
      reason: 'the Applications are not listed yet',
    };
    if (state.ready) void reply.send({ status: 'ready' });
    else void reply.code(503).send({ status: 'not ready', reason: state.reason ?? 'not ready' });
  });
}

/**
 * A form body only where a route says so (the OpenID provider's back-channel logout): elsewhere 415.
 * Answers the set the routes' `METHOD url` are added to once they are registered.
 */
function formParser(app: FastifyInstance): Set<string> {
  const formRoutes = new Set<string>();
  app.addContentTypeParser(FORM_MEDIA_TYPE, { parseAs: 'string' }, (request, body, done) => {
    const url = request.routeOptions.url;
    if (url === undefined || !formRoutes.has(`${request.method} ${url}`)) {
      done(
        Object.assign(new Error('form bodies are not taken here'), {
          code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
        }),
      );
      return;
    }
    const fields: Record<string, string> = {};
    for (const [key, value] of new URLSearchParams(body as string)) {
      if (Object.hasOwn(fields, key)) {
        done(new HttpError(400, 'INVALID_REQUEST', `the form repeats the field ${key}`));
        return;
      }
      fields[key] = value;
    }
    done(null, fields);
  });
  return formRoutes;
}
