/**
 * Pipelines, the resources: the list (each with its newest run, only those of projects the caller may
 * read), one Pipeline, and a run by hand (`pipelines.run` in its project, audited as
 * `pipeline.run`), and the triggers of its pipeline file at a branch's head. A run by hand is a request written on the Pipeline with the server's seal, so the
 * driver believes who asked (docs/pipelines.md, "Who asked").
 */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  ForkAuthorParamsSchema,
  ForkAuthorRevokedSchema,
  PipelineInfoSchema,
  PipelineListQuerySchema,
  PipelineListSchema,
  PipelineParamsSchema,
  PipelineRunBodySchema,
  PipelineRunRequestedSchema,
  PipelineTriggersQuerySchema,
  PipelineTriggersSchema,
  type PipelineInfo,
  type PipelineRunBody,
  type PipelineTriggers,
} from '../../contracts/server-api.ts';
import { parsePipelineFile, PIPELINE_FILE_DEFAULTS } from '../../contracts/pipeline-file.ts';
import { CapstanError } from '../../core/errors.ts';
import type { RunRequest } from '../../contracts/pipeline-request.ts';
import type { PipelineDirectory, PipelineRef } from '../../ports/pipelines.ts';
import type { RunRecord } from '../../ports/store.ts';
import { authorize } from '../../server/access.ts';
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

const PIPELINES = `${API_PREFIX}/pipelines`;

/** A PipelineInfo answer, with the run as the Store has it. */
type PipelineView = Omit<PipelineInfo, 'lastRun'> & { readonly lastRun?: RunRecord };
const ONE = `${PIPELINES}/:namespace/:name`;

export function pipelineObjectRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: PIPELINES,
      summary: 'The Pipelines the caller may read, each with its newest run; filter by namespace, project',
      tag: 'pipelines',
      access: 'authenticated',
      query: PipelineListQuerySchema,
      responses: { 200: { description: 'the Pipelines', schema: PipelineListSchema }, ...errors(400, 401) },
    },
    async (request, _reply, caller) => listPipelines(options, request, need(caller)),
  );
  routes.add(
    {
      method: 'GET',
      url: ONE,
      summary: 'One Pipeline: its repository, project, file, newest run and approved fork authors',
      tag: 'pipelines',
      access: 'authenticated',
      params: PipelineParamsSchema,
      responses: {
        200: { description: 'the Pipeline', schema: PipelineInfoSchema },
        ...errors(401, 403, 404),
      },
    },
    async (request, _reply, caller) => {
      const entry = await readablePipeline(options, request, need(caller));
      return infoOf(options, entry);
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${ONE}/triggers`,
      summary:
        'The triggers of a Pipeline’s pipeline file (branches, tags, path filters, pull requests, manual) at a branch’s head',
      tag: 'pipelines',
      access: 'authenticated',
      params: PipelineParamsSchema,
      query: PipelineTriggersQuerySchema,
      responses: {
        200: { description: 'the file’s triggers, or why it has none', schema: PipelineTriggersSchema },
        ...errors(400, 401, 403, 404, 502, 503),
      },
    },
    async (request, _reply, caller) => {
      const entry = await readablePipeline(options, request, need(caller));
      return triggersOf(options, entry, (request.query as { branch?: string }).branch);
    },
  );
  forkAuthorRoutes(routes, options);
  routes.add(
    {
      method: 'POST',
      url: `${ONE}/runs`,
      summary:
        'Run a pipeline by hand: the head of a branch (default: the default branch), a tag, or a commit',
      tag: 'pipelines',
      access: 'pipelines.run',
      params: PipelineParamsSchema,
      body: PipelineRunBodySchema,
      responses: {
        202: { description: 'requested', schema: PipelineRunRequestedSchema },
        ...errors(400, 401, 403, 404, 503),
      },
    },
    async (request, reply, caller) => {
      const requested = await runByHand(options, request, need(caller));
      void reply.code(202);
      return requested;
    },
  );
}

/** The approved authors of pull requests from forks: revoke one. */
function forkAuthorRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'DELETE',
      url: `${ONE}/approved-authors/:login`,
      summary:
        'Revoke the approval of an author of pull requests from forks: their next runs wait for approval again',
      tag: 'pipelines',
      access: 'pipelines.run',
      params: ForkAuthorParamsSchema,
      responses: {
        200: { description: 'revoked', schema: ForkAuthorRevokedSchema },
        ...errors(401, 403, 404, 503),
      },
    },
    async (request, _reply, caller) => revokeAuthor(options, request, need(caller)),
  );
}

/** Revokes a fork author's approval (the driver's, as a cancel): `pipelines.run`, audited. */
async function revokeAuthor(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
): Promise<{ revoked: string }> {
  const entry = await existing(options, request);
  const { login } = request.params as { login: string };
  const audited = {
    action: 'pipeline.revoke-approval',
    target: `Pipeline/${entry.namespace}/${entry.name}/approved-authors/${login}`,
  };
  await requirePermission(options, caller, 'pipelines.run', entry.spec.project, audited);
  const result =
    options.pipelineRuns === undefined
      ? 'elsewhere'
      : await options.pipelineRuns.revoke(entry, login, caller.principal.name);
  if (result === 'elsewhere' || result === undefined)
    throw new HttpError(
      503,
      'PIPELINES_NOT_DRIVEN_HERE',
      'this server does not drive pipeline runs now (see capstan server --pipeline-image); retry on the one that does',
    );
  if (!result)
    throw new HttpError(
      404,
      'PIPELINE_AUTHOR_NOT_APPROVED',
      `${login} is not an approved author of Pipeline/${entry.namespace}/${entry.name}`,
    );
  await audit(options, {
    actor: actorOf(caller.principal),
    ...audited,
    project: entry.spec.project,
    result: 'success',
  });
  return { revoked: login };
}

/** The cluster's Pipelines, or 503 on a server built without them. */
function directoryOf(options: ServerApiOptions): PipelineDirectory {
  if (options.pipelines === undefined)
    throw new HttpError(503, 'PIPELINES_UNAVAILABLE', 'this server does not read Pipelines');
  return options.pipelines;
}

async function listPipelines(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
): Promise<{ items: PipelineView[] }> {
  const query = request.query as { namespace?: string; project?: string };
  const entries = await directoryOf(options).list(query.namespace);
  const readable = entries
    .filter((entry) => query.project === undefined || entry.spec.project === query.project)
    .filter(
      (entry) => authorize(caller.principal, 'pipelines.read', entry.spec.project, options.projects).allowed,
    )
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return { items: await Promise.all(readable.map((entry) => infoOf(options, entry))) };
}

/** The Pipeline of the path, when the caller may read it (404 when there is none, 403 when it may not). */
async function readablePipeline(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
): Promise<PipelineRef> {
  const entry = await existing(options, request);
  await requirePermission(options, caller, 'pipelines.read', entry.spec.project);
  return entry;
}

async function existing(options: ServerApiOptions, request: FastifyRequest): Promise<PipelineRef> {
  const { namespace, name } = request.params as { namespace: string; name: string };
  const entry = await directoryOf(options).get(namespace, name);
  if (entry === undefined)
    throw new HttpError(404, 'NOT_FOUND', `no Pipeline/${namespace}/${name} (or it is not valid)`);
  return entry;
}

/**
 * A Pipeline as the API shows it: the spec with defaults, its newest run from the Store, and the fork
 * authors its status approves (to whoever may read it; revoking one needs `pipelines.run`).
 */
async function infoOf(options: ServerApiOptions, entry: PipelineRef): Promise<PipelineView> {
  const [lastRun] = await options.store.runs.list({
    namespace: entry.namespace,
    pipeline: entry.name,
    limit: 1,
  });
  const { spec } = entry;
  return {
    namespace: entry.namespace,
    name: entry.name,
    project: spec.project,
    repoURL: spec.repoURL,
    file: spec.file,
    serviceAccountName: spec.serviceAccountName,
    ...(spec.pollInterval === undefined ? {} : { pollInterval: spec.pollInterval }),
    suspend: spec.suspend,
    forkPullRequests: spec.forkPullRequests,
    ...(lastRun === undefined ? {} : { lastRun }),
    ...(entry.approvedForkAuthors === undefined
      ? {}
      : { approvedForkAuthors: [...entry.approvedForkAuthors] }),
  };
}

/** The pipeline file at the head of `branch` (default: the default branch), read and parsed as the driver does. */
async function triggersOf(
  options: ServerApiOptions,
  entry: PipelineRef,
  branch: string | undefined,
): Promise<PipelineTriggers> {
  const reader = options.pipelineFiles;
  if (reader === undefined)
    throw new HttpError(503, 'PIPELINES_UNAVAILABLE', 'this server does not read pipeline files');
  const where = `${entry.spec.repoURL} (${branch === undefined ? 'the default branch' : `branch ${branch}`})`;
  let read: Awaited<ReturnType<typeof reader.read>>;
  try {
    read = await reader.read(entry, branch);
  } catch (error) {
    if (!(error instanceof CapstanError) || !error.code.startsWith('SOURCE_')) throw error;
    if (error.code === 'SOURCE_REF_NOT_FOUND')
      throw new HttpError(404, 'NOT_FOUND', `no branch ${branch ?? '(default)'} in ${entry.spec.repoURL}`);
    throw new HttpError(502, error.code, `cannot read ${where}: ${error.message}`);
  }
  const at = { file: entry.spec.file, ref: read.ref, commit: read.commit };
  if (read.text === undefined) return { ...at, state: 'missing' };
  try {
    const { triggers } = parsePipelineFile(read.text, entry.spec.file);
    return {
      ...at,
      state: 'ok',
      ...(triggers?.push === undefined ? {} : { push: triggers.push }),
      ...(triggers?.pullRequest === undefined ? {} : { pullRequest: triggers.pullRequest }),
      manual: triggers?.manual ?? PIPELINE_FILE_DEFAULTS.manual,
    };
  } catch (error) {
    if (error instanceof CapstanError && error.code === 'PIPELINE_FILE_INVALID')
      return { ...at, state: 'invalid', problem: error.message };
    throw error;
  }
}

/** The full ref a run by hand names: a branch or a tag, never both (400). */
function refOf(body: PipelineRunBody): string | undefined {
  if (body.branch !== undefined && body.tag !== undefined)
    throw new HttpError(400, 'BAD_REQUEST', 'name a branch or a tag to run, not both');
  if (body.branch !== undefined) return `refs/heads/${body.branch}`;
  if (body.tag !== undefined) return `refs/tags/${body.tag}`;
  return undefined;
}

/** Writes a sealed `manual` request with the caller as `by`; audited, refusals too. */
async function runByHand(options: ServerApiOptions, request: FastifyRequest, caller: Caller) {
  const entry = await existing(options, request);
  const audited = { action: 'pipeline.run', target: `Pipeline/${entry.namespace}/${entry.name}` };
  await requirePermission(options, caller, 'pipelines.run', entry.spec.project, audited);
  const body = (request.body ?? {}) as PipelineRunBody;
  const ref = refOf(body);
  const runRequest: RunRequest = {
    id: `manual-${randomBytes(8).toString('hex')}`,
    kind: 'manual',
    ...(ref === undefined ? {} : { ref }),
    ...(body.commit === undefined ? {} : { revision: body.commit }),
    by: caller.principal.name,
    at: new Date(options.now()).toISOString(),
  };
  await directoryOf(options).requestRun(entry, runRequest);
  await audit(options, {
    actor: actorOf(caller.principal),
    ...audited,
    project: entry.spec.project,
    result: 'success',
    changes: {
      ...(body.branch === undefined ? {} : { branch: body.branch }),
      ...(body.tag === undefined ? {} : { tag: body.tag }),
      ...(body.commit === undefined ? {} : { commit: body.commit }),
    },
  });
  return {
    pipeline: `${entry.namespace}/${entry.name}`,
    request: runRequest.id,
    ...(runRequest.ref === undefined ? {} : { ref: runRequest.ref }),
    ...(runRequest.revision === undefined ? {} : { revision: runRequest.revision }),
    by: runRequest.by,
  };
}
