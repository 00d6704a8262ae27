/**
 * The `Environment` resource (capstan.dev/v1alpha1): one stage on the road to production (docs/promotions.md).
 * It names the Application that deploys it, where that Application's image reference lives in the
 * configuration repository, where its images come from (a Pipeline's runs, or the environment before
 * it) and the gates a promotion passes (healthy for a while on the promoted commit, an approval). The
 * promotions themselves are records of the Store; the status holds only the current image and the
 * latest promotion.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN, parseDuration } from '../core/duration.ts';
import type { KubeObject, ObjectMeta } from '../core/resource.ts';
import { IMAGE_REPOSITORY_PATTERN } from '../core/image-policy.ts';
import { PROMOTION_STATES, type ImageLocation } from '../core/promotion.ts';
import { APPLICATION_GROUP, APPLICATION_VERSION, ConditionSchema } from './application.ts';
import { customResourceDefinition, type CrdDescription } from './crd.ts';
import { DEFAULT_PROJECT_NAME } from './project.ts';
import { oneOf, validate, withHint, withRules, type Validation } from './validate.ts';

export const ENVIRONMENT_GROUP = APPLICATION_GROUP;
export const ENVIRONMENT_VERSION = APPLICATION_VERSION;
export const ENVIRONMENT_API_VERSION = `${ENVIRONMENT_GROUP}/${ENVIRONMENT_VERSION}`;
export const ENVIRONMENT_KIND = 'Environment';
export const ENVIRONMENT_PLURAL = 'environments';
export const ENVIRONMENT_SINGULAR = 'environment';
export const ENVIRONMENT_SHORT_NAMES = ['env'] as const;

export const APPROVAL_MODES = ['None', 'Required'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

export const ENVIRONMENT_DEFAULTS = {
  project: DEFAULT_PROJECT_NAME,
  branch: 'main',
  healthyFor: '30s',
  timeout: '10m',
  approval: 'None',
  imagePolicyInterval: '1m',
} as const;

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const name = (description: string, pattern = DNS_SUBDOMAIN) =>
  Type.String({ minLength: 1, maxLength: 253, pattern, description });
const duration = (description: string) =>
  withHint(Type.String({ pattern: DURATION_PATTERN, maxLength: 32, description }), 'a duration such as 30s');

/** A path inside the repository, checked by the API server (CEL) and by us. */
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

const ConfigSchema = withRules(
  Type.Object(
    {
      repoURL: Type.String({ minLength: 1, maxLength: 2048, description: 'The configuration repository.' }),
      branch: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 255,
          pattern: '^[A-Za-z0-9._/-]+$',
          description: `The branch promotions commit to. Default ${ENVIRONMENT_DEFAULTS.branch}.`,
        }),
      ),
      file: relativePath('The file that holds the image reference (a kustomization.yaml or a values file).'),
      kustomizeImage: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 253,
          description:
            'The `name` of the file’s kustomization `images:` entry: its newName and digest are set.',
        }),
      ),
      yamlPath: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 512,
          pattern: '^[^.]+(\\.[^.]+)*$',
          description:
            'A dotted path of a YAML file (Helm values: `image.reference`): the whole reference is set there.',
        }),
      ),
      credentials: Type.Optional(
        Type.Object(
          {
            secretRef: Type.Object(
              { name: name('A Secret in the Environment’s namespace.') },
              { additionalProperties: false },
            ),
          },
          {
            additionalProperties: false,
            description: 'Who pushes: a Secret of the same shape as an Application’s repository credentials.',
          },
        ),
      ),
      insecureHttp: Type.Optional(
        Type.Boolean({ description: 'Accept an http:// repository (loopback only).' }),
      ),
    },
    { additionalProperties: false, description: 'Where the environment’s image reference lives.' },
  ),
  [
    {
      message: 'give exactly one of kustomizeImage and yamlPath',
      cel: 'has(self.kustomizeImage) != has(self.yamlPath)',
      check: (config: { kustomizeImage?: string; yamlPath?: string }) =>
        (config.kustomizeImage === undefined) !== (config.yamlPath === undefined),
    },
  ],
);

/** An image repository followed by policy (as Flux's ImageRepository and ImagePolicy together). */
const ImagePolicySchema = Type.Object(
  {
    repository: Type.String({
      minLength: 1,
      maxLength: 512,
      pattern: IMAGE_REPOSITORY_PATTERN,
      description:
        'The image repository, with its registry host: `registry.example.com:5000/team/hello` (no tag, no digest).',
    }),
    semver: Type.String({
      minLength: 1,
      maxLength: 256,
      description:
        'A semver range (`>=1.2.0 <2.0.0`, `^1.4`, `~1.2`, `1.x`, `||`): the newest tag in it is promoted. Pre-releases only where the range names one.',
    }),
    filterTags: Type.Optional(
      Type.Object(
        {
          pattern: Type.String({
            minLength: 1,
            maxLength: 256,
            description: 'A regular expression: only tags it matches are considered (`^v(?<version>.*)$`).',
          }),
          extract: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 256,
              description:
                'What of a matching tag is read as its version: `$version` or `${version}` for a named group, `$1` for a numbered one. Default: the whole tag.',
            }),
          ),
        },
        { additionalProperties: false, description: 'Which tags count, and what of them is the version.' },
      ),
    ),
    secretRef: Type.Optional(
      Type.Object(
        { name: name('A Secret in the Environment’s namespace.') },
        {
          additionalProperties: false,
          description:
            'Read access to the registry: a Secret with `.dockerconfigjson` (its `auths` entry for the registry host) and optionally `ca.crt` (the CA of the registry’s certificate).',
        },
      ),
    ),
    interval: Type.Optional(
      duration(
        `How often the registry’s tags are listed. Default ${ENVIRONMENT_DEFAULTS.imagePolicyInterval}.`,
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Follow an image repository: the newest tag in the semver range, by digest, is promoted each time it changes.',
  },
);

const SourceSchema = withRules(
  Type.Object(
    {
      pipeline: Type.Optional(
        Type.Object(
          {
            name: name(
              'A Pipeline in the Environment’s namespace: each of its Succeeded runs is promoted here.',
              DNS_LABEL,
            ),
            branch: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 255,
                description: 'Only runs of this branch. Default: any.',
              }),
            ),
            image: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 512,
                description:
                  'Of a run that pushed several images, the one whose repository ends with this. Default: its first.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
      ),
      environment: Type.Optional(
        name(
          'The Environment before this one, in the same namespace: what it runs once its gates passed comes here.',
          DNS_LABEL,
        ),
      ),
      imagePolicy: Type.Optional(ImagePolicySchema),
    },
    {
      additionalProperties: false,
      description: 'Where promotions come from; absent: only by hand (capstan promote).',
    },
  ),
  [
    {
      message: 'give at most one of pipeline, environment and imagePolicy',
      cel: '(has(self.pipeline) ? 1 : 0) + (has(self.environment) ? 1 : 0) + (has(self.imagePolicy) ? 1 : 0) <= 1',
      check: (source: { pipeline?: unknown; environment?: unknown; imagePolicy?: unknown }) =>
        [source.pipeline, source.environment, source.imagePolicy].filter((x) => x !== undefined).length <= 1,
    },
  ],
);

export const EnvironmentSpecSchema = Type.Object(
  {
    project: Type.Optional(
      name(
        `The Project whose roles decide who may promote and approve. Default ${ENVIRONMENT_DEFAULTS.project}.`,
      ),
    ),
    application: name('The Application that deploys this environment, in the Environment’s namespace.'),
    config: ConfigSchema,
    source: Type.Optional(SourceSchema),
    gates: Type.Optional(
      Type.Object(
        {
          healthyFor: Type.Optional(
            duration(
              `How long the Application must stay Synced and Healthy on the promoted commit. Default ${ENVIRONMENT_DEFAULTS.healthyFor}.`,
            ),
          ),
          timeout: Type.Optional(
            duration(
              `How long after the commit the gates may take before the promotion fails. Default ${ENVIRONMENT_DEFAULTS.timeout}.`,
            ),
          ),
          approval: Type.Optional(
            oneOf(APPROVAL_MODES, {
              description:
                'Required: a promotion waits until a person whose project role allows `approve` approves it. Default None.',
            }),
          ),
          verify: Type.Optional(
            Type.Object(
              {
                url: Type.String({
                  pattern: '^https?://[^\\s]+$',
                  maxLength: 2048,
                  description:
                    'Asked with GET by the server that drives promotions once the health gate passed (a Service of the environment, from inside the cluster).',
                }),
                expectStatus: Type.Optional(
                  Type.Integer({
                    minimum: 100,
                    maximum: 599,
                    description: 'The status it must answer. Default: any 2xx.',
                  }),
                ),
              },
              {
                additionalProperties: false,
                description:
                  'A check after health: asked until it answers as expected (then Verified) or the timeout (then Failed, VerificationFailed).',
              },
            ),
          ),
        },
        { additionalProperties: false, description: 'What a promotion must pass.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'A stage that images are promoted to.' },
);

export const EnvironmentStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    conditions: Type.Optional(Type.Array(ConditionSchema, { maxItems: 8 })),
    currentImage: Type.Optional(
      Type.String({ maxLength: 512, description: 'The image of the latest Verified promotion, by digest.' }),
    ),
    lastPromotion: Type.Optional(
      Type.Object(
        {
          id: Type.String({ minLength: 1, maxLength: 64, description: 'The promotion, in the Store.' }),
          state: oneOf(PROMOTION_STATES),
          image: Type.String({ maxLength: 512 }),
          commit: Type.Optional(Type.String({ maxLength: 64 })),
          reason: Type.Optional(Type.String({ maxLength: 256 })),
        },
        { additionalProperties: false, description: 'The latest promotion (the rest are in the Store).' },
      ),
    ),
    imagePolicy: Type.Optional(
      Type.Object(
        {
          tag: Type.Optional(Type.String({ maxLength: 128, description: 'The tag the policy chose last.' })),
          image: Type.Optional(Type.String({ maxLength: 640, description: 'That tag’s image, by digest.' })),
          chosenAt: Type.Optional(
            Type.String({ maxLength: 64, description: 'When the policy chose it (it changed then).' }),
          ),
          error: Type.Optional(
            Type.String({
              maxLength: 2048,
              description: 'Why the latest look at the registry chose nothing (nothing was promoted).',
            }),
          ),
          errorAt: Type.Optional(Type.String({ maxLength: 64 })),
        },
        { additionalProperties: false, description: 'What spec.source.imagePolicy chose.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'What the promotion driver last saw.' },
);

const MetadataSchema = Type.Unsafe<ObjectMeta & { name: string; namespace?: string }>(
  Type.Object({
    name: withHint(
      Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL }),
      'a name of at most 63 lower-case letters, digits and -',
    ),
  }),
);

export const EnvironmentSchema = Type.Object(
  {
    apiVersion: Type.Literal(ENVIRONMENT_API_VERSION),
    kind: Type.Literal(ENVIRONMENT_KIND),
    metadata: MetadataSchema,
    spec: EnvironmentSpecSchema,
    status: Type.Optional(EnvironmentStatusSchema),
  },
  { additionalProperties: false, description: 'A stage on the road to production.' },
);

export type Environment = Static<typeof EnvironmentSchema>;
export type EnvironmentSpec = Static<typeof EnvironmentSpecSchema>;
export type EnvironmentStatus = Static<typeof EnvironmentStatusSchema>;

export function validateEnvironment(object: unknown): Validation<Environment> {
  return validate(EnvironmentSchema, object);
}

/** spec.source.imagePolicy with its defaults. */
export interface ResolvedImagePolicy {
  readonly repository: string;
  readonly semver: string;
  readonly filterTags: { readonly pattern: string; readonly extract?: string } | undefined;
  readonly secretRef: string | undefined;
  readonly intervalSeconds: number;
}

/** An Environment with every default applied. */
export interface ResolvedEnvironment {
  readonly namespace: string;
  readonly name: string;
  readonly project: string;
  readonly application: string;
  readonly repoURL: string;
  readonly branch: string;
  readonly file: string;
  readonly location: ImageLocation;
  readonly credentialsSecret: string | undefined;
  readonly insecureHttp: boolean;
  readonly fromPipeline:
    { readonly name: string; readonly branch?: string; readonly image?: string } | undefined;
  readonly fromEnvironment: string | undefined;
  readonly fromImagePolicy: ResolvedImagePolicy | undefined;
  readonly healthyForSeconds: number;
  readonly timeoutSeconds: number;
  readonly approvalRequired: boolean;
  /** The check after health (gates.verify); undefined: none. */
  readonly verify: { readonly url: string; readonly expectStatus?: number } | undefined;
  readonly status: EnvironmentStatus | undefined;
}

/** The Environment with its defaults; the contract's errors (field by field) when it refuses it. */
export function resolveEnvironment(object: KubeObject): Validation<ResolvedEnvironment> {
  const checked = validateEnvironment(object);
  if (!checked.ok) return checked;
  const { spec, status } = checked.value;
  const config = spec.config;
  return {
    ok: true,
    value: {
      namespace: object.metadata.namespace ?? 'default',
      name: object.metadata.name ?? '',
      project: spec.project ?? ENVIRONMENT_DEFAULTS.project,
      application: spec.application,
      repoURL: config.repoURL,
      branch: config.branch ?? ENVIRONMENT_DEFAULTS.branch,
      file: config.file,
      location:
        config.kustomizeImage !== undefined
          ? { kind: 'kustomize', name: config.kustomizeImage }
          : { kind: 'yamlPath', path: config.yamlPath ?? '' },
      credentialsSecret: config.credentials?.secretRef.name,
      insecureHttp: config.insecureHttp ?? false,
      fromPipeline: spec.source?.pipeline,
      fromEnvironment: spec.source?.environment,
      fromImagePolicy: resolveImagePolicy(spec.source?.imagePolicy),
      healthyForSeconds: parseDuration(spec.gates?.healthyFor ?? ENVIRONMENT_DEFAULTS.healthyFor) / 1000,
      timeoutSeconds: parseDuration(spec.gates?.timeout ?? ENVIRONMENT_DEFAULTS.timeout) / 1000,
      approvalRequired: (spec.gates?.approval ?? ENVIRONMENT_DEFAULTS.approval) === 'Required',
      verify: spec.gates?.verify,
      status,
    },
  };
}

function resolveImagePolicy(
  policy: NonNullable<EnvironmentSpec['source']>['imagePolicy'],
): ResolvedImagePolicy | undefined {
  if (policy === undefined) return undefined;
  return {
    repository: policy.repository,
    semver: policy.semver,
    filterTags: policy.filterTags,
    secretRef: policy.secretRef?.name,
    // At least a second: a registry is not asked more often than that.
    intervalSeconds: Math.max(
      1,
      parseDuration(policy.interval ?? ENVIRONMENT_DEFAULTS.imagePolicyInterval) / 1000,
    ),
  };
}

const PRINTER_COLUMNS = [
  { name: 'Application', type: 'string', jsonPath: '.spec.application' },
  { name: 'From', type: 'string', jsonPath: '.spec.source.environment' },
  { name: 'Pipeline', type: 'string', jsonPath: '.spec.source.pipeline.name', priority: 1 },
  { name: 'Policy', type: 'string', jsonPath: '.spec.source.imagePolicy.semver', priority: 1 },
  { name: 'Tag', type: 'string', jsonPath: '.status.imagePolicy.tag', priority: 1 },
  { name: 'Image', type: 'string', jsonPath: '.status.currentImage' },
  { name: 'Promotion', type: 'string', jsonPath: '.status.lastPromotion.state' },
  { name: 'Approval', type: 'string', jsonPath: '.spec.gates.approval', priority: 1 },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

const ENVIRONMENT_CRD: CrdDescription = {
  group: ENVIRONMENT_GROUP,
  version: ENVIRONMENT_VERSION,
  kind: ENVIRONMENT_KIND,
  plural: ENVIRONMENT_PLURAL,
  singular: ENVIRONMENT_SINGULAR,
  shortNames: ENVIRONMENT_SHORT_NAMES,
  scope: 'Namespaced',
  schema: EnvironmentSchema,
  printerColumns: PRINTER_COLUMNS,
  statusSubresource: true,
};

export function environmentCrd(): KubeObject {
  return customResourceDefinition(ENVIRONMENT_CRD);
}
