/**
 * The pipeline file: `.capstan/pipeline.yaml` in an application's code repository says when a run
 * starts (triggers), what it does (ordered steps, each a container; image steps built with BuildKit),
 * what it keeps between runs (caches keyed by a file's hash), and how many runs go at once.
 *
 * One definition gives the TypeScript types and the runtime validation; `parsePipelineFile` reads the
 * YAML (src/core/located-yaml.ts) and names the file, line and field of every problem. docs/pipelines.md
 * shows a whole file.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../core/duration.ts';
import { CapstanError } from '../core/errors.ts';
import {
  fieldSegments,
  formatProblems,
  locateProblems,
  readLocatedYaml,
  splitFieldError,
  type FieldProblem,
  type LocatedProblem,
} from '../core/located-yaml.ts';
import { TAG_PLACEHOLDERS, unknownPlaceholders } from '../core/pipeline-tags.ts';
import { validate, withHint, withRules } from './validate.ts';

/** Where the file is looked for when the Pipeline resource names no other. */
export const DEFAULT_PIPELINE_FILE = '.capstan/pipeline.yaml';

/** What a file may hold: a hand-written file is far smaller. */
export const PIPELINE_FILE_LIMITS = { maxBytes: 256 * 1024, maxDepth: 32, maxAliases: 100 } as const;

export const PIPELINE_FILE_DEFAULTS = {
  timeout: '1h',
  maxRuns: 1,
  cancelOlder: true,
  manual: true,
  retries: 0,
  dockerfile: 'Dockerfile',
  context: '.',
  tags: ['{commit}'],
} as const;

/** Names the run Pod uses for its own containers; a step may not take them. */
export const RESERVED_STEP_NAMES = ['checkout', 'capstan'] as const;

// ── Building blocks ─────────────────────────────────────────────────────────────────────────────

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A path inside the checkout: relative, no `..` segment, no NUL, no backslash. */
const RELATIVE_PATH = '^(?!/)(?!(.*/)?\\.\\.(/|$))[^\\\\\\u0000]+$';

const object = <P extends Parameters<typeof Type.Object>[0]>(properties: P, description: string) =>
  Type.Object(properties, { additionalProperties: false, description });
const list = <T extends TSchema>(items: T, maxItems: number, description: string) =>
  Type.Array(items, { maxItems, description });
const text = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, description });
const relativePath = (description: string) =>
  withHint(
    Type.String({ minLength: 1, maxLength: 1024, pattern: RELATIVE_PATH, description }),
    'a path inside the repository (relative, without ..)',
  );
const glob = (description: string) => text(1024, description);
const duration = (description: string) =>
  withHint(
    Type.String({ pattern: DURATION_PATTERN, maxLength: 32, description }),
    'a duration such as 30s, 5m or 1h30m',
  );
const envMap = (description: string) =>
  withRules(Type.Record(Type.String(), Type.String({ maxLength: 32 * 1024 }), { description }), [
    {
      message: 'names must be letters, digits and _, not starting with a digit (as a shell reads them)',
      check: (env: Record<string, string>) => Object.keys(env).every((name) => ENV_NAME.test(name)),
    },
    {
      message: 'at most 100 variables',
      check: (env: Record<string, string>) => Object.keys(env).length <= 100,
    },
  ]);

// ── Triggers ────────────────────────────────────────────────────────────────────────────────────

const pathFilters = {
  paths: Type.Optional(
    list(
      glob('A pattern over changed files'),
      100,
      'Run only when a changed file matches one of these. Default: any file.',
    ),
  ),
  ignorePaths: Type.Optional(
    list(
      glob('A pattern over changed files'),
      100,
      'Do not run when every changed file matches one of these.',
    ),
  ),
};

export const PushTriggerSchema = object(
  {
    branches: Type.Optional(
      list(glob('A branch or a pattern (main, release/*)'), 100, 'Branches whose pushes start a run.'),
    ),
    tags: Type.Optional(list(glob('A tag or a pattern (v*)'), 100, 'Tags whose pushes start a run.')),
    ...pathFilters,
  },
  'Pushes that start a run. Neither branches nor tags: a push to any branch (no tag).',
);

export const PullRequestTriggerSchema = object(
  {
    branches: Type.Optional(
      list(glob('A target branch or a pattern'), 100, 'Target branches. Default: any.'),
    ),
    ...pathFilters,
  },
  'Pull requests (opened, or pushed to) that start a run, by their target branch.',
);

export const TriggersSchema = object(
  {
    push: Type.Optional(PushTriggerSchema),
    pullRequest: Type.Optional(PullRequestTriggerSchema),
    manual: Type.Optional(
      Type.Boolean({
        description: `Whether people may start a run (capstan pipeline run). Default ${PIPELINE_FILE_DEFAULTS.manual}.`,
      }),
    ),
  },
  'When a run starts. No triggers: only by hand.',
);

// ── Caches ──────────────────────────────────────────────────────────────────────────────────────

export const CacheSchema = object(
  {
    name: withHint(
      Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL }),
      'a name (lower-case letters, digits and -)',
    ),
    key: relativePath('The file whose content keys the cache (a lockfile): a new hash, a new cache.'),
    paths: list(
      relativePath('A folder of the workspace to keep'),
      20,
      'What the cache keeps, relative to the checkout.',
    ),
  },
  'Folders kept between runs, restored while the key file has the same hash.',
);

// ── Steps ───────────────────────────────────────────────────────────────────────────────────────

export const SecretEnvSchema = object(
  {
    env: withHint(
      Type.String({ minLength: 1, maxLength: 128, pattern: ENV_NAME.source }),
      'a variable name (letters, digits and _)',
    ),
    secret: withHint(
      Type.String({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN }),
      'a Secret name in the Pipeline’s namespace',
    ),
    key: withHint(
      Type.String({ minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' }),
      'a key of the Secret',
    ),
  },
  'A variable whose value is a Secret’s key: given to this step only, and masked in its logs.',
);

export const ImageBuildSchema = withRules(
  object(
    {
      dockerfile: Type.Optional(
        relativePath(`The Dockerfile. Default ${PIPELINE_FILE_DEFAULTS.dockerfile} in the context.`),
      ),
      context: Type.Optional(relativePath(`The build context. Default ${PIPELINE_FILE_DEFAULTS.context}.`)),
      target: Type.Optional(text(128, 'The stage of a multi-stage Dockerfile to build. Default: the last.')),
      args: Type.Optional(envMap('Build arguments (ARG).')),
      registry: withHint(
        Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-zA-Z0-9.-]+(:[0-9]{1,5})?$' }),
        'a registry host, with its port where it has one (registry.example.com:5000)',
      ),
      repository: withHint(
        Type.String({
          minLength: 1,
          maxLength: 255,
          pattern: '^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$',
        }),
        'a repository path (lower-case, team/app)',
      ),
      tags: Type.Optional(
        Type.Array(
          withHint(
            Type.String({ minLength: 1, maxLength: 128, pattern: '^([A-Za-z0-9_.-]|\\{[a-zA-Z]+\\})+$' }),
            `a tag: letters, digits, _ . - and ${TAG_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
          ),
          {
            minItems: 1,
            maxItems: 20,
            uniqueItems: true,
            description: `Tags to push. Default ${PIPELINE_FILE_DEFAULTS.tags.join(', ')}.`,
          },
        ),
      ),
      provenance: Type.Optional(
        Type.Boolean({
          description:
            'Push BuildKit’s SLSA provenance attestation (mode=min, naming the repository and commit) with the image, in an image index. Default true: Capstan rewrites the fields that name one build (its id, start and finish) from the commit, so the same commit pushes the same index digest. false: the image manifest alone.',
        }),
      ),
    },
    'An image built with BuildKit in the cluster from the checkout, pushed by digest and tagged.',
  ),
  [
    {
      message: `a tag names an unknown placeholder; the known ones are ${TAG_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
      field: 'tags',
      check: (build: { tags?: readonly string[] }) =>
        (build.tags ?? []).every((t) => unknownPlaceholders(t).length === 0),
    },
  ],
);

export const StepSchema = object(
  {
    name: withHint(
      Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL }),
      'a step name (lower-case letters, digits and -, at most 63)',
    ),
    image: Type.Optional(text(512, 'The container image the commands run in.')),
    commands: Type.Optional(
      list(
        text(64 * 1024, 'A shell command'),
        200,
        'Commands run in order by the image’s /bin/sh; the first that fails fails the step.',
      ),
    ),
    env: Type.Optional(envMap('Variables of this step.')),
    secrets: Type.Optional(list(SecretEnvSchema, 50, 'Secret variables of this step (only this one).')),
    workingDir: Type.Optional(
      relativePath('Where the commands run, relative to the checkout. Default: the checkout.'),
    ),
    timeout: Type.Optional(duration('The step’s own time limit; it is killed past it. Default: the run’s.')),
    retries: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 5,
        description: `Times a failed step is run again. Default ${PIPELINE_FILE_DEFAULTS.retries}.`,
      }),
    ),
    caches: Type.Optional(
      list(text(63, 'A cache name'), 10, 'The caches (top-level `caches`) this step restores and saves.'),
    ),
    build: Type.Optional(ImageBuildSchema),
  },
  'A step: commands in a container, or an image build.',
);

type Step = Static<typeof StepSchema>;

const STEP_RULES = [
  {
    message: 'set either image (with commands) or build',
    check: (step: Step) => (step.image === undefined) !== (step.build === undefined),
  },
  {
    message: 'a step with image needs commands',
    field: 'commands',
    check: (step: Step) => step.image === undefined || (step.commands?.length ?? 0) > 0,
  },
  {
    message: 'an image step (build) takes no commands, env, secrets, workingDir or caches',
    check: (step: Step) =>
      step.build === undefined ||
      [step.commands, step.env, step.secrets, step.workingDir, step.caches].every((f) => f === undefined),
  },
  {
    message: `is reserved (${RESERVED_STEP_NAMES.join(', ')}); choose another name`,
    field: 'name',
    check: (step: Step) => !(RESERVED_STEP_NAMES as readonly string[]).includes(step.name),
  },
  {
    message: 'names a variable both in env and in secrets',
    field: 'secrets',
    check: (step: Step) => (step.secrets ?? []).every((s) => step.env?.[s.env] === undefined),
  },
];

// ── The file ────────────────────────────────────────────────────────────────────────────────────

type FileShape = { steps: readonly Step[]; caches?: readonly { name: string }[] };

export const PipelineFileSchema = withRules(
  object(
    {
      triggers: Type.Optional(TriggersSchema),
      timeout: Type.Optional(
        duration(`The whole run’s time limit. Default ${PIPELINE_FILE_DEFAULTS.timeout}.`),
      ),
      concurrency: Type.Optional(
        object(
          {
            maxRuns: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: 20,
                description: `Runs at once; more wait. Default ${PIPELINE_FILE_DEFAULTS.maxRuns}.`,
              }),
            ),
            cancelOlder: Type.Optional(
              Type.Boolean({
                description: `Whether a newer push to a branch cancels the older run of that branch. Default ${PIPELINE_FILE_DEFAULTS.cancelOlder}.`,
              }),
            ),
          },
          'How runs of this pipeline share the cluster.',
        ),
      ),
      caches: Type.Optional(list(CacheSchema, 20, 'Folders kept between runs.')),
      steps: Type.Array(withRules(StepSchema, STEP_RULES), {
        minItems: 1,
        maxItems: 50,
        description: 'The steps, run in order; the first that fails ends the run.',
      }),
    },
    'A pipeline: when a run starts and what it does.',
  ),
  [
    {
      message: 'two steps have the same name; each needs its own',
      field: 'steps',
      check: (file: FileShape) => new Set(file.steps.map((s) => s.name)).size === file.steps.length,
    },
    {
      message: 'two caches have the same name',
      field: 'caches',
      check: (file: FileShape) =>
        new Set((file.caches ?? []).map((c) => c.name)).size === (file.caches ?? []).length,
    },
    {
      message: 'a step names a cache that the top-level caches do not define',
      field: 'steps',
      check: (file: FileShape) => {
        const defined = new Set((file.caches ?? []).map((c) => c.name));
        return file.steps.every((s) => (s.caches ?? []).every((c) => defined.has(c)));
      },
    },
  ],
);

export type PipelineFile = Static<typeof PipelineFileSchema>;
export type PipelineStep = Step;
export type ImageBuild = Static<typeof ImageBuildSchema>;
export type PipelineCache = Static<typeof CacheSchema>;
export type PipelineTriggers = Static<typeof TriggersSchema>;
export type SecretEnv = Static<typeof SecretEnvSchema>;

/**
 * Reads a pipeline file. Throws PIPELINE_FILE_INVALID naming `file:line:column: field: what` for each
 * problem (the first 20), with `fields` the fields at fault; nothing of an invalid file runs.
 */
export function parsePipelineFile(text: string, file: string): PipelineFile {
  const document = readLocatedYaml(text, file, PIPELINE_FILE_LIMITS, 'PIPELINE_FILE_INVALID');
  if (document.value === undefined || document.value === null) {
    throw new CapstanError('PIPELINE_FILE_INVALID', `${file}: is empty; it needs at least steps`, {
      subject: file,
    });
  }
  const result = validate(PipelineFileSchema, document.value);
  if (result.ok) return result.value;
  const found = result.errors.slice(0, 20).map(splitFieldError);
  const problems = locateProblems(
    document,
    file,
    found.map((p) => withQuoteHint(p, document.value)),
  );
  throw invalidFile(file, problems);
}

/** `must be a string` of a number or boolean YAML read from unquoted text: say what it read, and to quote it. */
function withQuoteHint(problem: FieldProblem, root: unknown): FieldProblem {
  if (problem.message !== 'must be a string') return problem;
  let value: unknown = root;
  for (const segment of fieldSegments(problem.field)) {
    value =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[segment] : undefined;
  }
  if (typeof value !== 'number' && typeof value !== 'boolean') return problem;
  return { ...problem, message: `must be a string, not ${String(value)}; quote it: "${String(value)}"` };
}

function invalidFile(file: string, problems: readonly LocatedProblem[]): CapstanError {
  const first = problems[0];
  const subject = first === undefined ? file : `${file}:${first.line}`;
  return new CapstanError(
    'PIPELINE_FILE_INVALID',
    `${file} is not a valid pipeline file:\n${formatProblems(problems)}`,
    {
      subject,
      fields: problems.map((p) => p.field),
    },
  );
}
