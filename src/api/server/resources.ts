/**
 * One resource of an Application: its live manifest, its desired manifest (rendered from Git), the
 * diff between them and its Events. Readers of the Application's project may look; the resource must
 * be one the Application manages or renders (else 404), and a Secret's values never leave the server.
 * Also what its workloads own (ReplicaSets, Jobs, Pods) and a Pod's container log, JSON or followed
 * as server-sent events.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CapstanError, messageOf } from '../../core/errors.ts';
import {
  API_PREFIX,
  ApplicationParamsSchema,
  PodLogsQuerySchema,
  PodLogsSchema,
  ResourceTreeSchema,
  TraceSchema,
  type PodLogsQuery,
  ResourceDiffSchema,
  ResourceEventsSchema,
  ResourceManifestSchema,
  ResourceQuerySchema,
  SyncCandidatesSchema,
  type ResourceQuery,
} from '../../contracts/server-api.ts';
import type { Application } from '../../contracts/application.ts';
import { authorize } from '../../server/access.ts';
import type { LogTarget } from '../../ports/resource-reader.ts';
import { traceOf } from '../../server/trace.ts';
import type { ResourceViews } from '../../server/resource-views.ts';
import { errors, readable } from './applications.ts';
import { need, type Routes, type ServerApiOptions } from './context.ts';
import type { TSchema } from '@sinclair/typebox';
import { openEventStream } from './event-stream.ts';

const ONE = `${API_PREFIX}/applications/:namespace/:name`;
const RESOURCE = `${ONE}/resource`;

type View = (views: ResourceViews, app: Application, query: ResourceQuery) => Promise<unknown>;

const VIEWS: readonly { path: string; summary: string; schema: TSchema; view: View }[] = [
  {
    path: 'live',
    summary: 'The live manifest of one resource of the Application (a Secret’s values hidden)',
    schema: ResourceManifestSchema,
    view: (views, app, query) => views.live(app, query),
  },
  {
    path: 'desired',
    summary:
      'The desired manifest of one resource, rendered from Git at the synced (default) or target revision',
    schema: ResourceManifestSchema,
    view: (views, app, query) => views.desired(app, query),
  },
  {
    path: 'diff',
    summary: 'What a sync would change in one resource: a unified diff of live and desired',
    schema: ResourceDiffSchema,
    view: (views, app, query) => views.diff(app, query),
  },
  {
    path: 'events',
    summary: 'Kubernetes Events about one resource of the Application',
    schema: ResourceEventsSchema,
    view: (views, app, query) => views.events(app, query),
  },
];

export function resourceRoutes(routes: Routes, options: ServerApiOptions): void {
  for (const { path, summary, schema, view } of VIEWS)
    routes.add(
      {
        method: 'GET',
        url: `${RESOURCE}/${path}`,
        summary,
        tag: 'resources',
        access: 'applications.read',
        params: ApplicationParamsSchema,
        query: ResourceQuerySchema,
        responses: {
          200: { description: path, schema },
          // Each may render: a resource the Application does not manage must be one it renders.
          ...errors(400, 401, 403, 404, 502),
        },
      },
      async (request: FastifyRequest, _reply, caller) => {
        const app = await readable(options, request, need(caller));
        return view(options.resources, app, request.query as ResourceQuery);
      },
    );
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/sync-candidates`,
      summary:
        'What a sync may select: the desired resources at the target revision, and those that left it which the Application still owns (a sync with prune deletes them)',
      tag: 'resources',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      responses: {
        200: { description: 'the candidates, each marked', schema: SyncCandidatesSchema },
        ...errors(401, 403, 404, 502),
      },
    },
    async (request: FastifyRequest, _reply, caller) =>
      options.resources.syncCandidates(await readable(options, request, need(caller))),
  );
  podRoutes(routes, options);
}

/** Runs read for a trace, newest first: the images of older ones are not joined. */
const TRACE_RUNS = 500;

function podRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/trace`,
      summary:
        'The road of its workloads: the last syncs (configuration commits), each image its Pods run and the pipeline run that built it (by digest), and what could not be joined',
      tag: 'resources',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      responses: { 200: { description: 'the trace', schema: TraceSchema }, ...errors(401, 403, 404) },
    },
    async (request: FastifyRequest, _reply, caller) => {
      const app = await readable(options, request, need(caller));
      const principal = need(caller).principal;
      const runs = (await options.store.runs.list({ limit: TRACE_RUNS })).filter(
        (run) => authorize(principal, 'pipelines.read', run.project, options.projects).allowed,
      );
      return traceOf(app, await options.resources.pods(app), runs);
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/children`,
      summary:
        'What the Application’s workloads own (ReplicaSets, Jobs, Pods), by owner references, as tree nodes with health',
      tag: 'resources',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      responses: { 200: { description: 'children', schema: ResourceTreeSchema }, ...errors(401, 403, 404) },
    },
    async (request: FastifyRequest, _reply, caller) =>
      options.resources.children(await readable(options, request, need(caller))),
  );
  routes.add(
    {
      method: 'GET',
      url: `${RESOURCE}/logs`,
      summary:
        'A container’s log of one of the Application’s Pods (the last lines; follow=true: server-sent events)',
      tag: 'resources',
      access: 'applications.read',
      params: ApplicationParamsSchema,
      query: PodLogsQuerySchema,
      responses: {
        200: { description: 'the last lines (JSON), or text/event-stream', schema: PodLogsSchema },
        ...errors(400, 401, 403, 404, 409, 502),
      },
    },
    async (request: FastifyRequest, reply, caller) => {
      const app = await readable(options, request, need(caller));
      const query = request.query as PodLogsQuery;
      const target = await options.resources.logTarget(app, query);
      const answer = { id: `Pod/${target.pod.namespace}/${target.pod.name}`, container: target.container };
      if (query.follow !== 'true') return { ...answer, lines: await options.resources.logs(app, target) };
      followLog(options.resources, { app, target, request, reply });
      return undefined;
    },
  );
}

/**
 * Server-sent events: `line` for each line (the last `tailLines` first), then `end` when the container
 * stopped, or `failure` with the code and reason when the API server refused or the stream broke.
 */
function followLog(
  views: ResourceViews,
  {
    app,
    target,
    request,
    reply,
  }: { app: Application; target: LogTarget; request: FastifyRequest; reply: FastifyReply },
): void {
  const gone = openEventStream(request, reply);
  const send = (event: string, data: unknown) => {
    if (!reply.raw.writableEnded) reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  views
    .logs(app, target, {
      onLine: (line) => {
        send('line', line);
      },
      signal: gone,
    })
    .then(
      () => {
        send('end', { container: target.container });
      },
      (error: unknown) => {
        send('failure', {
          error: error instanceof CapstanError ? error.code : 'POD_LOGS_UNAVAILABLE',
          message: messageOf(error),
        });
      },
    )
    .finally(() => reply.raw.end());
}
