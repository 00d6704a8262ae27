/**
 * Pipeline runs: list and filter (newest first, paged by `before`), one run, its logs (JSON, or
 * server-sent events that follow the run until it ends, resumable with Last-Event-ID through the
 * Store's line numbers), cancel and re-run. Reads need `pipelines.read` in the run's project, actions
 * `pipelines.run`; actions are audited.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  RunListQuerySchema,
  RunListSchema,
  RunLogsQuerySchema,
  RunLogsSchema,
  RunParamsSchema,
  RunSchema,
} from '../../contracts/server-api.ts';
import { authorize } from '../../server/access.ts';
import type { RunRecord, RunRecordPhase } from '../../ports/store.ts';
import { errors } from './applications.ts';
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
import { openEventStream } from './event-stream.ts';

const RUNS = `${API_PREFIX}/runs`;
const ONE = `${RUNS}/:id`;
const DEFAULT_LIMIT = 50;
const LOG_PAGE = 1000;
const ENDED: readonly RunRecordPhase[] = ['Succeeded', 'Failed', 'Cancelled'];

export function pipelineRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: RUNS,
      summary:
        'Pipeline runs the caller may read, newest first; filter by namespace, pipeline, phase, branch',
      tag: 'pipelines',
      access: 'authenticated',
      query: RunListQuerySchema,
      responses: { 200: { description: 'a page of runs', schema: RunListSchema }, ...errors(400, 401) },
    },
    async (request, _reply, caller) => listRuns(options, request, need(caller)),
  );
  routes.add(
    {
      method: 'GET',
      url: ONE,
      summary: 'One pipeline run: its commit, trigger, steps, images and how it ended',
      tag: 'pipelines',
      access: 'authenticated',
      params: RunParamsSchema,
      responses: { 200: { description: 'the run', schema: RunSchema }, ...errors(401, 403, 404) },
    },
    async (request, _reply, caller) => readable(options, request, need(caller)),
  );
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/logs`,
      summary: 'A run’s log lines (masked); follow=true: server-sent events until the run ends',
      tag: 'pipelines',
      access: 'authenticated',
      params: RunParamsSchema,
      query: RunLogsQuerySchema,
      responses: {
        200: { description: 'the lines after `after` (JSON), or text/event-stream', schema: RunLogsSchema },
        ...errors(400, 401, 403, 404),
      },
    },
    async (request, reply, caller) => {
      const run = await readable(options, request, need(caller));
      const query = request.query as { after?: string; step?: string; follow?: string };
      if (query.follow === 'true') {
        followLogs(options, request, reply, run);
        return undefined;
      }
      const lines = await options.store.runs.logs(run.id, {
        afterSeq: Number(query.after ?? '0'),
        ...(query.step === undefined ? {} : { step: query.step }),
        limit: LOG_PAGE,
      });
      return { lines };
    },
  );
  for (const action of ['cancel', 'rerun', 'approve'] as const)
    routes.add(
      {
        method: 'POST',
        url: `${ONE}/${action}`,
        summary: ACTION_SUMMARIES[action],
        tag: 'pipelines',
        access: 'pipelines.run',
        params: RunParamsSchema,
        responses: {
          202: {
            description: 'done (cancel: the run as it ended; approve: the run queued) or requested (rerun)',
            schema: RunSchema,
          },
          ...errors(401, 403, 404, ...(action === 'approve' ? [409] : []), 503),
        },
      },
      async (request, reply, caller) => {
        const result = await runAction(options, request, need(caller), action);
        void reply.code(202);
        return result;
      },
    );
}

async function listRuns(options: ServerApiOptions, request: FastifyRequest, caller: Caller) {
  const query = request.query as {
    namespace?: string;
    pipeline?: string;
    phase?: RunRecordPhase;
    branch?: string;
    before?: string;
    limit?: string;
  };
  const limit = Number(query.limit ?? DEFAULT_LIMIT);
  const page = await options.store.runs.list({
    ...(query.namespace === undefined ? {} : { namespace: query.namespace }),
    ...(query.pipeline === undefined ? {} : { pipeline: query.pipeline }),
    ...(query.phase === undefined ? {} : { phase: query.phase }),
    ...(query.branch === undefined ? {} : { branch: query.branch }),
    ...(query.before === undefined ? {} : { before: query.before }),
    limit,
  });
  const items = page.filter((run) => mayRead(options, caller, run));
  const last = page.at(-1);
  return { items, ...(page.length === limit && last !== undefined ? { nextCursor: last.id } : {}) };
}

const mayRead = (options: ServerApiOptions, caller: Caller, run: RunRecord): boolean =>
  authorize(caller.principal, 'pipelines.read', run.project, options.projects).allowed;

/** The run, when the caller may read it (404 when there is none, 403 when it may not). */
async function readable(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
): Promise<RunRecord> {
  const { id } = request.params as { id: string };
  const run = await options.store.runs.get(id);
  if (run === undefined) throw new HttpError(404, 'NOT_FOUND', `no pipeline run '${id}'`);
  await requirePermission(options, caller, 'pipelines.read', run.project);
  return run;
}

const ACTION_SUMMARIES = {
  cancel: 'Cancel a queued or running run (its Pod goes at once)',
  rerun: 'Run a run’s commit again',
  approve:
    'Approve a run of a pull request from a fork that waits for approval: it runs (without secrets), and its author is approved for the Pipeline’s next runs',
} as const;

async function runAction(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
  action: 'cancel' | 'rerun' | 'approve',
): Promise<RunRecord> {
  const { id } = request.params as { id: string };
  const run = await options.store.runs.get(id);
  if (run === undefined) throw new HttpError(404, 'NOT_FOUND', `no pipeline run '${id}'`);
  const target = `Run/${run.namespace}/${run.pipeline}/${run.id}`;
  const audited = { action: `pipeline.${action}`, target };
  await requirePermission(options, caller, 'pipelines.run', run.project, audited);
  const actions = options.pipelineRuns;
  const by = caller.principal.name;
  const result =
    actions === undefined
      ? 'elsewhere'
      : action === 'cancel'
        ? await actions.cancel(id, by)
        : action === 'approve'
          ? await actions.approve(id, by)
          : await actions.rerun(run, by).then(() => run);
  if (result === 'not-waiting') {
    await audit(options, {
      actor: actorOf(caller.principal),
      ...audited,
      project: run.project,
      result: 'failure',
      reason: `the run is ${run.phase}, not waiting for approval`,
    });
    throw new HttpError(
      409,
      'PIPELINE_RUN_NOT_WAITING',
      `run ${id} is ${run.phase}: only a run waiting for approval (WaitingForApproval) can be approved`,
    );
  }
  if (result === 'elsewhere')
    throw new HttpError(
      503,
      'PIPELINES_NOT_DRIVEN_HERE',
      'this server does not drive pipeline runs now (see capstan server --pipeline-image); retry on the one that does',
    );
  await audit(options, {
    actor: actorOf(caller.principal),
    ...audited,
    project: run.project,
    result: 'success',
  });
  return result ?? run;
}

/** Server-sent events: each line as `id: <seq>`, from Last-Event-ID (or `after`), until the run ended and every line was sent. */
function followLogs(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  run: RunRecord,
): void {
  const query = request.query as { after?: string; step?: string };
  const lastId = request.headers['last-event-id'];
  let after = Number(
    typeof lastId === 'string' && /^[0-9]{1,15}$/.test(lastId) ? lastId : (query.after ?? '0'),
  );
  const gone = openEventStream(request, reply);
  const pump = async (): Promise<void> => {
    while (!gone.aborted) {
      const ended = ENDED.includes((await options.store.runs.get(run.id))?.phase ?? 'Cancelled');
      const lines = await options.store.runs.logs(run.id, {
        afterSeq: after,
        ...(query.step === undefined ? {} : { step: query.step }),
        limit: LOG_PAGE,
      });
      for (const line of lines) {
        reply.raw.write(`id: ${String(line.seq)}\nevent: line\ndata: ${JSON.stringify(line)}\n\n`);
        after = line.seq;
      }
      if (ended && lines.length < LOG_PAGE) {
        reply.raw.write(
          `event: end\ndata: ${JSON.stringify({ phase: (await options.store.runs.get(run.id))?.phase })}\n\n`,
        );
        break;
      }
      if (lines.length === 0)
        await new Promise((resolve) =>
          setTimeout(resolve, options.heartbeatMs === undefined ? 500 : Math.min(500, options.heartbeatMs)),
        );
    }
    reply.raw.end();
  };
  void pump().catch(() => reply.raw.end());
}
