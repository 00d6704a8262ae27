/**
 * Environments and promotions (docs/promotions.md): list the Environments with their current image
 * and latest promotion; list and read promotions; promote an image (by digest, or a run's) by hand;
 * approve or reject a promotion waiting for an approval. Reads need `promotions.read` in the
 * environment's project, a promotion by hand `promotions.promote`, approve and reject
 * `promotions.approve`; actions are audited, refusals too. The promotion driver takes it from the
 * Store (a decision here is a conditional write: two approvers never both move one promotion).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedEnvironment } from '../../contracts/environment.ts';
import {
  EnvironmentInfoSchema,
  EnvironmentListSchema,
  EnvironmentParamsSchema,
  PromoteBodySchema,
  PromotionListQuerySchema,
  PromotionListSchema,
  PromotionParamsSchema,
  PromotionSchema,
  type EnvironmentInfo,
} from '../../contracts/promotion-api.ts';
import { API_PREFIX } from '../../contracts/server-api.ts';
import { messageOf } from '../../core/errors.ts';
import { isFinal, type PromotionState } from '../../core/promotion.ts';
import { decide, requestPromotion } from '../../promotions/promotion-driver.ts';
import type { PromotionRecord } from '../../ports/store.ts';
import { authorize } from '../../server/access.ts';
import { errors } from './applications.ts';
import {
  actorOf,
  audit,
  HttpError,
  need,
  requirePermission,
  type Caller,
  type EnvironmentDirectory,
  type Routes,
  type ServerApiOptions,
} from './context.ts';
import { openEventStream } from './event-stream.ts';

const ENVIRONMENTS = `${API_PREFIX}/environments`;
const PROMOTIONS = `${API_PREFIX}/promotions`;
const DEFAULT_LIMIT = 50;

export function promotionRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: ENVIRONMENTS,
      summary: 'Environments the caller may read, with their current image and latest promotion',
      tag: 'promotions',
      access: 'authenticated',
      responses: {
        200: { description: 'the Environments', schema: EnvironmentListSchema },
        ...errors(401, 503),
      },
    },
    async (_request, _reply, caller) => {
      const all = await directory(options).list();
      return { items: all.filter((env) => mayRead(options, need(caller), env.project)).map(infoOf) };
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${ENVIRONMENTS}/:namespace/:name`,
      summary: 'One Environment, its current image and latest promotion',
      tag: 'promotions',
      access: 'authenticated',
      params: EnvironmentParamsSchema,
      responses: {
        200: { description: 'the Environment', schema: EnvironmentInfoSchema },
        ...errors(401, 403, 404, 503),
      },
    },
    async (request, _reply, caller) => {
      const env = await environmentOf(options, request);
      await requirePermission(options, need(caller), 'promotions.read', env.project);
      return infoOf(env);
    },
  );
  routes.add(
    {
      method: 'POST',
      url: `${ENVIRONMENTS}/:namespace/:name/promote`,
      summary: 'Promote an image (by digest) or a Succeeded run’s image to the Environment',
      tag: 'promotions',
      access: 'promotions.promote',
      params: EnvironmentParamsSchema,
      body: PromoteBodySchema,
      responses: {
        201: { description: 'the promotion, Pending', schema: PromotionSchema },
        ...errors(400, 401, 403, 404, 503),
      },
    },
    async (request, reply, caller) => {
      const promotion = await promote(options, request, need(caller));
      void reply.code(201);
      return promotion;
    },
  );
  promotionRecordRoutes(routes, options);
}

/** Promotions: list, one, approve and reject. */
function promotionRecordRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: PROMOTIONS,
      summary: 'Promotions the caller may read, newest first; filter by namespace, environment, state',
      tag: 'promotions',
      access: 'authenticated',
      query: PromotionListQuerySchema,
      responses: {
        200: { description: 'a page of promotions', schema: PromotionListSchema },
        ...errors(400, 401),
      },
    },
    async (request, _reply, caller) => {
      const query = request.query as {
        namespace?: string;
        environment?: string;
        state?: PromotionState;
        before?: string;
        limit?: string;
      };
      const limit = Number(query.limit ?? DEFAULT_LIMIT);
      const page = await options.store.promotions.list({
        ...(query.namespace === undefined ? {} : { namespace: query.namespace }),
        ...(query.environment === undefined ? {} : { environment: query.environment }),
        ...(query.state === undefined ? {} : { state: query.state }),
        ...(query.before === undefined ? {} : { before: query.before }),
        limit,
      });
      const items = page.filter((p) => mayRead(options, need(caller), p.project));
      const last = page.at(-1);
      return { items, ...(page.length === limit && last !== undefined ? { nextCursor: last.id } : {}) };
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${PROMOTIONS}/:id`,
      summary: 'One promotion: its image, source, state, steps and commit',
      tag: 'promotions',
      access: 'authenticated',
      params: PromotionParamsSchema,
      responses: { 200: { description: 'the promotion', schema: PromotionSchema }, ...errors(401, 403, 404) },
    },
    async (request, _reply, caller) => {
      const promotion = await promotionOf(options, request);
      await requirePermission(options, need(caller), 'promotions.read', promotion.project);
      return promotion;
    },
  );
  promotionDecisionRoutes(routes, options);
}

/** A promotion's events, approve and reject. */
function promotionDecisionRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${PROMOTIONS}/:id/events`,
      summary: 'A promotion’s changes as server-sent events (`promotion`), until it ends (`end`)',
      tag: 'promotions',
      access: 'authenticated',
      params: PromotionParamsSchema,
      responses: {
        200: { description: 'text/event-stream', type: 'text/event-stream' },
        ...errors(401, 403, 404),
      },
    },
    async (request, reply, caller) => {
      const promotion = await promotionOf(options, request);
      await requirePermission(options, need(caller), 'promotions.read', promotion.project);
      followPromotion(options, request, reply, promotion);
      return undefined;
    },
  );
  for (const action of ['approve', 'reject'] as const)
    routes.add(
      {
        method: 'POST',
        url: `${PROMOTIONS}/:id/${action}`,
        summary: `${action === 'approve' ? 'Approve' : 'Reject'} a promotion waiting for an approval`,
        tag: 'promotions',
        access: 'promotions.approve',
        params: PromotionParamsSchema,
        responses: {
          200: { description: 'the promotion, Approved or Rejected', schema: PromotionSchema },
          ...errors(401, 403, 404, 409),
        },
      },
      async (request, _reply, caller) => decision(options, request, need(caller), action),
    );
}

const mayRead = (options: ServerApiOptions, caller: Caller, project: string): boolean =>
  authorize(caller.principal, 'promotions.read', project, options.projects).allowed;

function directory(options: ServerApiOptions): EnvironmentDirectory {
  if (options.environments === undefined)
    throw new HttpError(503, 'ENVIRONMENTS_UNAVAILABLE', 'this server does not read Environments');
  return options.environments;
}

async function environmentOf(
  options: ServerApiOptions,
  request: FastifyRequest,
): Promise<ResolvedEnvironment> {
  const { namespace, name } = request.params as { namespace: string; name: string };
  const env = await directory(options).get(namespace, name);
  if (env === undefined) throw new HttpError(404, 'NOT_FOUND', `no Environment ${namespace}/${name}`);
  return env;
}

async function promotionOf(options: ServerApiOptions, request: FastifyRequest): Promise<PromotionRecord> {
  const { id } = request.params as { id: string };
  const promotion = await options.store.promotions.get(id);
  if (promotion === undefined) throw new HttpError(404, 'NOT_FOUND', `no promotion '${id}'`);
  return promotion;
}

export function infoOf(env: ResolvedEnvironment): EnvironmentInfo {
  return {
    namespace: env.namespace,
    name: env.name,
    project: env.project,
    application: env.application,
    repoURL: env.repoURL,
    branch: env.branch,
    file: env.file,
    ...(env.fromPipeline === undefined ? {} : { fromPipeline: env.fromPipeline.name }),
    ...(env.fromEnvironment === undefined ? {} : { fromEnvironment: env.fromEnvironment }),
    ...(env.fromImagePolicy === undefined
      ? {}
      : {
          fromImagePolicy: { repository: env.fromImagePolicy.repository, semver: env.fromImagePolicy.semver },
        }),
    ...(env.status?.imagePolicy === undefined ? {} : { imagePolicy: env.status.imagePolicy }),
    approvalRequired: env.approvalRequired,
    healthyForSeconds: env.healthyForSeconds,
    ...(env.status?.currentImage === undefined ? {} : { currentImage: env.status.currentImage }),
    ...(env.status?.lastPromotion === undefined ? {} : { lastPromotion: env.status.lastPromotion }),
  };
}

const deps = (options: ServerApiOptions) => ({
  promotions: options.store.promotions,
  now: () => new Date(options.now()),
  newId: () => `promo-${options.now().toString(36)}-${Math.random().toString(16).slice(2, 10)}`,
  ...(options.promotionMetrics === undefined ? {} : { metrics: options.promotionMetrics }),
});

async function promote(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
): Promise<PromotionRecord> {
  const env = await environmentOf(options, request);
  const body = request.body as { image?: string; fromRun?: string };
  const target = `Environment/${env.namespace}/${env.name}`;
  await requirePermission(options, caller, 'promotions.promote', env.project, {
    action: 'promotion.create',
    target,
  });
  if ((body.image === undefined) === (body.fromRun === undefined))
    throw new HttpError(400, 'INVALID_REQUEST', 'give exactly one of image (name@sha256:…) and fromRun');
  let image = body.image;
  if (body.fromRun !== undefined) {
    const run = await options.store.runs.get(body.fromRun);
    if (run?.namespace !== env.namespace || run.phase !== 'Succeeded' || run.images[0] === undefined)
      throw new HttpError(
        400,
        'INVALID_REQUEST',
        `'${body.fromRun}' is not a Succeeded run with an image in ${env.namespace}`,
      );
    image = run.images[0].reference;
  }
  const created = await requestPromotion(deps(options), {
    environment: env,
    image: image ?? '',
    by: caller.principal.name,
    ...(body.fromRun === undefined ? {} : { fromRun: body.fromRun }),
  });
  await audit(options, {
    actor: actorOf(caller.principal),
    action: 'promotion.create',
    target,
    project: env.project,
    result: 'success',
    changes: { promotion: created.id, image: created.image },
  });
  await changed(options, created);
  return created;
}

async function decision(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
  action: 'approve' | 'reject',
): Promise<PromotionRecord> {
  const promotion = await promotionOf(options, request);
  const target = `Promotion/${promotion.namespace}/${promotion.environment}/${promotion.id}`;
  const audited = { action: `promotion.${action}`, target };
  await requirePermission(options, caller, 'promotions.approve', promotion.project, audited);
  const by = caller.principal.name;
  let moved: PromotionRecord | undefined;
  try {
    moved = await decide(deps(options), promotion, { type: action, by });
  } catch (error) {
    await audit(options, {
      actor: actorOf(caller.principal),
      ...audited,
      project: promotion.project,
      result: 'failure',
      reason: messageOf(error),
    });
    throw error;
  }
  if (moved === undefined)
    throw new HttpError(409, 'CONFLICT', `promotion '${promotion.id}' changed meanwhile; read it again`);
  await audit(options, {
    actor: actorOf(caller.principal),
    ...audited,
    project: promotion.project,
    result: 'success',
  });
  await changed(options, moved);
  return moved;
}

/** Tells the cluster (the Environment's status) that a promotion changed; a failure is logged, not answered. */
async function changed(options: ServerApiOptions, promotion: PromotionRecord): Promise<void> {
  await options.environments
    ?.promotionChanged?.(promotion.namespace, promotion.environment)
    .catch((error: unknown) => {
      options.logger?.({
        level: 'warn',
        msg: 'environment status not written',
        environment: `${promotion.namespace}/${promotion.environment}`,
        error: messageOf(error),
      });
    });
}

/** A record's place in its history: its `updatedAt` (an ISO time), then how many steps it has. */
const eventKey = (p: PromotionRecord): string => `${p.updatedAt}#${String(p.steps.length).padStart(4, '0')}`;
const EVENT_KEY = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z#\d{4}$/;

/**
 * Server-sent events: the promotion (`promotion`, `id:` its updatedAt and step count) at once, then each time it
 * changes, then `end` once it is final. Driven by the server's change sequence (the stream of
 * `GET /api/v1/stream`): a `promotion` change of this one is sent as it is; a change of its
 * Environment (its status, written at each step) has the record read again from the Store. A client
 * that reconnects with `Last-Event-ID` (the id it got last) gets the record only if it changed since.
 */
function followPromotion(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  first: PromotionRecord,
): void {
  const lastId = request.headers['last-event-id'];
  const gone = openEventStream(request, reply);
  // What the client has, as the key of the record it got last; a record with a greater key is news.
  let seen = typeof lastId === 'string' && EVENT_KEY.test(lastId) ? lastId : '';
  let done = false;
  let queue = Promise.resolve();
  const finish = () => {
    if (done) return;
    done = true;
    unsubscribe();
    reply.raw.end();
  };
  const send = (promotion: PromotionRecord) => {
    if (done) return;
    const key = eventKey(promotion);
    if (key > seen) {
      seen = key;
      reply.raw.write(`id: ${seen}\nevent: promotion\ndata: ${JSON.stringify(promotion)}\n\n`);
    }
    if (isFinal(promotion.state) && key >= seen) {
      reply.raw.write(`event: end\ndata: ${JSON.stringify({ state: promotion.state })}\n\n`);
      finish();
    }
  };
  // One after the other, so that the records go out in the order of the changes.
  const next = (step: () => Promise<PromotionRecord | undefined> | PromotionRecord) => {
    queue = queue
      .then(async () => {
        if (done) return;
        const promotion = await step();
        if (promotion === undefined) finish();
        else send(promotion);
      })
      .catch(finish);
  };
  const read = () => options.store.promotions.get(first.id);
  const unsubscribe = options.applications.subscribe((change) => {
    if (change.kind === 'promotion' && (change.data as { id?: unknown }).id === first.id)
      next(() => change.data as PromotionRecord);
    else if (change.kind === 'environment') {
      const env = change.data as { namespace?: unknown; name?: unknown };
      if (env.namespace === first.namespace && env.name === first.environment) next(read);
    }
  });
  gone.addEventListener('abort', finish);
  next(read);
}
