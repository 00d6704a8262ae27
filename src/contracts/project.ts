/**
 * The `Project` resource (capstan.dev/v1alpha1): what the Applications that name it may do. One
 * definition gives its TypeScript types, its runtime validation (`validateProject`), the OpenAPI v3
 * schema of its CustomResourceDefinition (`projectCrd`), the project that applies when none is defined
 * (`defaultProject`) and what each role may do (`roleActions`), for the agent, the API server and the
 * CLI alike (DESIGN.md: "one check").
 *
 * A Project is cluster-scoped: it is the platform team's statement of a boundary, so only those who may
 * create cluster-scoped objects write one, and no tenant can widen it from their namespace. Everything
 * it does not grant is refused; the defaults (`PROJECT_DEFAULTS`) grant the least that still works.
 *
 * Patterns (repositories, clusters, namespaces, Applications) are globs: `*` matches any run of
 * characters except `/`, `**` any run including `/`, and every other character itself
 * (`https://git.example.com/team-a/*`, `team-a-*`). The function that reads them is `matchesPattern`
 * in src/core/policy.ts.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { CapstanError } from '../core/errors.ts';
import type { ApplicationFacts, ProjectRules } from '../core/policy.ts';
import type { KubeObject, ObjectMeta } from '../core/resource.ts';
import { APPLICATION_GROUP, APPLICATION_VERSION, IN_CLUSTER, type ResolvedSpec } from './application.ts';
import { customResourceDefinition, type CrdDescription } from './crd.ts';
import { oneOf, validate, withHint, withRules, type Validation } from './validate.ts';

// ── Identity ────────────────────────────────────────────────────────────────────────────────────

export const PROJECT_GROUP = APPLICATION_GROUP;
export const PROJECT_VERSION = APPLICATION_VERSION;
export const PROJECT_API_VERSION = `${PROJECT_GROUP}/${PROJECT_VERSION}`;
export const PROJECT_KIND = 'Project';
export const PROJECT_PLURAL = 'projects';
export const PROJECT_SINGULAR = 'project';
export const PROJECT_SHORT_NAMES = ['proj'] as const;

/** The project of an Application that names none. */
export const DEFAULT_PROJECT_NAME = 'default';

// ── Roles ───────────────────────────────────────────────────────────────────────────────────────

/**
 * What a person may do to the Applications of a project, through the API server, the CLI or the UI.
 * `view`: read them, their status, history and diffs; `refresh`: ask for a new look at the source;
 * `sync`: sync now; `rollback`: roll back and release a rollback hold; `create`, `update`, `delete`:
 * the Application objects themselves; `approve`: approve or reject a promotion to an Environment of
 * the project that asks for an approval (docs/promotions.md).
 */
export const PROJECT_ACTIONS = [
  'view',
  'refresh',
  'sync',
  'rollback',
  'create',
  'update',
  'delete',
  'approve',
] as const;
export type ProjectAction = (typeof PROJECT_ACTIONS)[number];

/** The roles every project knows, and what each may do. A role of another name lists its `actions`. */
export const BUILT_IN_ROLES = {
  viewer: ['view'],
  deployer: ['view', 'refresh', 'sync', 'rollback'],
  admin: PROJECT_ACTIONS,
} as const satisfies Record<string, readonly ProjectAction[]>;
export type BuiltInRole = keyof typeof BUILT_IN_ROLES;
const BUILT_IN_ROLE_NAMES = Object.keys(BUILT_IN_ROLES) as BuiltInRole[];

// ── Building blocks ─────────────────────────────────────────────────────────────────────────────

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A glob over names: the characters of a name, and `*`. */
const NAME_GLOB = '^[a-z0-9*.-]+$';

const object = <P extends Parameters<typeof Type.Object>[0]>(properties: P, description: string) =>
  Type.Object(properties, { additionalProperties: false, description });
const list = <T extends TSchema>(items: T, maxItems: number, description: string) =>
  Type.Array(items, { maxItems, description });
const namePattern = (description: string, maxLength = 253) =>
  withHint(
    Type.String({ minLength: 1, maxLength, pattern: NAME_GLOB, description }),
    'a name or a glob over names (lower-case letters, digits, -, ., and * or **)',
  );

export const PROJECT_DEFAULTS = {
  sourceRepos: ['**'],
  clusterResources: [],
  deniedNamespacedResources: [],
  allowAdoption: false,
  allowForceConflicts: false,
} as const;
const D = PROJECT_DEFAULTS;

// ── Spec ────────────────────────────────────────────────────────────────────────────────────────

export const ServiceAccountReferenceSchema = object(
  {
    name: withHint(
      Type.String({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN, description: 'Its name.' }),
      'a ServiceAccount name (lower-case letters, digits, - and .)',
    ),
    namespace: Type.Optional(
      withHint(
        Type.String({
          minLength: 1,
          maxLength: 63,
          pattern: DNS_LABEL,
          description: 'Its namespace. Default: the namespace of the Application.',
        }),
        'a namespace name (lower-case letters, digits and -, at most 63)',
      ),
    ),
  },
  'A ServiceAccount of the destination cluster that the agent impersonates to apply, prune and read back.',
);

export const ProjectDestinationSchema = object(
  {
    cluster: namePattern(
      `A registered cluster, or a pattern over their names ('${IN_CLUSTER}' is the agent's own cluster).`,
    ),
    namespace: namePattern('A namespace, or a pattern over namespaces.', 63),
    serviceAccount: Type.Optional(ServiceAccountReferenceSchema),
  },
  'Where the Applications of the project may deploy: every namespaced object must land in a namespace ' +
    'of a destination on the Application’s cluster. The first destination that matches gives the ServiceAccount.',
);

export const ResourceKindSchema = object(
  {
    group: Type.String({
      maxLength: 253,
      pattern: '^(\\*|[a-z0-9.-]*)$',
      description: "API group ('' for the core group), or * for every group.",
    }),
    kind: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: '^(\\*|[A-Za-z0-9]+)$',
      description: 'Kind, or * for every kind of the group.',
    }),
  },
  'A kind of object, by API group and kind (never by version).',
);

export const ApplicationPatternSchema = object(
  {
    namespace: namePattern('Namespace of the Applications, or a pattern.', 63),
    name: namePattern('Name of the Applications, or a pattern.'),
  },
  'Applications, by namespace and name patterns.',
);

export const ProjectRoleSchema = withRules(
  object(
    {
      name: withHint(
        Type.String({
          minLength: 1,
          maxLength: 63,
          pattern: DNS_LABEL,
          description: 'viewer, deployer, admin or another name.',
        }),
        'a role name (lower-case letters, digits and -)',
      ),
      description: Type.Optional(Type.String({ maxLength: 1024 })),
      actions: Type.Optional(
        Type.Array(oneOf(PROJECT_ACTIONS), {
          uniqueItems: true,
          maxItems: PROJECT_ACTIONS.length,
          description: `What the role may do (${PROJECT_ACTIONS.join(', ')}); only for roles other than ${BUILT_IN_ROLE_NAMES.join(', ')}, whose actions are fixed.`,
        }),
      ),
      users: Type.Optional(
        list(
          Type.String({ minLength: 1, maxLength: 253 }),
          500,
          'User names, as the API server authenticates them.',
        ),
      ),
      groups: Type.Optional(
        list(
          Type.String({ minLength: 1, maxLength: 253 }),
          500,
          'Group names, as the API server authenticates them.',
        ),
      ),
    },
    'People who may act on the Applications of the project, and what they may do.',
  ),
  [
    {
      message: `a role other than ${BUILT_IN_ROLE_NAMES.join(', ')} lists its actions; those three have fixed ones`,
      field: 'actions',
      cel: `(self.name in ${JSON.stringify(BUILT_IN_ROLE_NAMES).replaceAll('"', "'")}) != has(self.actions)`,
      check: (role: { name: string; actions?: readonly string[] }) =>
        (BUILT_IN_ROLE_NAMES as readonly string[]).includes(role.name) !== (role.actions !== undefined),
    },
  ],
);

export const ProjectSpecSchema = object(
  {
    description: Type.Optional(Type.String({ maxLength: 1024, description: 'What the project is for.' })),
    applicationNamespaces: list(
      namePattern('A namespace, or a pattern.', 63),
      200,
      'Namespaces whose Applications may name this project (spec.project). An Application of any other namespace that names it is refused.',
    ),
    sourceRepos: Type.Optional(
      list(
        Type.String({ minLength: 1, maxLength: 2048 }),
        200,
        "Repository URLs, or patterns over them, the Applications may take their desired state from. Default: any ('**').",
      ),
    ),
    destinations: list(
      ProjectDestinationSchema,
      200,
      'Where the Applications may deploy. Empty: nowhere (the project only groups Applications for people).',
    ),
    clusterResources: Type.Optional(
      list(ResourceKindSchema, 200, 'Cluster-scoped kinds the Applications may apply. Default: none.'),
    ),
    deniedNamespacedResources: Type.Optional(
      list(ResourceKindSchema, 200, 'Namespaced kinds the Applications may not apply. Default: none.'),
    ),
    allowAdoption: Type.Optional(
      Type.Boolean({
        description: `Whether an Application may take over objects that exist and that no Application created (it then owns them, and may prune them). Default ${D.allowAdoption}.`,
      }),
    ),
    allowForceConflicts: Type.Optional(
      Type.Boolean({
        description: `Whether an Application may set ForceConflicts=true: take over objects another Application owns. Default ${D.allowForceConflicts}.`,
      }),
    ),
    dependencies: Type.Optional(
      list(
        ApplicationPatternSchema,
        200,
        'Applications that Applications of the project may name in dependsOn (and so see the readiness of). Default: those of the same namespace.',
      ),
    ),
    roles: Type.Optional(
      Type.Array(ProjectRoleSchema, {
        maxItems: 50,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        description: 'Who may do what to the Applications of the project.',
      }),
    ),
  },
  'What the Applications that name this project may do. What it does not grant is refused.',
);

// ── The object ──────────────────────────────────────────────────────────────────────────────────

const MetadataSchema = Type.Unsafe<ObjectMeta & { name: string }>(
  Type.Object({
    name: withHint(
      Type.String({
        minLength: 1,
        maxLength: 253,
        pattern: DNS_SUBDOMAIN,
        description: 'Name of the Project.',
      }),
      'a Kubernetes object name (lower-case letters, digits, - and .)',
    ),
  }),
);

export const ProjectSchema = Type.Object(
  {
    apiVersion: Type.Literal(PROJECT_API_VERSION),
    kind: Type.Literal(PROJECT_KIND),
    metadata: MetadataSchema,
    spec: ProjectSpecSchema,
  },
  {
    additionalProperties: false,
    description:
      'A project: the boundary of what its Applications may deploy, where, and as whom; and who may act on them.',
  },
);

export type Project = Static<typeof ProjectSchema>;
export type ProjectSpec = Static<typeof ProjectSpecSchema>;
export type ProjectDestination = Static<typeof ProjectDestinationSchema>;
export type ProjectRole = Static<typeof ProjectRoleSchema>;
export type ResourceKind = Static<typeof ResourceKindSchema>;
export type ApplicationPattern = Static<typeof ApplicationPatternSchema>;
export type ServiceAccountReference = Static<typeof ServiceAccountReferenceSchema>;

/** Checks an object against the contract; errors name the field: `spec.destinations[0].namespace: required`. */
export function validateProject(object: unknown): Validation<Project> {
  return validate(ProjectSchema, object);
}

// ── Defaults ────────────────────────────────────────────────────────────────────────────────────

/** A project with every default applied: the rules the policy check (src/core/policy.ts) reads, and the roles. */
export interface ResolvedProject extends ProjectRules {
  readonly roles: readonly ProjectRole[];
}

export function resolveProject(project: Project): ResolvedProject {
  const { spec } = project;
  return {
    name: project.metadata.name,
    applicationNamespaces: spec.applicationNamespaces,
    sourceRepos: spec.sourceRepos ?? D.sourceRepos,
    destinations: spec.destinations,
    clusterResources: spec.clusterResources ?? D.clusterResources,
    deniedNamespacedResources: spec.deniedNamespacedResources ?? D.deniedNamespacedResources,
    allowAdoption: spec.allowAdoption ?? D.allowAdoption,
    allowForceConflicts: spec.allowForceConflicts ?? D.allowForceConflicts,
    ...(spec.dependencies === undefined ? {} : { dependencies: spec.dependencies }),
    roles: spec.roles ?? [],
  };
}

/**
 * The project of an Application that names `default` (or nothing) when no Project `default` exists:
 * its own namespace on the agent's cluster, any repository, no cluster-scoped kinds, no adoption, no
 * ForceConflicts, dependencies in its own namespace, no roles (Kubernetes RBAC on the Application
 * objects decides who may act on them).
 */
export function defaultProject(applicationNamespace: string): ResolvedProject {
  return {
    name: DEFAULT_PROJECT_NAME,
    applicationNamespaces: [applicationNamespace],
    sourceRepos: D.sourceRepos,
    destinations: [{ cluster: IN_CLUSTER, namespace: applicationNamespace }],
    clusterResources: D.clusterResources,
    deniedNamespacedResources: D.deniedNamespacedResources,
    allowAdoption: D.allowAdoption,
    allowForceConflicts: D.allowForceConflicts,
    roles: [],
  };
}

/** What a role may do: fixed for the built-in roles, listed for the others. */
export function roleActions(role: Pick<ProjectRole, 'name' | 'actions'>): readonly ProjectAction[] {
  if (Object.hasOwn(BUILT_IN_ROLES, role.name)) return BUILT_IN_ROLES[role.name as BuiltInRole];
  return role.actions ?? [];
}

/**
 * What a person may do to the Applications of a project: the union of the actions of the roles that
 * name the user or one of the groups.
 */
export function actionsOf(
  project: Pick<ResolvedProject, 'roles'>,
  person: { readonly user: string; readonly groups: readonly string[] },
): Set<ProjectAction> {
  const actions = new Set<ProjectAction>();
  for (const role of project.roles) {
    const named =
      (role.users ?? []).includes(person.user) || (role.groups ?? []).some((g) => person.groups.includes(g));
    if (named) for (const action of roleActions(role)) actions.add(action);
  }
  return actions;
}

// ── The CustomResourceDefinition ────────────────────────────────────────────────────────────────

const PRINTER_COLUMNS = [
  { name: 'Description', type: 'string', jsonPath: '.spec.description' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

/** The OpenAPI v3 schema of the CRD: the contract's schema in Kubernetes' structural subset. */
const PROJECT_CRD: CrdDescription = {
  group: PROJECT_GROUP,
  version: PROJECT_VERSION,
  kind: PROJECT_KIND,
  plural: PROJECT_PLURAL,
  singular: PROJECT_SINGULAR,
  shortNames: PROJECT_SHORT_NAMES,
  scope: 'Cluster',
  schema: ProjectSchema,
  printerColumns: PRINTER_COLUMNS,
  statusSubresource: false,
};

export function projectCrd(): KubeObject {
  return customResourceDefinition(PROJECT_CRD);
}

// ── The project of an Application ───────────────────────────────────────────────────────────────

/** What a lookup of a Project by name found. */
export type ProjectLookup =
  | { readonly kind: 'found'; readonly project: Project }
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly errors: readonly string[] };

/**
 * The project that bounds an Application: the Project it names; for `default` when no such Project
 * exists, `defaultProject`. A named Project that does not exist, or is not valid, is an error that needs
 * a person (PROJECT_NOT_FOUND, PROJECT_INVALID): the Application is Stalled and nothing is applied.
 */
export function effectiveProject(
  name: string,
  lookup: ProjectLookup,
  applicationNamespace: string,
): ResolvedProject {
  if (lookup.kind === 'found') return resolveProject(lookup.project);
  if (lookup.kind === 'invalid')
    throw new CapstanError(
      'PROJECT_INVALID',
      `Project/${name} is not valid (${lookup.errors.slice(0, 5).join('; ')}): nothing of its Applications is applied until it is fixed`,
      { subject: `${PROJECT_KIND}/${name}` },
    );
  if (name === DEFAULT_PROJECT_NAME) return defaultProject(applicationNamespace);
  throw new CapstanError(
    'PROJECT_NOT_FOUND',
    `the Application names Project/${name}, which does not exist: create it (kubectl get projects), or name another in spec.project`,
    { subject: `${PROJECT_KIND}/${name}` },
  );
}

/** The Application as the project check (src/core/policy.ts) reads it. */
export function applicationFacts(
  namespace: string,
  name: string,
  spec: Pick<ResolvedSpec, 'source' | 'destination' | 'syncOptions' | 'dependsOn'>,
): ApplicationFacts {
  return {
    namespace,
    name,
    repoURL: spec.source.repoURL,
    cluster: spec.destination.cluster,
    destinationNamespace: spec.destination.namespace,
    forceConflicts: spec.syncOptions.forceConflicts,
    createNamespace: spec.syncOptions.createNamespace,
    dependsOn: spec.dependsOn,
  };
}
