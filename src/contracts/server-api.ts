/**
 * The server's HTTP API (`capstan server`, under /api/v1): the bodies it takes and the answers it
 * gives, as TypeBox schemas. One definition gives the TypeScript types (used by the API, the CLI and
 * the web UI), the validation of requests, and the OpenAPI 3.1 document served at /api/v1/openapi.json.
 * Request bodies are closed: an unknown field is refused (400), not dropped.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { FORK_AUTHOR_PATTERN, RUN_PHASES } from './pipeline.ts';
import { oneOf } from './validate.ts';

export const API_PREFIX = '/api/v1';

function ObjectSchemaOf(): TSchema {
  return Type.Object({}, { additionalProperties: true, description: 'A Kubernetes object.' });
}

const closed = <P extends Parameters<typeof Type.Object>[0]>(properties: P, description: string) =>
  Type.Object(properties, { additionalProperties: false, description });
const name = (description: string) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', description });

export const ROLE_NAMES = ['viewer', 'deployer', 'admin'] as const;
export const AUDIT_RESULT_NAMES = ['success', 'failure', 'denied'] as const;

// ── Errors ──────────────────────────────────────────────────────────────────────────────────────

export const ErrorBodySchema = Type.Object(
  {
    error: Type.String({
      description: 'A stable code: UNAUTHENTICATED, FORBIDDEN, CURSOR_INVALID, CONFLICT, …',
    }),
    message: Type.String({ description: 'What was wrong and what to do.' }),
    permission: Type.Optional(
      Type.String({ description: 'With FORBIDDEN: the permission that is missing.' }),
    ),
    project: Type.Optional(Type.String({ description: 'With FORBIDDEN: the project it is missing in.' })),
  },
  { description: 'A refusal or a failure.' },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;

// ── Login, sessions, tokens ─────────────────────────────────────────────────────────────────────

export const LoginRequestSchema = closed(
  {
    username: Type.String({ minLength: 1, maxLength: 253 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  'A local user and password.',
);
export type LoginRequest = Static<typeof LoginRequestSchema>;

export const SessionSchema = Type.Object(
  {
    user: Type.String(),
    kind: oneOf(['user', 'token'] as const),
    admin: Type.Boolean({ description: 'Global admin.' }),
    groups: Type.Array(Type.String()),
    csrfToken: Type.Optional(
      Type.String({
        description: 'Send it back in the X-CSRF-Token header with every unsafe request of this session.',
      }),
    ),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
    scope: Type.Optional(Type.Object({ project: Type.String(), role: oneOf(ROLE_NAMES) })),
  },
  { description: 'Who is calling.' },
);
export type SessionInfo = Static<typeof SessionSchema>;

// ── Single sign-on (OIDC) ───────────────────────────────────────────────────────────────────────

export const AuthConfigSchema = Type.Object(
  {
    local: Type.Boolean({ description: 'Local users log in with POST /api/v1/session.' }),
    sso: Type.Optional(
      Type.Object({
        issuer: Type.String({ description: 'The OpenID provider.' }),
        loginUrl: Type.String({ description: 'Send the browser here to log in (GET).' }),
        endSessionUrl: Type.Optional(
          Type.String({ description: 'The provider’s own logout, after DELETE /api/v1/session.' }),
        ),
      }),
    ),
  },
  { description: 'How to log in to this server.' },
);
export type AuthConfig = Static<typeof AuthConfigSchema>;

export const SsoLoginQuerySchema = closed(
  {
    return: Type.Optional(
      Type.String({
        maxLength: 2048,
        pattern: '^/(?![/\\\\])',
        description: 'A path of this server to land on after the login (default /).',
      }),
    ),
    cli: Type.Optional(
      Type.String({
        maxLength: 200,
        description:
          'The CLI’s loopback address (http://127.0.0.1:PORT/…): the login ends there with a one-time code.',
      }),
    ),
    challenge: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_-]{43}$',
        description:
          'With cli: base64url SHA-256 of the CLI’s verifier (PKCE between the CLI and the server).',
      }),
    ),
  },
  'Where a login goes after the provider.',
);
export type SsoLoginQuery = Static<typeof SsoLoginQuerySchema>;

export const SsoCallbackQuerySchema = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    state: Type.Optional(Type.String({ maxLength: 1024 })),
    error: Type.Optional(Type.String({ maxLength: 1024 })),
    error_description: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  {
    additionalProperties: true,
    description: 'The provider’s answer (other parameters it adds, such as iss, are kept for the checks).',
  },
);

export const SsoExchangeRequestSchema = closed(
  {
    code: Type.String({ minLength: 1, maxLength: 4096, description: 'The one-time code the loopback got.' }),
    verifier: Type.String({ minLength: 43, maxLength: 128, description: 'The CLI’s PKCE verifier.' }),
  },
  'The CLI trades its one-time code for its session.',
);
export type SsoExchangeRequest = Static<typeof SsoExchangeRequestSchema>;

export const BackchannelLogoutRequestSchema = closed(
  {
    logout_token: Type.String({
      minLength: 1,
      maxLength: 16384,
      description:
        'The logout token: a JWT the OpenID provider signed (OpenID Connect Back-Channel Logout 1.0).',
    }),
  },
  'What the OpenID provider posts (application/x-www-form-urlencoded) when a user’s session ends there.',
);
export type BackchannelLogoutRequest = Static<typeof BackchannelLogoutRequestSchema>;

export const SsoExchangeResponseSchema = Type.Object(
  {
    session: Type.String({ description: 'The session secret (the value of the capstan_session cookie).' }),
    csrfToken: Type.String(),
    user: Type.String(),
    groups: Type.Array(Type.String()),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { description: 'The CLI’s session.' },
);
export type SsoExchangeResponse = Static<typeof SsoExchangeResponseSchema>;

export const TokenRequestSchema = closed(
  {
    name: Type.String({ minLength: 1, maxLength: 100, description: 'What it is for: ci-deploy-web.' }),
    project: Type.String({
      minLength: 1,
      maxLength: 253,
      description: "The project it acts in; '*' for every project (global admins only).",
    }),
    role: oneOf(ROLE_NAMES, {
      description: 'viewer, deployer or admin; at most the creator’s own role there.',
    }),
    expiresInDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 366, description: 'Days until it expires. Default 90.' }),
    ),
  },
  'An API token to create.',
);
export type TokenRequest = Static<typeof TokenRequestSchema>;

export const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    project: Type.String(),
    role: oneOf(ROLE_NAMES),
    createdBy: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    revokedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { description: 'An API token, without its secret.' },
);
export type TokenInfo = Static<typeof TokenSchema>;

export const CreatedTokenSchema = Type.Object(
  {
    token: Type.String({
      description: 'The token: shown this once, send it as `Authorization: Bearer <token>`.',
    }),
    info: TokenSchema,
  },
  { description: 'A new API token.' },
);

// ── Applications ────────────────────────────────────────────────────────────────────────────────

export const ApplicationSummarySchema = Type.Object(
  {
    namespace: Type.String(),
    name: Type.String(),
    project: Type.String(),
    labels: Type.Record(Type.String(), Type.String()),
    repoURL: Type.String(),
    path: Type.String(),
    targetRevision: Type.String(),
    cluster: Type.String(),
    destinationNamespace: Type.String(),
    sync: Type.String({ description: 'Synced, OutOfSync or Unknown.' }),
    health: Type.String({ description: 'Healthy, Progressing, Degraded, Suspended, Missing or Unknown.' }),
    revision: Type.Optional(Type.String()),
    operation: Type.Optional(Type.Object({ type: Type.String(), phase: Type.String() })),
    ready: Type.Optional(
      Type.Object({ status: Type.String(), reason: Type.String(), message: Type.String() }),
    ),
    held: Type.Boolean({ description: 'A rollback holds automated sync.' }),
    suspended: Type.Boolean(),
    resourceVersion: Type.String(),
    createdAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { description: 'One row of the Applications list.' },
);

export const ApplicationListQuerySchema = closed(
  {
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: 'Items per page, 1 to 500. Default 100.' }),
    ),
    cursor: Type.Optional(Type.String({ maxLength: 2048, description: 'The `next` of the previous page.' })),
    project: Type.Optional(Type.String({ maxLength: 253 })),
    namespace: Type.Optional(Type.String({ maxLength: 63 })),
    cluster: Type.Optional(Type.String({ maxLength: 253 })),
    repository: Type.Optional(
      Type.String({ maxLength: 2048, description: 'Any URL form of the repository.' }),
    ),
    sync: Type.Optional(oneOf(['Synced', 'OutOfSync', 'Unknown'] as const)),
    health: Type.Optional(
      oneOf(['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'] as const),
    ),
    labels: Type.Optional(Type.String({ maxLength: 1024, description: 'A label selector: a=b,c!=d,e,!f.' })),
    view: Type.Optional(
      oneOf(['summary', 'full'] as const, {
        description:
          'summary (default): one row per Application; full: the Application objects (items are then objects).',
      }),
    ),
    search: Type.Optional(
      Type.String({ maxLength: 256, description: 'Text in name, namespace, project, repository or path.' }),
    ),
  },
  'Filters and paging of the Applications list.',
);
export type ApplicationListQuery = Static<typeof ApplicationListQuerySchema>;

export const ApplicationListSchema = Type.Object(
  {
    items: Type.Array(Type.Union([ApplicationSummarySchema, ObjectSchemaOf()])),
    total: Type.Integer({ description: 'Items matching the filters, over every page.' }),
    next: Type.Optional(Type.String({ description: 'Cursor of the next page; absent on the last page.' })),
  },
  { description: 'A page of Applications.' },
);
export type ApplicationList = Static<typeof ApplicationListSchema>;

/** A resourceVersion as the API server makes them: a decimal number. */
const RESOURCE_VERSION_PATTERN = '^[0-9]{1,20}$';

/** Every action takes the resourceVersion the client saw: a changed Application is refused with 409. */
const precondition = {
  resourceVersion: Type.Optional(
    Type.String({
      // The API server's resourceVersions are decimal (etcd's revision); it answers anything else with
      // a 500 of its own, so another string is refused here, 400.
      pattern: RESOURCE_VERSION_PATTERN,
      maxLength: 20,
      description: 'The resourceVersion the client acted on; when the Application changed since, 409.',
    }),
  ),
};

export const ResourceSelectorSchema = closed(
  {
    group: Type.String({ maxLength: 253 }),
    kind: Type.String({ minLength: 1, maxLength: 63 }),
    namespace: Type.Optional(
      Type.String({
        maxLength: 63,
        description: "Default '': a cluster-scoped resource, or one in the destination namespace.",
      }),
    ),
    name: Type.String({ minLength: 1, maxLength: 253 }),
  },
  'One managed resource.',
);

export const SyncRequestSchema = closed(
  {
    ...precondition,
    prune: Type.Optional(
      Type.Boolean({
        description:
          'Prune in this sync (true) or not (false); default as spec.syncPolicy.automated.prune. Carried to the agent in the sync annotation (`<id>;prune`).',
      }),
    ),
    dryRun: Type.Optional(
      Type.Boolean({
        description:
          'Only say what a sync to the target revision would do (200 with the entries); nothing is asked of the agent.',
      }),
    ),
    resources: Type.Optional(
      Type.Array(ResourceSelectorSchema, {
        minItems: 1,
        maxItems: 500,
        description:
          "Only these resources of the desired state (Argo CD's selective sync): nothing else is applied or pruned, " +
          'no hook runs, and the sync status is left to the next comparison. With prune: true (only then), the selected ' +
          'resources the application manages that left the desired state are pruned, and nothing else. The server ' +
          'renders the target revision first and refuses (422 SYNC_SELECTION_NOT_FOUND, naming them) a selected ' +
          'resource that is not in the desired state (and, with prune, not managed), one that left it without prune, ' +
          'or a hook. Carried in the sync annotation ' +
          '(`<id>[;prune];resources=<group>/<Kind>/<namespace>/<name>,…`); a request longer than 32768 characters is refused (400). ' +
          'With dryRun: what syncing these would do.',
      }),
    ),
  },
  'Ask the agent to sync now.',
);
export type SyncRequest = Static<typeof SyncRequestSchema>;

export const PreviewEntrySchema = Type.Object(
  {
    id: Type.String({ description: 'Kind/namespace/name.' }),
    action: oneOf(['created', 'configured', 'unchanged', 'pruned', 'skipped'] as const),
    message: Type.String(),
  },
  { description: 'What a sync would do to one resource.' },
);
export type PreviewEntry = Static<typeof PreviewEntrySchema>;

export const SyncPreviewSchema = Type.Object(
  {
    dryRun: Type.Literal(true),
    revision: Type.String({ description: 'The target commit the preview rendered.' }),
    entries: Type.Array(PreviewEntrySchema),
  },
  { description: 'A dry run: what a sync to the target revision would do; nothing was changed.' },
);
export type SyncPreview = Static<typeof SyncPreviewSchema>;

export const SYNC_CANDIDATE_STATES = ['desired', 'departed'] as const;

export const SyncCandidateSchema = Type.Object(
  {
    group: Type.String({ description: 'The API group; empty for the core group.' }),
    kind: Type.String(),
    namespace: Type.Optional(Type.String({ description: 'Absent when cluster-scoped.' })),
    name: Type.String(),
    state: Type.Union(
      SYNC_CANDIDATE_STATES.map((s) => Type.Literal(s)),
      {
        description:
          '`desired`: in the desired state at the target revision (a sync applies it); `departed`: it left the desired state, and the Application still owns it live (its ownership marks): only a sync with prune deletes it.',
      },
    ),
  },
  { description: 'A resource a sync may select.' },
);
export type SyncCandidate = Static<typeof SyncCandidateSchema>;

export const SyncCandidatesSchema = Type.Object(
  {
    revision: Type.String({ description: 'The target commit rendered.' }),
    items: Type.Array(SyncCandidateSchema, {
      description: 'The desired resources (hooks left out: a selection runs none), then the departed ones.',
    }),
    truncated: Type.Optional(
      Type.Boolean({ description: 'More departed resources than were checked live (the first 200 are).' }),
    ),
  },
  {
    description:
      'What the sync dialog lists: the desired state at the target revision and the owned resources that left it.',
  },
);
export type SyncCandidates = Static<typeof SyncCandidatesSchema>;

export const ActionRequestSchema = closed(
  { ...precondition },
  'Ask the agent for a refresh or to release a rollback hold.',
);
export type ActionRequest = Static<typeof ActionRequestSchema>;

export const RollbackRequestSchema = closed(
  {
    ...precondition,
    target: Type.Optional(
      Type.String({
        maxLength: 64,
        pattern: '^([0-9]{1,6}|[0-9a-f]{7,40})$',
        description:
          'A history id or a commit SHA (prefix); default the last successful sync before the current one.',
      }),
    ),
  },
  'Roll back to an earlier successful sync.',
);
export type RollbackRequest = Static<typeof RollbackRequestSchema>;

export const DeleteQuerySchema = closed(
  {
    cascade: Type.Optional(
      oneOf(['true', 'false'] as const, { description: 'Delete the deployed resources too. Default true.' }),
    ),
    resourceVersion: Type.Optional(Type.String({ pattern: RESOURCE_VERSION_PATTERN, maxLength: 20 })),
  },
  'How to delete an Application.',
);

export const ActionResultSchema = Type.Object(
  {
    action: Type.String(),
    annotation: Type.Optional(
      Type.String({
        description: 'The request annotation set; the agent records it in status.handledRequests.',
      }),
    ),
    value: Type.Optional(Type.String()),
    resourceVersion: Type.String({ description: 'The Application’s resourceVersion after the change.' }),
  },
  { description: 'What was asked of the agent.' },
);

export const ResourceNodeSchema = Type.Object(
  {
    id: Type.String({ description: 'Kind/namespace/name.' }),
    group: Type.String(),
    kind: Type.String(),
    namespace: Type.String(),
    name: Type.String(),
    syncStatus: Type.Optional(Type.String()),
    health: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    parents: Type.Array(Type.String({ description: 'ids of owners' })),
  },
  { description: 'One node of the resource tree.' },
);

export const ResourceTreeSchema = Type.Object(
  { nodes: Type.Array(ResourceNodeSchema) },
  { description: 'The resources of an Application.' },
);

export const EventSchema = Type.Object(
  {
    type: Type.String(),
    reason: Type.String(),
    message: Type.String(),
    count: Type.Integer(),
    firstTime: Type.Optional(Type.String()),
    lastTime: Type.Optional(Type.String()),
  },
  { description: 'A Kubernetes Event about the Application.' },
);
export type EventInfo = Static<typeof EventSchema>;

/** Which resource of an Application, and at which revision its desired state is rendered. */
export const ResourceQuerySchema = closed(
  {
    group: Type.Optional(
      Type.String({ maxLength: 253, description: 'The API group; absent or empty for the core group.' }),
    ),
    kind: Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z][A-Za-z0-9]*$' }),
    namespace: Type.Optional(
      Type.String({ maxLength: 63, description: 'Absent or empty for a cluster-scoped resource.' }),
    ),
    name: Type.String({ minLength: 1, maxLength: 253 }),
    revision: Type.Optional(
      oneOf(['synced', 'target'] as const, {
        description:
          'The desired state at the revision last synced (default; the target when none was), or at the target revision now.',
      }),
    ),
  },
  'One resource of the Application: one it manages, or one its desired state has.',
);
export type ResourceQuery = Static<typeof ResourceQuerySchema>;

const revisionField = {
  revision: Type.Optional(
    Type.String({ description: 'The commit the desired state was rendered from (40 hex).' }),
  ),
};

export const ResourceManifestSchema = Type.Object(
  {
    id: Type.String({ description: 'Kind/namespace/name.' }),
    ...revisionField,
    object: Type.Optional(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description: 'The manifest; a Secret’s values are *** (they never leave the server).',
        },
      ),
    ),
  },
  { description: 'A resource’s manifest; no `object` when it does not exist on that side.' },
);
export type ResourceManifest = Static<typeof ResourceManifestSchema>;

export const ResourceDiffSchema = Type.Object(
  {
    id: Type.String({ description: 'Kind/namespace/name.' }),
    ...revisionField,
    changed: Type.Boolean(),
    unified: Type.String({
      description: 'Unified diff of live (a) and live after the desired is applied (b).',
    }),
    live: Type.Optional(Type.Object({}, { additionalProperties: true })),
    predicted: Type.Optional(
      Type.Object(
        {},
        { additionalProperties: true, description: 'The live object with the desired fields applied.' },
      ),
    ),
  },
  { description: 'What syncing would change in one resource (server-set fields and Secret values hidden).' },
);
export type ResourceDiff = Static<typeof ResourceDiffSchema>;

export const ResourceEventsSchema = Type.Object(
  { id: Type.String(), items: Type.Array(EventSchema) },
  { description: 'Kubernetes Events about one resource, oldest first.' },
);

/** Which container of which Pod of the Application, and how much of its log. */
export const PodLogsQuerySchema = closed(
  {
    namespace: name('The Pod’s namespace.'),
    name: name('The Pod: one the Application manages, or one its workloads own (see …/children).'),
    container: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 63,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
        description: 'Default: the Pod’s only container (required when it has several).',
      }),
    ),
    tailLines: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,5}$',
        description: 'The last lines only (default 500, at most 10000).',
      }),
    ),
    follow: Type.Optional(
      oneOf(['true', 'false'] as const, {
        description:
          'true: server-sent events (`line`, then `end`) until the container stops or the client leaves.',
      }),
    ),
  },
  'A container’s log: read through the API server (`pods/log`), so only a Pod on a real node has one.',
);
export type PodLogsQuery = Static<typeof PodLogsQuerySchema>;

export const PodLogsSchema = Type.Object(
  {
    id: Type.String({ description: 'Pod/namespace/name.' }),
    container: Type.String(),
    lines: Type.Array(Type.String()),
  },
  { description: 'The last lines of a container’s log, oldest first.' },
);
export type PodLogs = Static<typeof PodLogsSchema>;

/** The road of an Application's workloads: its config commits synced, and each Pod's image back to its run. */
export const TraceSchema = Type.Object(
  {
    application: Type.String({ description: 'Application/namespace/name.' }),
    syncs: Type.Array(
      Type.Object({
        revision: Type.String({ description: 'The configuration commit synced.' }),
        author: Type.Optional(Type.String()),
        message: Type.Optional(Type.String()),
        result: Type.String(),
        finishedAt: Type.Optional(Type.String()),
      }),
      { description: 'The last syncs, newest first (the first one is what runs now).' },
    ),
    images: Type.Array(
      Type.Object({
        image: Type.String({ description: 'As the Pods name it.' }),
        digest: Type.Optional(
          Type.String({ description: 'sha256:… from the reference or the running container.' }),
        ),
        pods: Type.Array(Type.String(), { description: 'Pod/namespace/name of the Pods that run it.' }),
        run: Type.Optional(
          Type.Object({
            id: Type.String(),
            namespace: Type.String(),
            pipeline: Type.String(),
            revision: Type.String({ description: 'The code commit the run built.' }),
            branch: Type.Optional(Type.String()),
            finishedAt: Type.Optional(Type.String()),
          }),
        ),
      }),
      {
        description:
          'Each image the Application’s Pods run, with the pipeline run that built it when one the caller may read recorded that digest.',
      },
    ),
    missing: Type.Array(Type.String(), { description: 'What the trace could not join, in words.' }),
  },
  {
    description:
      'commit → pipeline run → image digest → Application sync → Pods, joined from the records that exist.',
  },
);
export type Trace = Static<typeof TraceSchema>;

/** A repository connection test: ls-remote with the credentials given, never stored or echoed. */
export const RepositoryTestRequestSchema = closed(
  {
    repoURL: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'https://…, ssh://… or user@host:path (http:// with insecureHttp); no credentials in it.',
    }),
    project: Type.Optional(
      Type.String({
        maxLength: 253,
        description: 'The project whose Applications would use it (default `default`): its admins may test.',
      }),
    ),
    insecureHttp: Type.Optional(Type.Boolean({ description: 'Allow http:// (a local test server).' })),
    username: Type.Optional(Type.String({ maxLength: 256 })),
    password: Type.Optional(Type.String({ maxLength: 4096, description: 'With username.' })),
    token: Type.Optional(
      Type.String({ maxLength: 4096, description: 'A bearer token instead of a password.' }),
    ),
    sshPrivateKey: Type.Optional(Type.String({ maxLength: 16384 })),
    knownHosts: Type.Optional(
      Type.String({ maxLength: 65536, description: 'With sshPrivateKey: host keys are always checked.' }),
    ),
    secretRef: Type.Optional(
      closed(
        {
          namespace: name('The namespace of the Secret: one whose Applications may name the project.'),
          name: name('The Secret, as an Application’s spec.source.secretRef names it.'),
        },
        'Credentials from a Secret (of type capstan.dev/repository-credentials, bound to the repository by its url key) instead of in the request.',
      ),
    ),
  },
  'Which repository to reach, and how.',
);
export type RepositoryTestRequest = Static<typeof RepositoryTestRequestSchema>;

export const RepositoryListSchema = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          repoURL: Type.String({
            description:
              'As the first Application (by namespace and name) writes it; never with credentials.',
          }),
          applications: Type.Integer({ minimum: 1, description: 'How many visible Applications use it.' }),
          projects: Type.Array(Type.String(), { description: 'The projects of those Applications, sorted.' }),
        },
        { description: 'One repository: every URL form of it counted once (src/core/repo-url.ts).' },
      ),
    ),
  },
  { description: 'The repositories the Applications the caller may read deploy from, by URL.' },
);
export type RepositoryList = Static<typeof RepositoryListSchema>;

export const RepositoryTestResultSchema = Type.Object(
  {
    ok: Type.Boolean({ description: 'Whether the repository answered with these credentials.' }),
    repoURL: Type.String(),
    revision: Type.Optional(Type.String({ description: 'The commit of its default branch (HEAD).' })),
    ref: Type.Optional(Type.String()),
    error: Type.Optional(
      Type.String({ description: 'A stable code: SOURCE_AUTH_FAILED, SOURCE_UNREACHABLE, …' }),
    ),
    reason: Type.Optional(Type.String({ description: 'What git said and what to do; never a credential.' })),
    retryable: Type.Optional(Type.Boolean()),
  },
  { description: 'The answer of a connection test (200 either way; `ok` says how it went).' },
);
export type RepositoryTestResult = Static<typeof RepositoryTestResultSchema>;

// ── Projects, clusters, audit ───────────────────────────────────────────────────────────────────

export const ProjectSchema = Type.Object(
  {
    name: Type.String(),
    description: Type.Optional(Type.String()),
    roles: Type.Array(
      Type.Object({
        name: Type.String({ description: 'viewer, deployer, admin or a custom role.' }),
        description: Type.Optional(Type.String()),
        actions: Type.Array(Type.String(), {
          description: 'view, refresh, sync, rollback, create, update, delete.',
        }),
        users: Type.Array(Type.String()),
        groups: Type.Array(Type.String()),
      }),
    ),
    yourRoles: Type.Array(Type.String(), { description: 'The caller’s roles in it.' }),
    yourActions: Type.Array(Type.String(), { description: 'What the caller may do in it.' }),
    applicationNamespaces: Type.Optional(
      Type.Array(Type.String(), { description: 'Namespaces (or patterns) whose Applications may name it.' }),
    ),
    sourceRepos: Type.Optional(
      Type.Array(Type.String(), { description: 'Repository URLs (or patterns) its Applications may use.' }),
    ),
    destinations: Type.Optional(
      Type.Array(Type.Object({ cluster: Type.String(), namespace: Type.String() }), {
        description: 'Clusters and namespaces (or patterns) its Applications may deploy to.',
      }),
    ),
  },
  { description: 'A project: who may do what with its Applications, and where they may come from and go.' },
);

export const ClusterSchema = Type.Object(
  {
    name: Type.String(),
    server: Type.Optional(Type.String({ description: 'The API server URL (never credentials).' })),
    secret: Type.Optional(Type.String({ description: 'The Secret that registers it.' })),
    problem: Type.Optional(Type.String({ description: 'Why the registration is not usable.' })),
    connection: Type.Optional(
      oneOf(['connected', 'unreachable'] as const, {
        description:
          'Whether the server reached its API server (GET /version), probed at most once a minute.',
      }),
    ),
    version: Type.Optional(Type.String({ description: 'The Kubernetes version its API server reports.' })),
    connectionError: Type.Optional(Type.String({ description: 'Why it could not be reached.' })),
    checkedAt: Type.Optional(Type.String({ format: 'date-time', description: 'When it was probed.' })),
  },
  { description: 'A destination cluster.' },
);
export type ClusterInfo = Static<typeof ClusterSchema>;

export const AuditQuerySchema = closed(
  {
    actor: Type.Optional(Type.String({ maxLength: 253 })),
    action: Type.Optional(
      Type.String({ maxLength: 100, description: 'An action, or a prefix ending in a dot (application.).' }),
    ),
    target: Type.Optional(Type.String({ maxLength: 600 })),
    project: Type.Optional(Type.String({ maxLength: 253 })),
    result: Type.Optional(oneOf(AUDIT_RESULT_NAMES)),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000. Default 100.' })),
    cursor: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  'Filters of the audit trail.',
);
export type AuditQueryParams = Static<typeof AuditQuerySchema>;

export const AuditEntrySchema = Type.Object(
  {
    id: Type.Integer(),
    time: Type.String({ format: 'date-time' }),
    actor: Type.Object({ kind: Type.String(), name: Type.String() }),
    action: Type.String(),
    target: Type.String(),
    project: Type.Optional(Type.String()),
    result: oneOf(AUDIT_RESULT_NAMES),
    reason: Type.Optional(Type.String()),
    changes: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
    ),
  },
  { description: 'Who did what, when, to what, and how it ended.' },
);
export type AuditEntryInfo = Static<typeof AuditEntrySchema>;

export const AuditPageSchema = Type.Object(
  { items: Type.Array(AuditEntrySchema), next: Type.Optional(Type.String()) },
  { description: 'A page of the audit trail, newest first.' },
);
export type AuditPage = Static<typeof AuditPageSchema>;

/** Path parameters of one Application. */
export const ApplicationParamsSchema = closed(
  { namespace: name('The Application’s namespace.'), name: name('The Application’s name.') },
  'One Application.',
);
export const TokenParamsSchema = closed({ id: Type.String({ pattern: '^[0-9a-f]{12}$' }) }, 'One token.');

/** An arbitrary JSON object (a Kubernetes object as the API server has it). */
export const ObjectSchema: TSchema = Type.Object(
  {},
  { additionalProperties: true, description: 'A Kubernetes object.' },
);

// ── Pipeline runs (docs/pipelines.md) ───────────────────────────────────────────────────────────

export const RunStepSchema = Type.Object(
  {
    name: Type.String(),
    phase: oneOf(['Pending', 'Running', 'Succeeded', 'Failed', 'Skipped'] as const),
    exitCode: Type.Optional(Type.Integer()),
    reason: Type.Optional(Type.String()),
    startedAt: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const RunSchema = Type.Object(
  {
    id: Type.String(),
    namespace: Type.String(),
    pipeline: Type.String(),
    project: Type.String(),
    revision: Type.String(),
    branch: Type.Optional(Type.String()),
    tag: Type.Optional(Type.String()),
    author: Type.Optional(Type.String()),
    commitMessage: Type.Optional(Type.String()),
    trigger: oneOf(['push', 'tag', 'pullRequest', 'manual', 'poll', 'rerun'] as const),
    triggeredBy: Type.String(),
    phase: oneOf(RUN_PHASES),
    queuedAt: Type.String(),
    startedAt: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()),
    steps: Type.Array(RunStepSchema),
    images: Type.Array(
      Type.Object(
        {
          step: Type.String(),
          reference: Type.String(),
          digest: Type.String(),
          tags: Type.Array(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    reason: Type.Optional(Type.String()),
    statusMessage: Type.Optional(Type.String()),
    cancelledBy: Type.Optional(Type.String()),
    approvedBy: Type.Optional(
      Type.String({ description: 'Who approved the run of a pull request from a fork.' }),
    ),
    rerunOf: Type.Optional(Type.String()),
    pullRequest: Type.Optional(
      Type.Object(
        {
          number: Type.Integer(),
          sourceBranch: Type.String(),
          targetBranch: Type.String(),
          fromFork: Type.Optional(Type.Boolean({ description: 'From a fork: the run had no secret.' })),
          author: Type.Optional(Type.String({ description: 'The pull request’s author (login).' })),
        },
        {
          additionalProperties: false,
          description: 'The pull request a run was started for (trigger pullRequest).',
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'A pipeline run, as the Store keeps it.' },
);
export type RunView = Static<typeof RunSchema>;

export const RunListSchema = Type.Object(
  {
    items: Type.Array(RunSchema),
    nextCursor: Type.Optional(Type.String({ description: 'Pass as `before` for the next page.' })),
  },
  { additionalProperties: false },
);

export const RunListQuerySchema = Type.Object(
  {
    namespace: Type.Optional(Type.String({ maxLength: 253 })),
    pipeline: Type.Optional(Type.String({ maxLength: 253 })),
    phase: Type.Optional(oneOf(RUN_PHASES)),
    branch: Type.Optional(Type.String({ maxLength: 512 })),
    before: Type.Optional(
      Type.String({ maxLength: 64, description: 'Runs queued before this run (a page).' }),
    ),
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1 to 999; default 50.' })),
  },
  { additionalProperties: false },
);

export const RunParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const RunLogsSchema = Type.Object(
  {
    lines: Type.Array(
      Type.Object(
        { seq: Type.Integer(), step: Type.String(), time: Type.String(), line: Type.String() },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const RunLogsQuerySchema = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'Lines after this seq.' })),
    step: Type.Optional(Type.String({ maxLength: 63 })),
    follow: Type.Optional(
      Type.Union([Type.Literal('true'), Type.Literal('false')], {
        description: 'true: server-sent events until the run ends (resumable with Last-Event-ID).',
      }),
    ),
  },
  { additionalProperties: false },
);

// ── Pipelines (the `Pipeline` resources, docs/pipelines.md) ─────────────────────────────────────

export const ApprovedForkAuthorSchema = Type.Object(
  {
    login: Type.String({ description: 'The author’s login.' }),
    by: Type.String({ description: 'Who approved them.' }),
    at: Type.String({ description: 'When, ISO 8601.' }),
    run: Type.Optional(Type.String({ description: 'The run whose approval approved them.' })),
  },
  { additionalProperties: false, description: 'An approved author of pull requests from forks.' },
);

export const PipelineInfoSchema = Type.Object(
  {
    namespace: Type.String(),
    name: Type.String(),
    project: Type.String(),
    repoURL: Type.String(),
    file: Type.String({ description: 'The pipeline file in the repository.' }),
    serviceAccountName: Type.String(),
    pollInterval: Type.Optional(Type.String()),
    suspend: Type.Boolean(),
    forkPullRequests: Type.Optional(
      Type.String({ description: 'Ignore, RunWithoutSecrets or RequireApproval.' }),
    ),
    lastRun: Type.Optional(RunSchema),
    approvedForkAuthors: Type.Optional(
      Type.Array(ApprovedForkAuthorSchema, {
        description:
          'Authors of pull requests from forks whose runs start without waiting (status.approvedForkAuthors; DELETE …/approved-authors/{login} revokes one).',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'A Pipeline, with its newest run and its approved fork authors.',
  },
);
export type PipelineInfo = Static<typeof PipelineInfoSchema>;

export const PipelineListSchema = Type.Object(
  { items: Type.Array(PipelineInfoSchema) },
  { additionalProperties: false, description: 'The Pipelines the caller may read, by namespace and name.' },
);

export const PipelineListQuerySchema = closed(
  {
    namespace: Type.Optional(Type.String({ maxLength: 253 })),
    project: Type.Optional(Type.String({ maxLength: 253 })),
  },
  'Filters of the Pipeline list.',
);

export const ForkAuthorParamsSchema = closed(
  {
    namespace: name('The Pipeline’s namespace.'),
    name: name('The Pipeline’s name.'),
    login: Type.String({ pattern: FORK_AUTHOR_PATTERN, maxLength: 100, description: 'The author’s login.' }),
  },
  'An approved author of pull requests from forks, of one Pipeline.',
);

export const ForkAuthorRevokedSchema = Type.Object(
  { revoked: Type.String({ description: 'The login whose approval was revoked.' }) },
  { additionalProperties: false },
);

export const PipelineParamsSchema = closed(
  { namespace: name('The Pipeline’s namespace.'), name: name('The Pipeline’s name.') },
  'One Pipeline.',
);

/** A branch or tag name as git allows it (no spaces, no `~^:?*[\\`). */
const refName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\s~^:?*\\[\\\\]+$', description });

const patterns = (description: string) => Type.Optional(Type.Array(Type.String(), { description }));
const pathFilterViews = {
  paths: patterns('Runs only when a changed file matches one of these (absent: any file).'),
  ignorePaths: patterns('No run when every changed file matches one of these.'),
};

export const PipelineTriggersQuerySchema = closed(
  {
    branch: Type.Optional(
      refName('Read the file at the head of this branch (default: the repository’s default branch).'),
    ),
  },
  'Where to read the pipeline file.',
);

export const PipelineTriggersSchema = closed(
  {
    file: Type.String({ description: 'The pipeline file (the Pipeline’s spec.file).' }),
    ref: Type.String({ description: 'The full ref read (refs/heads/main).' }),
    commit: Type.String({ description: 'The commit the file was read at.' }),
    state: Type.Union([Type.Literal('ok'), Type.Literal('missing'), Type.Literal('invalid')], {
      description: 'ok: read; missing: no such file at that commit (no run starts); invalid: see problem.',
    }),
    problem: Type.Optional(Type.String({ description: 'Why the file is not valid, with its line.' })),
    push: Type.Optional(
      closed(
        {
          branches: patterns('Branches (or patterns) whose pushes start a run.'),
          tags: patterns('Tags (or patterns) whose pushes start a run.'),
          ...pathFilterViews,
        },
        'Pushes that start a run; neither branches nor tags: a push to any branch.',
      ),
    ),
    pullRequest: Type.Optional(
      closed(
        { branches: patterns('Target branches (absent: any).'), ...pathFilterViews },
        'Pull requests that start a run, by target branch.',
      ),
    ),
    manual: Type.Optional(Type.Boolean({ description: 'Whether people may start a run (default applied).' })),
  },
  'The triggers of a Pipeline’s pipeline file at a branch’s head, as the driver reads them.',
);
export type PipelineTriggers = Static<typeof PipelineTriggersSchema>;

export const PipelineRunBodySchema = closed(
  {
    branch: Type.Optional(refName('Run the head of this branch (default: the repository’s default branch).')),
    tag: Type.Optional(refName('Run the commit of this tag (not with `branch`).')),
    commit: Type.Optional(
      Type.String({
        pattern: '^[0-9a-f]{40}$',
        description: 'Run this commit (of `branch` or `tag`, when given).',
      }),
    ),
  },
  'A run by hand: a branch’s head, a tag’s commit, or a commit.',
);
export type PipelineRunBody = Static<typeof PipelineRunBodySchema>;

export const PipelineRunRequestedSchema = closed(
  {
    pipeline: Type.String({ description: '`namespace/name`.' }),
    request: Type.String({ description: 'The request’s id; the run it becomes names it nowhere else.' }),
    ref: Type.Optional(Type.String()),
    revision: Type.Optional(Type.String()),
    by: Type.String({ description: 'The caller, as the run will record it.' }),
  },
  'A run requested: the controller reads the pipeline file at the commit and starts it (or skips it).',
);
