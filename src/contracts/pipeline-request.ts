/**
 * A request for a run, written on a `Pipeline` as an annotation by whichever process received it (the
 * agent's webhook receivers, the server's `run` action), and read by the one process that drives runs
 * (the leader of the pipeline controller). An annotation rather than a local queue: any replica may
 * receive a webhook, only the leader starts runs, and the API server carries the request between
 * them. One annotation per ref: a newer push to a ref replaces the older request, which is what
 * `cancelOlder` would do anyway; the Store remembers which requests became runs.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { FORK_AUTHOR_PATTERN } from './pipeline.ts';
import { validate } from './validate.ts';

/** Annotation keys `run-request.capstan.dev/<16 hex of the ref>` (one per ref; `manual` for runs by hand). */
export const RUN_REQUEST_PREFIX = 'run-request.capstan.dev/';

/** Changed paths kept in a request; a longer list is dropped (unknown: the path filters let it run). */
export const MAX_REQUEST_PATHS = 200;

/** A pull request as a run records it: its number, and the branches it goes from and into. */
export const PullRequestInfoSchema = Type.Object(
  {
    number: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
    sourceBranch: Type.String({ minLength: 1, maxLength: 255 }),
    targetBranch: Type.String({ minLength: 1, maxLength: 255 }),
    /** It comes from another repository (a fork): it runs without secrets, when its Pipeline runs forks. */
    fromFork: Type.Optional(Type.Boolean()),
    /** The pull request's author (their login), whom `forkPullRequests: RequireApproval` approves. */
    author: Type.Optional(Type.String({ pattern: FORK_AUTHOR_PATTERN, maxLength: 100 })),
  },
  { additionalProperties: false },
);
export type PullRequestInfo = Static<typeof PullRequestInfoSchema>;

export const RunRequestSchema = Type.Object(
  {
    /** A unique id of the request (a webhook's delivery, a person's click). */
    id: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Type.Union([
      Type.Literal('push'),
      Type.Literal('pullRequest'),
      Type.Literal('manual'),
      Type.Literal('rerun'),
    ]),
    /**
     * `refs/heads/<branch>` or `refs/tags/<tag>` (a manual run may name either); a pull request its
     * head in the target repository (`refs/pull/<n>/head`, GitLab `refs/merge-requests/<n>/head`).
     */
    ref: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    /** The commit (absent for a manual run of a branch's head). */
    revision: Type.Optional(Type.String({ pattern: '^[0-9a-f]{40}$' })),
    changedPaths: Type.Optional(
      Type.Array(Type.String({ maxLength: 1024 }), { maxItems: MAX_REQUEST_PATHS }),
    ),
    /** The pull request of a request of kind `pullRequest`. */
    pullRequest: Type.Optional(PullRequestInfoSchema),
    /** Who asked: `webhook:<provider>`, a user. */
    by: Type.String({ minLength: 1, maxLength: 256 }),
    /** The run a re-run repeats. */
    rerunOf: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** When it was asked, ISO 8601. */
    at: Type.String({ minLength: 1, maxLength: 64 }),
    /**
     * The server's seal (HMAC-SHA256 of the request and its Pipeline, hex): `by` was taken from the
     * server's authenticated caller. Without a valid one, `by` is recorded as `unverified:<by>`.
     */
    seal: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  },
  { additionalProperties: false },
);
export type RunRequest = Static<typeof RunRequestSchema>;

/**
 * The annotation key of a request for `ref` (one per branch, tag or pull request; manual runs and
 * re-runs share `manual` and `rerun`).
 */
export function runRequestKey(request: Pick<RunRequest, 'ref' | 'kind'>): string {
  if (request.kind !== 'push' && request.kind !== 'pullRequest')
    return `${RUN_REQUEST_PREFIX}${request.kind}`;
  const digest = createHash('sha256')
    .update(request.ref ?? '')
    .digest('hex');
  return `${RUN_REQUEST_PREFIX}${digest.slice(0, 16)}`;
}

/** The annotation value: compact JSON, without a path list that would not fit. */
export function encodeRunRequest(request: RunRequest): string {
  const paths = request.changedPaths;
  const fits = paths === undefined || paths.length <= MAX_REQUEST_PATHS;
  const { changedPaths: _dropped, ...rest } = request;
  return JSON.stringify(fits && paths !== undefined ? { ...rest, changedPaths: paths } : rest);
}

/** The requests among a Pipeline's annotations; malformed ones are returned as problems, not thrown. */
export function runRequestsOf(annotations: Readonly<Record<string, string>> | undefined): {
  readonly requests: readonly RunRequest[];
  readonly problems: readonly string[];
} {
  const requests: RunRequest[] = [];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(RUN_REQUEST_PREFIX)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      problems.push(`annotation ${key}: not JSON; remove it`);
      continue;
    }
    const checked = validate(RunRequestSchema, parsed);
    if (checked.ok) requests.push(checked.value);
    else problems.push(`annotation ${key}: ${checked.errors.join('; ')}; remove it`);
  }
  return { requests, problems };
}

/** What a run records as its requester when a request's `by` is not sealed by the server. */
export const UNVERIFIED_PREFIX = 'unverified:';

/** The text a seal covers: the Pipeline and every field of the request but the seal, in a fixed order. */
function sealedText(pipeline: { namespace: string; name: string }, request: RunRequest): string {
  const { seal: _seal, ...fields } = request;
  const ordered = Object.fromEntries(Object.entries(fields).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify([pipeline.namespace, pipeline.name, ordered]);
}

const macOf = (key: Uint8Array, text: string): string => createHmac('sha256', key).update(text).digest('hex');

/** The key run requests are sealed with, derived from the server's shared key (Secret capstan-server). */
export const runRequestKeyOf = (sharedKey: Uint8Array): Buffer =>
  createHmac('sha256', sharedKey).update('capstan.dev run requests v1').digest();

/**
 * The request with the server's seal: only a holder of `key` (the server, whose Secret no one else
 * reads) can write a request whose `by` the driver believes.
 */
export function sealRunRequest(
  pipeline: { readonly namespace: string; readonly name: string },
  request: RunRequest,
  key: Uint8Array,
): RunRequest {
  return { ...request, seal: macOf(key, sealedText(pipeline, request)) };
}

/**
 * Who asked, as a run records it: `by` when the seal is the server's for this Pipeline, else
 * `unverified:<by>` (anyone who may patch the Pipeline can write an annotation and any `by` in it).
 */
export function requesterOf(
  pipeline: { readonly namespace: string; readonly name: string },
  request: RunRequest,
  key: Uint8Array | undefined,
): string {
  if (key === undefined || request.seal === undefined) return `${UNVERIFIED_PREFIX}${request.by}`;
  const expected = Buffer.from(macOf(key, sealedText(pipeline, request)), 'hex');
  const given = Buffer.from(request.seal, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? request.by
    : `${UNVERIFIED_PREFIX}${request.by}`;
}
