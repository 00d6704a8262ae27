/**
 * The Applications routes: list (filters, search, signed cursors, ETag), get, history, resource tree,
 * events; the actions (sync, refresh, rollback, release hold) as the request annotations the agent
 * reads, guarded by the resourceVersion the client saw; create, update and delete.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { formatId } from '../../core/resource.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  REQUEST_ANNOTATIONS,
  RESOURCES_FINALIZER,
  resolveSpec,
  syncRequestValue,
  validateApplication,
  type Application,
  type RequestKind,
} from '../../contracts/application.ts';
import {
  API_PREFIX,
  ActionRequestSchema,
  ActionResultSchema,
  ApplicationListQuerySchema,
  ApplicationListSchema,
  ApplicationParamsSchema,
  DeleteQuerySchema,
  ErrorBodySchema,
  EventSchema,
  ObjectSchema,
  ResourceTreeSchema,
  RollbackRequestSchema,
  SyncPreviewSchema,
  SyncRequestSchema,
  type ActionRequest,
  type ApplicationList,
  type ApplicationListQuery,
  type RollbackRequest,
  type SyncPreview,
  type SyncRequest,
} from '../../contracts/server-api.ts';
import { Type } from '@sinclair/typebox';
import type { AuditEntryInput } from '../../ports/store.ts';
import { projectsWith, type Permission } from '../../server/access.ts';
import { projectOf, summaryOf } from '../../server/application-index.ts';
import { queryDigest } from '../../server/cursor.ts';
import { parseLabelSelector } from '../../server/label-selector.ts';
import {
  actorOf,
  audit,
  HttpError,
  need,
  requirePermission,
  type Caller,
  type Routes,
  type ServerApiOptions,
} from './context.ts';

export const SERVER_FIELD_MANAGER = 'capstan-server';
const APPS = `${API_PREFIX}/applications`;
const ONE = `${APPS}/:namespace/:name`;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;

export const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [s, { description: ERROR_TEXT[s] ?? 'refused', schema: ErrorBodySchema }]),
  );
const ERROR_TEXT: Record<number, string> = {
  400: 'bad input (malformed JSON, unknown field, forged or expired cursor)',
  401: 'no session or token',
  403: 'a permission is missing (named in the answer), or no CSRF token',
  404: 'no such Application',
  409: 'the Application changed since the resourceVersion given',
  413: 'body too large',
  422: 'the request cannot be carried out as given',
  502: 'the desired state could not be rendered (the reason is in the message)',
  503: 'the cluster or the store is unavailable',
};

type Params = { namespace: string; name: string };

export function applicationRoutes(routes: Routes, options: ServerApiOptions): void {
  collectionRoutes(routes, options);
  objectRoutes(routes, options);
  viewRoutes(routes, options);
  actionRoutes(routes, options);
}

/** List and create. */
function collectionRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: APPS,
      summary:
        'List Applications: filters, text search, pages by cursor; only the projects the caller may read',
      tag: 'applications',
      access: 'applications.read',
      query: ApplicationListQuerySchema,
      responses: {
        200: { description: 'a page', schema: ApplicationListSchema },
        304: { description: 'unchanged (If-None-Match)' },
        ...errors(400, 401),
      },
    },
    async (request, reply, caller) => listApplications(options, request, reply, need(caller)),
  );
  routes.add(
    {
      method: 'POST',
      url: APPS,
      summary: 'Create an Application (admin of its project)',
      tag: 'applications',
      access: 'applications.create',
      body: ObjectSchema,
      responses: {
        201: { description: 'created', schema: ObjectSchema },
        ...errors(400, 401, 403, 409, 413, 422),
      },
    },
    async (request, reply, caller) => createApplication(options, request, reply, need(caller)),
  );
}

/** One Application: read, change, delete. */
function objectRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: ONE,
      summary: 'One Application, as the cluster has it',
      tag: 'applications',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      responses: {
        200: { description: 'the Application', schema: ObjectSchema },
        304: { description: 'unchanged' },
        ...errors(401, 403, 404),
      },
    },
    async (request, reply, caller) => {
      const app = await readable(options, request, need(caller));
      return withEtag(request, reply, `"${app.metadata.resourceVersion ?? ''}"`, app);
    },
  );
  routes.add(
    {
      method: 'PUT',
      url: ONE,
      summary: 'Change an Application (admin of its project, and of the new one if it moves)',
      tag: 'applications',
      access: 'applications.update',
      params: ApplicationParamsSchema,
      body: ObjectSchema,
      responses: {
        200: { description: 'changed', schema: ObjectSchema },
        ...errors(400, 401, 403, 404, 409, 413, 422),
      },
    },
    async (request, reply, caller) => updateApplication(options, request, reply, need(caller)),
  );
  routes.add(
    {
      method: 'DELETE',
      url: ONE,
      summary: 'Delete an Application, with its deployed resources (cascade, the default) or without',
      tag: 'applications',
      access: 'applications.delete',
      params: ApplicationParamsSchema,
      query: DeleteQuerySchema,
      responses: {
        202: { description: 'deleting', schema: ActionResultSchema },
        ...errors(401, 403, 404, 409),
      },
    },
    async (request, reply, caller) => deleteApplication(options, request, reply, need(caller)),
  );
}

/** What the UI shows of one Application: history, resource tree, events. */
function viewRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/history`,
      summary: 'The recorded syncs, newest first, and the rollback hold',
      tag: 'applications',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      responses: { 200: { description: 'history', schema: ObjectSchema }, ...errors(401, 403, 404) },
    },
    async (request, reply, caller) => {
      const app = await readable(options, request, need(caller));
      const body = {
        items: [...(app.status?.history ?? [])].reverse(),
        ...(app.status?.hold ? { hold: app.status.hold } : {}),
      };
      return withEtag(request, reply, `"${app.metadata.resourceVersion ?? ''}-h"`, body);
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/resources`,
      summary: 'The resource tree: the managed resources with sync and health, and their owners',
      tag: 'applications',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      responses: { 200: { description: 'tree', schema: ResourceTreeSchema }, ...errors(401, 403, 404) },
    },
    async (request, reply, caller) => {
      const app = await readable(options, request, need(caller));
      return withEtag(request, reply, `"${app.metadata.resourceVersion ?? ''}-r"`, resourceTree(app));
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/events`,
      summary: 'Kubernetes Events about the Application',
      tag: 'applications',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      responses: {
        200: { description: 'events', schema: Type.Object({ items: Type.Array(EventSchema) }) },
        ...errors(401, 403, 404, 503),
      },
    },
    async (request, _reply, caller) => {
      const app = await readable(options, request, need(caller));
      return { items: await options.events(app.metadata.namespace ?? '', app.metadata.name) };
    },
  );
}

/** Requests to the agent: sync, refresh, rollback, release the hold. */
function actionRoutes(routes: Routes, options: ServerApiOptions): void {
  actionRoute(routes, options, 'sync', SyncRequestSchema, 'applications.sync', 'Ask the agent to sync now');
  actionRoute(
    routes,
    options,
    'refresh',
    ActionRequestSchema,
    'applications.refresh',
    'Ask the agent to resolve the source again now',
  );
  actionRoute(
    routes,
    options,
    'rollback',
    RollbackRequestSchema,
    'applications.rollback',
    'Roll back to an earlier successful sync and hold there',
  );
  actionRoute(
    routes,
    options,
    'releaseHold',
    ActionRequestSchema,
    'applications.release-hold',
    'Let automated sync follow the source again after a rollback',
  );
}

const targetOf = (namespace: string, name: string) => `${APPLICATION_KIND}/${namespace}/${name}`;

/** The Application of the path, from the cache; 404 when absent, 403 when the caller may not read it. */
export async function readable(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
): Promise<Application> {
  const { namespace, name } = request.params as Params;
  const app = found(options, namespace, name);
  await requirePermission(options, caller, 'applications.read', projectOf(app));
  return app;
}

function found(options: ServerApiOptions, namespace: string, name: string): Application {
  const app = options.applications.get(namespace, name);
  if (!app)
    throw new HttpError(
      404,
      'NOT_FOUND',
      `application '${namespace}/${name}' does not exist (or the server has not seen it yet)`,
    );
  return app;
}

/** Answers 304 when the client has this version, else the body with its ETag. */
export function withEtag(request: FastifyRequest, reply: FastifyReply, etag: string, body: unknown): unknown {
  void reply.header('etag', etag).header('cache-control', 'private, no-cache');
  if (request.headers['if-none-match'] === etag) {
    void reply.code(304).send();
    return undefined;
  }
  return body;
}

function listApplications(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
): unknown {
  const query = request.query as ApplicationListQuery;
  const limit = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
  if (!(limit >= 1 && limit <= MAX_LIMIT))
    throw new HttpError(
      400,
      'INVALID_REQUEST',
      `limit must be from 1 to ${MAX_LIMIT}, not ${query.limit ?? ''}`,
    );
  const { cursor, limit: _limit, view, ...filters } = query;
  const digest = queryDigest({ ...filters, limit, view, who: caller.principal.name });
  const after = cursor === undefined ? undefined : options.cursors.decode(cursor, digest);
  const { labels, ...plain } = filters;
  const page = options.applications.page(
    {
      visible: projectsWith(caller.principal, 'applications.read', options.projects),
      ...plain,
      ...(labels === undefined ? {} : { labels: parseLabelSelector(labels) }),
    },
    { ...(after === undefined ? {} : { after }), limit },
  );
  const body: ApplicationList = {
    items: view === 'full' ? [...page.items] : page.items.map(summaryOf),
    total: page.total,
    ...(page.nextKey ? { next: options.cursors.encode(page.nextKey, digest) } : {}),
  };
  // The ETag is the digest of what the page says (a cursor's issue time aside): equal pages, equal tags.
  const etag = `"${createHash('sha256')
    .update(JSON.stringify({ ...body, next: page.nextKey }))
    .digest('base64url')
    .slice(0, 27)}"`;
  return withEtag(request, reply, etag, body);
}

/** The annotation value of a rollback, checked against the history: `<id>` or `<id>:<target>`. */
function rollbackValue(app: Application, id: string, target: string | undefined): string {
  if (target === undefined) return id;
  const history = app.status?.history ?? [];
  const byId = /^\d+$/.test(target) ? history.find((e) => String(e.id) === target) : undefined;
  const entry = byId ?? history.find((e) => e.revision.startsWith(target));
  if (!entry || entry.result !== 'Succeeded')
    throw new HttpError(
      422,
      'ROLLBACK_NO_TARGET',
      `application '${app.metadata.name}' has no successful sync '${target}' in its history; ` +
        `successful ones: ${
          history
            .filter((e) => e.result === 'Succeeded')
            .map((e) => e.id)
            .join(', ') || 'none'
        }`,
    );
  return `${id}:${byId ? String(byId.id) : target}`;
}

const ACTION_PATH: Record<RequestKind, string> = {
  sync: 'sync',
  refresh: 'refresh',
  rollback: 'rollback',
  releaseHold: 'release-hold',
};

function actionRoute(
  routes: Routes,
  options: ServerApiOptions,
  kind: RequestKind,
  body: typeof ActionRequestSchema | typeof SyncRequestSchema | typeof RollbackRequestSchema,
  permission: Permission,
  summary: string,
): void {
  routes.add(
    {
      method: 'POST',
      url: `${ONE}/${ACTION_PATH[kind]}`,
      summary: `${summary} (sets ${REQUEST_ANNOTATIONS[kind]})`,
      tag: 'actions',
      access: permission,
      params: ApplicationParamsSchema,
      body,
      responses: {
        ...(kind === 'sync'
          ? { 200: { description: 'dryRun: what a sync would do', schema: SyncPreviewSchema } }
          : {}),
        202: { description: 'requested', schema: ActionResultSchema },
        ...errors(400, 401, 403, 404, 409, 413, 422, ...(kind === 'sync' ? [502] : [])),
      },
    },
    async (request, reply, caller) => {
      const result = await requestAction(options, request, need(caller), kind, permission);
      if (!('dryRun' in (result as object))) void reply.code(202);
      return result;
    },
  );
}

async function requestAction(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
  kind: RequestKind,
  permission: Permission,
): Promise<unknown> {
  const { namespace, name } = request.params as Params;
  const body = (request.body ?? {}) as ActionRequest & SyncRequest & RollbackRequest;
  const app = found(options, namespace, name);
  const project = projectOf(app);
  const action = `application.${ACTION_PATH[kind]}`;
  const target = targetOf(namespace, name);
  await requirePermission(options, caller, permission, project, { action, target });
  if (kind === 'sync' && body.dryRun === true) return previewSync(options, app, caller, body);
  const id = String(options.now());
  const value =
    kind === 'rollback' ? rollbackValue(app, id, body.target) : kind === 'sync' ? syncValue(id, body) : id;
  if (kind === 'sync' && body.resources !== undefined)
    await checkSelection(options, app, body, { actor: actorOf(caller.principal), action, target, project });
  const annotation = REQUEST_ANNOTATIONS[kind];
  try {
    const updated = await options.writer.patchMetadata(namespace, name, {
      annotations: { [annotation]: value },
      ...(body.resourceVersion === undefined ? {} : { resourceVersion: body.resourceVersion }),
    });
    await audit(options, {
      actor: actorOf(caller.principal),
      action,
      target,
      project,
      result: 'success',
      changes: { annotation, value },
    });
    return {
      action: ACTION_PATH[kind],
      annotation,
      value,
      resourceVersion: updated.metadata.resourceVersion ?? '',
    };
  } catch (error) {
    await audit(options, {
      actor: actorOf(caller.principal),
      action,
      target,
      project,
      result: 'failure',
      reason: reasonOf(error),
    });
    throw conflictOr(error, namespace, name);
  }
}

/**
 * The sync annotation's value: the request id, whether to prune, and the selection of resources (a
 * namespace left out is '': cluster-scoped, or the destination namespace). 400 when it cannot be carried.
 */
function syncValue(id: string, body: SyncRequest): string {
  try {
    return syncRequestValue({
      id,
      ...(body.prune === undefined ? {} : { prune: body.prune }),
      ...(body.resources === undefined ? {} : { resources: selectionOf(body) }),
    });
  } catch (error) {
    if (error instanceof RangeError) throw new HttpError(400, 'INVALID_REQUEST', error.message);
    throw error;
  }
}

const selectionOf = (body: SyncRequest) =>
  (body.resources ?? []).map((r) => ({
    group: r.group,
    kind: r.kind,
    namespace: r.namespace ?? '',
    name: r.name,
  }));

/** A dry run: what a sync to the target would do, from the desired render and the live objects. */
async function previewSync(
  options: ServerApiOptions,
  app: Application,
  caller: Caller,
  body: SyncRequest,
): Promise<SyncPreview> {
  const { namespace = '', name } = app.metadata;
  if (body.resourceVersion !== undefined && body.resourceVersion !== app.metadata.resourceVersion)
    throw new HttpError(
      409,
      'CONFLICT',
      `application '${namespace}/${name}' changed since resourceVersion ${body.resourceVersion}: read it again and retry`,
    );
  // A selection prunes only when asked to (its selected resources that left the desired state).
  const prune =
    body.resources === undefined
      ? (body.prune ?? resolveSpec(app).automated?.prune ?? false)
      : body.prune === true;
  const preview = await options.resources.preview(app, {
    prune,
    ...(body.resources === undefined ? {} : { resources: selectionOf(body) }),
  });
  await audit(options, {
    actor: actorOf(caller.principal),
    action: 'application.sync',
    target: targetOf(namespace, name),
    project: projectOf(app),
    result: 'success',
    changes: { dryRun: true, revision: preview.revision },
  });
  return preview;
}

/**
 * A selection checked against the render of the target revision before the agent is asked: a selected
 * resource the sync would fail on is 422 SYNC_SELECTION_NOT_FOUND naming it (audited, nothing written).
 * When the server cannot render it (DESIRED_STATE_UNAVAILABLE) the request goes to the agent, which
 * renders and checks it again (the agent may reach hosts the server may not).
 */
async function checkSelection(
  options: ServerApiOptions,
  app: Application,
  body: SyncRequest,
  entry: Pick<AuditEntryInput, 'actor' | 'action' | 'target' | 'project'>,
): Promise<void> {
  try {
    await options.resources.checkSelection(app, selectionOf(body), body.prune === true);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'DESIRED_STATE_UNAVAILABLE') return;
    await audit(options, { ...entry, result: 'failure', reason: reasonOf(error) });
    throw error;
  }
}

function conflictOr(error: unknown, namespace: string, name: string): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === 'KUBE_CONFLICT')
    return new HttpError(
      409,
      'CONFLICT',
      `application '${namespace}/${name}' changed since the resourceVersion given: read it again and retry`,
    );
  if (code === 'KUBE_NOT_FOUND')
    return new HttpError(404, 'NOT_FOUND', `application '${namespace}/${name}' does not exist`);
  return error;
}

const reasonOf = (error: unknown) => {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'error';
};

/** The body as an Application, checked against the contract (400 naming the fields). */
function applicationOf(body: unknown): Application {
  const checked = validateApplication(body);
  if (!checked.ok)
    throw new HttpError(
      400,
      'INVALID_APPLICATION',
      `the Application is invalid: ${checked.errors.join('; ')}`,
    );
  const { metadata } = checked.value;
  if (metadata.namespace === undefined)
    throw new HttpError(400, 'INVALID_APPLICATION', 'metadata.namespace: required');
  return checked.value;
}

function applied(app: Application): Application {
  const { name, namespace, labels, annotations } = app.metadata;
  return {
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: {
      name,
      ...(namespace === undefined ? {} : { namespace }),
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    },
    spec: app.spec,
  };
}

async function createApplication(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
): Promise<unknown> {
  const app = applicationOf(request.body);
  const namespace = app.metadata.namespace ?? '';
  const target = targetOf(namespace, app.metadata.name);
  const project = projectOf(app);
  await requirePermission(options, caller, 'applications.create', project, {
    action: 'application.create',
    target,
  });
  if (options.applications.get(namespace, app.metadata.name))
    throw new HttpError(
      409,
      'ALREADY_EXISTS',
      `application '${namespace}/${app.metadata.name}' exists: change it with PUT`,
    );
  try {
    const { object } = await options.writer.apply(applied(app), { fieldManager: SERVER_FIELD_MANAGER });
    await audit(options, {
      actor: actorOf(caller.principal),
      action: 'application.create',
      target,
      project,
      result: 'success',
    });
    void reply.code(201);
    return object;
  } catch (error) {
    await audit(options, {
      actor: actorOf(caller.principal),
      action: 'application.create',
      target,
      project,
      result: 'failure',
      reason: reasonOf(error),
    });
    throw error;
  }
}

async function updateApplication(
  options: ServerApiOptions,
  request: FastifyRequest,
  _reply: FastifyReply,
  caller: Caller,
): Promise<unknown> {
  const { namespace, name } = request.params as Params;
  const app = applicationOf(request.body);
  if (app.metadata.name !== name || app.metadata.namespace !== namespace)
    throw new HttpError(
      400,
      'INVALID_APPLICATION',
      `metadata.name and metadata.namespace must be those of the path (${namespace}/${name})`,
    );
  const live = found(options, namespace, name);
  const target = targetOf(namespace, name);
  const before = projectOf(live);
  const after = projectOf(app);
  await requirePermission(options, caller, 'applications.update', before, {
    action: 'application.update',
    target,
  });
  if (after !== before)
    await requirePermission(options, caller, 'applications.update', after, {
      action: 'application.update',
      target,
    });
  const wanted = app.metadata.resourceVersion;
  if (wanted !== undefined && wanted !== live.metadata.resourceVersion)
    throw new HttpError(
      409,
      'CONFLICT',
      `application '${namespace}/${name}' changed since resourceVersion ${wanted}: read it again and retry`,
    );
  try {
    const body = applied(app);
    const { object } = await options.writer.apply(
      {
        ...body,
        metadata: { ...body.metadata, ...(wanted === undefined ? {} : { resourceVersion: wanted }) },
      },
      { fieldManager: SERVER_FIELD_MANAGER },
    );
    await audit(options, {
      actor: actorOf(caller.principal),
      action: 'application.update',
      target,
      project: after,
      result: 'success',
    });
    return object;
  } catch (error) {
    await audit(options, {
      actor: actorOf(caller.principal),
      action: 'application.update',
      target,
      project: after,
      result: 'failure',
      reason: reasonOf(error),
    });
    throw conflictOr(error, namespace, name);
  }
}

async function deleteApplication(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
): Promise<unknown> {
  const { namespace, name } = request.params as Params;
  const query = request.query as { cascade?: 'true' | 'false'; resourceVersion?: string };
  const cascade = query.cascade !== 'false';
  const live = found(options, namespace, name);
  const project = projectOf(live);
  const target = targetOf(namespace, name);
  await requirePermission(options, caller, 'applications.delete', project, {
    action: 'application.delete',
    target,
  });
  if (query.resourceVersion !== undefined && query.resourceVersion !== live.metadata.resourceVersion)
    throw new HttpError(
      409,
      'CONFLICT',
      `application '${namespace}/${name}' changed since resourceVersion ${query.resourceVersion}: read it again and retry`,
    );
  try {
    const finalizers = live.metadata.finalizers ?? [];
    const has = finalizers.includes(RESOURCES_FINALIZER);
    const terminating = live.metadata.deletionTimestamp !== undefined;
    const wanted =
      cascade && !has && !terminating
        ? [...finalizers, RESOURCES_FINALIZER]
        : !cascade && has
          ? finalizers.filter((f) => f !== RESOURCES_FINALIZER)
          : undefined;
    // The resourceVersion guards the whole finalizer list, then the delete is conditional on the result.
    const current =
      wanted === undefined
        ? live
        : await options.writer.patchMetadata(namespace, name, {
            finalizers: wanted,
            resourceVersion: live.metadata.resourceVersion ?? '',
          });
    await options.writer.delete(namespace, name, {
      uid: current.metadata.uid ?? '',
      resourceVersion: current.metadata.resourceVersion ?? '',
    });
    const resources = (live.status?.resources ?? []).length;
    await audit(options, {
      actor: actorOf(caller.principal),
      action: 'application.delete',
      target,
      project,
      result: 'success',
      changes: { cascade, resources },
    });
    void reply.code(202);
    return { action: 'delete', resourceVersion: current.metadata.resourceVersion ?? '' };
  } catch (error) {
    await audit(options, {
      actor: actorOf(caller.principal),
      action: 'application.delete',
      target,
      project,
      result: 'failure',
      reason: reasonOf(error),
    });
    throw conflictOr(error, namespace, name);
  }
}

/** Nodes of the resource tree from status.resources; owners are the Application itself (parents []). */
function resourceTree(app: Application): { nodes: unknown[] } {
  const namespace = app.metadata.namespace ?? '';
  return {
    nodes: (app.status?.resources ?? []).map((r) => ({
      id: formatId({ group: r.group, kind: r.kind, namespace: r.namespace ?? '', name: r.name }),
      group: r.group,
      kind: r.kind,
      namespace: r.namespace ?? '',
      name: r.name,
      ...(r.syncStatus === undefined ? {} : { syncStatus: r.syncStatus }),
      ...(r.health === undefined ? {} : { health: r.health.status }),
      ...(r.message === undefined ? {} : { message: r.message }),
      parents: [targetOf(namespace, app.metadata.name)],
    })),
  };
}
