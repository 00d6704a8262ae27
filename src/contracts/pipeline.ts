/**
 * The `Pipeline` resource (capstan.dev/v1alpha1): registers an application's code repository with a
 * project, so that pushes to it are verified, tested and built (docs/pipelines.md). What a run does is
 * the pipeline file in the repository (src/contracts/pipeline-file.ts); the resource says where the
 * repository is, how to read it, which file, and as whom the run Pods run. Runs and their logs are
 * records of the Store, not objects of the cluster; the status holds only the latest run.
 */
import { Type, type Static } from '@sinclair/typebox';
import { COMMIT_STATUS_PROVIDERS, type CommitStatusProvider } from '../core/commit-status.ts';
import { DURATION_PATTERN } from '../core/duration.ts';
import type { KubeObject, ObjectMeta } from '../core/resource.ts';
import { APPLICATION_GROUP, APPLICATION_VERSION, ConditionSchema } from './application.ts';
import { customResourceDefinition, type CrdDescription } from './crd.ts';
import { DEFAULT_PIPELINE_FILE } from './pipeline-file.ts';
import { DEFAULT_PROJECT_NAME } from './project.ts';
import { oneOf, validate, withHint, withRules, type Validation } from './validate.ts';

// ── Identity ────────────────────────────────────────────────────────────────────────────────────

export const PIPELINE_GROUP = APPLICATION_GROUP;
export const PIPELINE_VERSION = APPLICATION_VERSION;
export const PIPELINE_API_VERSION = `${PIPELINE_GROUP}/${PIPELINE_VERSION}`;
export const PIPELINE_KIND = 'Pipeline';
export const PIPELINE_PLURAL = 'pipelines';
export const PIPELINE_SINGULAR = 'pipeline';
export const PIPELINE_SHORT_NAMES = ['pl'] as const;

export const PIPELINE_DEFAULTS = {
  project: DEFAULT_PROJECT_NAME,
  file: DEFAULT_PIPELINE_FILE,
  serviceAccountName: 'default',
  forkPullRequests: 'Ignore',
} as const;

/**
 * What a pull request from a fork does: `Ignore` starts nothing; `RunWithoutSecrets` runs it with no
 * secret (its steps that name one, its image steps and its caches are skipped, with the reason);
 * `RequireApproval` runs it the same way, but a run of an author not approved yet for the Pipeline
 * waits (`WaitingForApproval`) until someone who may run its runs approves it, which approves the
 * author for the next ones (`status.approvedForkAuthors`, revocable).
 */
export const FORK_PULL_REQUEST_MODES = ['Ignore', 'RunWithoutSecrets', 'RequireApproval'] as const;
export type ForkPullRequestMode = (typeof FORK_PULL_REQUEST_MODES)[number];

/** What a run can end as, or be in. */
export const RUN_PHASES = [
  'WaitingForApproval',
  'Queued',
  'Running',
  'Succeeded',
  'Failed',
  'Cancelled',
] as const;

/** A pull request author's login as the providers spell them (GitHub, Gitea, GitLab). */
export const FORK_AUTHOR_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$';
export type RunPhase = (typeof RUN_PHASES)[number];

// ── Spec ────────────────────────────────────────────────────────────────────────────────────────

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** A path inside the repository, checked the same way by the API server (CEL) and by us. */
const relativePath = (description: string) =>
  withRules(Type.String({ minLength: 1, maxLength: 1024, description }), [
    {
      message: 'must be a path inside the repository (relative, without ..)',
      cel: "!self.startsWith('/') && self != '..' && !self.startsWith('../') && !self.contains('/../') && !self.endsWith('/..') && !self.contains('\\\\')",
      check: (path: string) =>
        !path.startsWith('/') &&
        !path.includes('\\') &&
        !path.includes('\0') &&
        !path.split('/').includes('..'),
    },
  ]);

const secretName = (description: string) =>
  withHint(
    Type.String({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN, description }),
    'a Secret name in the Pipeline’s namespace',
  );

const SecretReferenceSchema = Type.Object(
  { name: secretName('The Secret’s name, in the Pipeline’s namespace.') },
  { additionalProperties: false },
);

export const PipelineSpecSchema = Type.Object(
  {
    project: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 253,
        pattern: DNS_SUBDOMAIN,
        description: `The Project the pipeline belongs to. Default ${PIPELINE_DEFAULTS.project}.`,
      }),
    ),
    repoURL: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'The code repository (https://, ssh:// or git@host:path).',
    }),
    credentials: Type.Optional(
      Type.Object(
        { secretRef: SecretReferenceSchema },
        {
          additionalProperties: false,
          description: 'How to read the repository: a Secret of the same shape as an Application’s.',
        },
      ),
    ),
    file: Type.Optional(
      relativePath(`The pipeline file in the repository. Default ${PIPELINE_DEFAULTS.file}.`),
    ),
    serviceAccountName: Type.Optional(
      withHint(
        Type.String({
          minLength: 1,
          maxLength: 253,
          pattern: DNS_SUBDOMAIN,
          description: `The ServiceAccount of the run Pods, in the Pipeline’s namespace. Default ${PIPELINE_DEFAULTS.serviceAccountName}.`,
        }),
        'a ServiceAccount name',
      ),
    ),
    registrySecretRef: Type.Optional(
      Type.Object(
        { name: secretName('A kubernetes.io/dockerconfigjson Secret.') },
        {
          additionalProperties: false,
          description:
            'Credentials image steps push with. Default: none (the registry takes anonymous pushes).',
        },
      ),
    ),
    pollInterval: Type.Optional(
      withHint(
        Type.String({
          pattern: DURATION_PATTERN,
          maxLength: 32,
          description: 'Look for new commits this often, besides webhooks. Default: webhooks only.',
        }),
        'a duration such as 1m',
      ),
    ),
    suspend: Type.Optional(Type.Boolean({ description: 'Start no new runs. Default false.' })),
    commitStatus: Type.Optional(
      Type.Object(
        {
          provider: oneOf(COMMIT_STATUS_PROVIDERS, {
            description: 'The git provider’s API: GitHub, Gitea, Forgejo or GitLab.',
          }),
          apiURL: Type.Optional(
            withHint(
              Type.String({
                pattern: '^https?://[^/?#@\\s]+(/[^?#\\s]*)?$',
                maxLength: 2048,
                description:
                  'The API root (https://git.example.com/api/v1). Default: from repoURL (api.github.com for github.com; /api/v3, /api/v1 or /api/v4 on its host).',
              }),
              'an http(s):// URL without credentials, query or fragment',
            ),
          ),
          secretRef: Type.Optional(
            Type.Object(
              { name: secretName('A Secret with `token`, or `username` and `password`.') },
              {
                additionalProperties: false,
                description: 'Credentials that may set commit statuses. Default: spec.credentials.secretRef.',
              },
            ),
          ),
          context: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 255,
              description: 'The status’s name at the provider. Default capstan/<the Pipeline’s name>.',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'Report each run’s state to the provider as a commit status (pending, success, failure, error) linking to the run.',
        },
      ),
    ),
    forkPullRequests: Type.Optional(
      oneOf(FORK_PULL_REQUEST_MODES, {
        description:
          'Pull requests from forks: Ignore (start nothing), RunWithoutSecrets (run with no Secret: steps that name one, image steps and caches are skipped) or RequireApproval (the same, once someone who may run its runs approved the author). Default Ignore.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'A code repository whose pushes are verified, tested and built.',
  },
);

// ── Status ──────────────────────────────────────────────────────────────────────────────────────

export const PipelineStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    conditions: Type.Optional(Type.Array(ConditionSchema, { maxItems: 8 })),
    lastRun: Type.Optional(
      Type.Object(
        {
          id: Type.String({ minLength: 1, maxLength: 64, description: 'The run, in the Store.' }),
          phase: oneOf(RUN_PHASES),
          revision: Type.String({ maxLength: 256, description: 'The commit it ran for.' }),
        },
        { additionalProperties: false, description: 'The latest run (the rest are in the Store).' },
      ),
    ),
    approvedForkAuthors: Type.Optional(
      Type.Array(
        Type.Object(
          {
            login: Type.String({ pattern: FORK_AUTHOR_PATTERN, maxLength: 100 }),
            by: Type.String({ minLength: 1, maxLength: 256, description: 'Who approved them.' }),
            at: Type.String({ minLength: 1, maxLength: 64, description: 'When, ISO 8601.' }),
            run: Type.Optional(Type.String({ maxLength: 64, description: 'The run they approved.' })),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: 1000,
          description:
            'Authors of pull requests from forks whose runs start without waiting (spec.forkPullRequests: RequireApproval).',
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'What the agent last saw of the pipeline.' },
);

// ── The object ──────────────────────────────────────────────────────────────────────────────────

const MetadataSchema = Type.Unsafe<ObjectMeta & { name: string; namespace?: string }>(
  Type.Object({
    name: withHint(
      Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
      'a name of at most 63 lower-case letters, digits and - (it names the run Pods)',
    ),
  }),
);

export const PipelineSchema = Type.Object(
  {
    apiVersion: Type.Literal(PIPELINE_API_VERSION),
    kind: Type.Literal(PIPELINE_KIND),
    metadata: MetadataSchema,
    spec: PipelineSpecSchema,
    status: Type.Optional(PipelineStatusSchema),
  },
  {
    additionalProperties: false,
    description: 'A code repository registered with a project for pipeline runs.',
  },
);

export type Pipeline = Static<typeof PipelineSchema>;
export type PipelineSpec = Static<typeof PipelineSpecSchema>;
export type PipelineStatus = Static<typeof PipelineStatusSchema>;
/** An author of pull requests from forks approved for a Pipeline (its `status.approvedForkAuthors`). */
export type ApprovedForkAuthor = NonNullable<PipelineStatus['approvedForkAuthors']>[number];

/** Checks an object against the contract; errors name the field: `spec.repoURL: required`. */
export function validatePipeline(object: unknown): Validation<Pipeline> {
  return validate(PipelineSchema, object);
}

/** A Pipeline's spec with every default applied. */
export interface ResolvedPipelineSpec {
  readonly project: string;
  readonly repoURL: string;
  readonly credentialsSecret: string | undefined;
  readonly file: string;
  readonly serviceAccountName: string;
  readonly registrySecret: string | undefined;
  readonly pollInterval: string | undefined;
  readonly suspend: boolean;
  readonly forkPullRequests: ForkPullRequestMode;
  /** Where runs are reported as commit statuses; undefined: not reported. */
  readonly commitStatus?: {
    readonly provider: CommitStatusProvider;
    readonly apiURL?: string;
    /** The Secret with the credentials (spec.commitStatus.secretRef, else spec.credentials.secretRef). */
    readonly secret?: string;
    readonly context?: string;
  };
}

export function resolvePipelineSpec(spec: PipelineSpec): ResolvedPipelineSpec {
  return {
    project: spec.project ?? PIPELINE_DEFAULTS.project,
    repoURL: spec.repoURL,
    credentialsSecret: spec.credentials?.secretRef.name,
    file: spec.file ?? PIPELINE_DEFAULTS.file,
    serviceAccountName: spec.serviceAccountName ?? PIPELINE_DEFAULTS.serviceAccountName,
    registrySecret: spec.registrySecretRef?.name,
    pollInterval: spec.pollInterval,
    suspend: spec.suspend ?? false,
    forkPullRequests: spec.forkPullRequests ?? PIPELINE_DEFAULTS.forkPullRequests,
    ...(spec.commitStatus === undefined ? {} : { commitStatus: commitStatusOf(spec, spec.commitStatus) }),
  };
}

function commitStatusOf(
  spec: PipelineSpec,
  given: NonNullable<PipelineSpec['commitStatus']>,
): NonNullable<ResolvedPipelineSpec['commitStatus']> {
  const secret = given.secretRef?.name ?? spec.credentials?.secretRef.name;
  return {
    provider: given.provider,
    ...(given.apiURL === undefined ? {} : { apiURL: given.apiURL.replace(/\/+$/, '') }),
    ...(secret === undefined ? {} : { secret }),
    ...(given.context === undefined ? {} : { context: given.context }),
  };
}

/**
 * A Pipeline object's namespace, name and spec with its defaults, and the fork authors its status
 * approves (when it lists any); undefined for one the contract refuses (the API server took it, but no
 * run can come of it).
 */
export function resolvedPipeline(object: KubeObject):
  | {
      readonly namespace: string;
      readonly name: string;
      readonly spec: ResolvedPipelineSpec;
      readonly approvedForkAuthors?: readonly ApprovedForkAuthor[];
    }
  | undefined {
  const checked = validatePipeline(object);
  if (!checked.ok) return undefined;
  const approved = checked.value.status?.approvedForkAuthors;
  return {
    namespace: object.metadata.namespace ?? 'default',
    name: object.metadata.name ?? '',
    spec: resolvePipelineSpec(checked.value.spec),
    ...(approved === undefined ? {} : { approvedForkAuthors: approved }),
  };
}

// ── The CustomResourceDefinition ────────────────────────────────────────────────────────────────

const PRINTER_COLUMNS = [
  { name: 'Repository', type: 'string', jsonPath: '.spec.repoURL' },
  { name: 'Last run', type: 'string', jsonPath: '.status.lastRun.phase' },
  { name: 'Revision', type: 'string', jsonPath: '.status.lastRun.revision', priority: 1 },
  { name: 'Project', type: 'string', jsonPath: '.spec.project', priority: 1 },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

const PIPELINE_CRD: CrdDescription = {
  group: PIPELINE_GROUP,
  version: PIPELINE_VERSION,
  kind: PIPELINE_KIND,
  plural: PIPELINE_PLURAL,
  singular: PIPELINE_SINGULAR,
  shortNames: PIPELINE_SHORT_NAMES,
  scope: 'Namespaced',
  schema: PipelineSchema,
  printerColumns: PRINTER_COLUMNS,
  statusSubresource: true,
};

export function pipelineCrd(): KubeObject {
  return customResourceDefinition(PIPELINE_CRD);
}
