/**
 * The project check: what an Application may do, decided from its project's rules alone (DESIGN.md:
 * "Who may do what is decided by the `Project`: one check, used by the agent, the server and the CLI").
 * Pure: the caller brings the Application's resolved settings, the rendered objects' identities and the
 * project; the answer is the list of violations, each naming the object or field, the rule and the
 * project. An Application with any violation changes nothing.
 *
 * Two moments: `checkApplication` before anything is fetched (the project, the source, the
 * destination, the options, dependsOn), and `checkObjects` on the whole render before anything is
 * applied (where each object lands, which kinds). Adoption needs the live objects: `checkAdoption`
 * runs on the plan (src/engine/plan.ts).
 */
import type { ResourceId } from './resource.ts';
import { formatId } from './resource.ts';

/** A kind by API group and kind; `*` in either matches every one. */
export interface KindPattern {
  readonly group: string;
  readonly kind: string;
}

export interface DestinationRule {
  /** A cluster name or pattern. */
  readonly cluster: string;
  /** A namespace or pattern. */
  readonly namespace: string;
  readonly serviceAccount?: { readonly name: string; readonly namespace?: string | undefined } | undefined;
}

/** A project's rules, as src/contracts/project.ts resolves them (every default applied). */
export interface ProjectRules {
  readonly name: string;
  readonly applicationNamespaces: readonly string[];
  readonly sourceRepos: readonly string[];
  readonly destinations: readonly DestinationRule[];
  readonly clusterResources: readonly KindPattern[];
  readonly deniedNamespacedResources: readonly KindPattern[];
  readonly allowAdoption: boolean;
  readonly allowForceConflicts: boolean;
  /** Undefined: the Applications of the same namespace. */
  readonly dependencies?: readonly { readonly namespace: string; readonly name: string }[] | undefined;
}

/** The Application as the check sees it: resolved, with its namespace filled in. */
export interface ApplicationFacts {
  readonly namespace: string;
  readonly name: string;
  readonly repoURL: string;
  readonly cluster: string;
  /** The namespace objects that name none go to. */
  readonly destinationNamespace: string;
  /** ForceConflicts=true: take over objects another Application owns. */
  readonly forceConflicts: boolean;
  /** CreateNamespace=true: the destination namespace is created when missing. */
  readonly createNamespace: boolean;
  readonly dependsOn: readonly { readonly namespace: string; readonly name: string }[];
}

/**
 * What no project can grant: the namespaces where the agent keeps its own state (its Lease, the
 * registered clusters' Secrets, the inventories), on every cluster it deploys to.
 */
export interface Protected {
  readonly namespaces: readonly string[];
}

export const POLICY_RULES = [
  'project-namespace',
  'source-repository',
  'destination-cluster',
  'destination-namespace',
  'cluster-resource',
  'denied-resource',
  'protected-namespace',
  'adoption',
  'force-conflicts',
  'dependency',
] as const;
export type PolicyRule = (typeof POLICY_RULES)[number];

export interface Violation {
  readonly rule: PolicyRule;
  /** `Kind/namespace/name` of the object, or the field of the Application (`spec.source.repoURL`). */
  readonly subject: string;
  /** What is not allowed and what to do, naming the project. */
  readonly message: string;
}

// ── Patterns ────────────────────────────────────────────────────────────────────────────────────

const compiled = new Map<string, RegExp>();

/** Whether `value` matches a glob: `*` any run of characters but `/`, `**` any run, all else itself. */
export function matchesPattern(pattern: string, value: string): boolean {
  let regex = compiled.get(pattern);
  if (!regex) {
    const body = pattern
      .split('**')
      .map((part) =>
        part
          .split('*')
          .map((text) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]*'),
      )
      .join('.*');
    regex = new RegExp(`^${body}$`, 's');
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, regex);
  }
  return regex.test(value);
}

const matchesAny = (patterns: readonly string[], value: string) =>
  patterns.some((p) => matchesPattern(p, value));
const kindMatches = (patterns: readonly KindPattern[], id: Pick<ResourceId, 'group' | 'kind'>) =>
  patterns.some((p) => (p.group === '*' || p.group === id.group) && (p.kind === '*' || p.kind === id.kind));

/** The destination rule that allows `namespace` on `cluster`, if any (the first: it gives the ServiceAccount). */
export function destinationFor(
  project: Pick<ProjectRules, 'destinations'>,
  cluster: string,
  namespace: string,
): DestinationRule | undefined {
  return project.destinations.find(
    (d) => matchesPattern(d.cluster, cluster) && matchesPattern(d.namespace, namespace),
  );
}

/** A ServiceAccount by namespace and name. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** The user a ServiceAccount is impersonated as (the API server adds its groups). */
export function serviceAccountUser(serviceAccount: ServiceAccountRef): { user: string } {
  return { user: `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}` };
}

/**
 * The ServiceAccount a sync applies as (impersonation): the one the first matching destination of the
 * project names (in the Application's namespace unless it names another); else, when the agent has a
 * default ServiceAccount (`capstan agent --default-service-account`, set by deploy/install.yaml), that
 * name in the Application's namespace; else none, and the agent applies with its own identity.
 */
export function applyingServiceAccount(
  project: Pick<ProjectRules, 'destinations'>,
  target: { readonly cluster: string; readonly namespace: string; readonly applicationNamespace: string },
  options: { readonly defaultServiceAccount?: string | undefined } = {},
): ServiceAccountRef | undefined {
  const named = destinationFor(project, target.cluster, target.namespace)?.serviceAccount;
  if (named) return { namespace: named.namespace ?? target.applicationNamespace, name: named.name };
  if (options.defaultServiceAccount === undefined) return undefined;
  return { namespace: target.applicationNamespace, name: options.defaultServiceAccount };
}

// ── Checks ──────────────────────────────────────────────────────────────────────────────────────

const inProject = (project: ProjectRules) => `project '${project.name}'`;

/** The checks that need only the Application: run before its source is fetched. */
export function checkApplication(
  app: ApplicationFacts,
  project: ProjectRules,
  protect: Protected,
): Violation[] {
  const where = inProject(project);
  const violations: Violation[] = [];
  const add = (rule: PolicyRule, subject: string, message: string) => {
    violations.push({ rule, subject, message });
  };
  if (!matchesAny(project.applicationNamespaces, app.namespace))
    add(
      'project-namespace',
      'spec.project',
      `Applications of namespace '${app.namespace}' may not use ${where} (its applicationNamespaces do not match): name a project of your namespace`,
    );
  if (!matchesAny(project.sourceRepos, app.repoURL))
    add(
      'source-repository',
      'spec.source.repoURL',
      `the repository '${app.repoURL}' is not one of the sourceRepos of ${where}`,
    );
  if (!project.destinations.some((d) => matchesPattern(d.cluster, app.cluster)))
    add(
      'destination-cluster',
      'spec.destination.cluster',
      `the cluster '${app.cluster}' is not a destination of ${where}`,
    );
  else if (protect.namespaces.includes(app.destinationNamespace))
    add(
      'protected-namespace',
      'spec.destination.namespace',
      `the namespace '${app.destinationNamespace}' holds the agent's own state (its Lease, cluster Secrets and inventories): no Application may deploy there, whatever ${where} says`,
    );
  else if (!destinationFor(project, app.cluster, app.destinationNamespace))
    add(
      'destination-namespace',
      'spec.destination.namespace',
      `the namespace '${app.destinationNamespace}' on cluster '${app.cluster}' is not a destination of ${where}`,
    );
  if (app.createNamespace && !kindMatches(project.clusterResources, { group: '', kind: 'Namespace' }))
    add(
      'cluster-resource',
      'spec.syncPolicy.syncOptions',
      `CreateNamespace=true creates Namespaces, which are not among the clusterResources of ${where}: create the namespace beforehand, or ask for Namespace there`,
    );
  if (app.forceConflicts && !project.allowForceConflicts)
    add(
      'force-conflicts',
      'spec.syncPolicy.syncOptions',
      `ForceConflicts=true (taking over other Applications' objects) is not allowed by ${where} (allowForceConflicts)`,
    );
  for (const [i, dependency] of app.dependsOn.entries()) {
    const allowed =
      project.dependencies === undefined
        ? dependency.namespace === app.namespace
        : project.dependencies.some(
            (d) =>
              matchesPattern(d.namespace, dependency.namespace) && matchesPattern(d.name, dependency.name),
          );
    if (!allowed)
      add(
        'dependency',
        `spec.dependsOn[${i}]`,
        `Application ${dependency.namespace}/${dependency.name} may not be named in dependsOn under ${where} (${project.dependencies === undefined ? 'only Applications of the same namespace' : 'not in its dependencies'})`,
      );
  }
  return violations;
}

/**
 * The checks of the whole render (identities as prepared: namespaced objects carry their namespace,
 * cluster-scoped ones ''): every namespaced object lands in a destination of the project on the
 * Application's cluster and outside the protected namespaces; cluster-scoped kinds only if the project
 * lists them (a Namespace also only when it is itself a destination); no denied kind.
 */
export function checkObjects(
  ids: readonly ResourceId[],
  app: Pick<ApplicationFacts, 'cluster'>,
  project: ProjectRules,
  protect: Protected,
): Violation[] {
  const where = inProject(project);
  const violations: Violation[] = [];
  for (const id of ids) {
    const subject = formatId(id);
    const add = (rule: PolicyRule, message: string) => {
      violations.push({ rule, subject, message: `${subject}: ${message}` });
    };
    const namespaceObject = id.group === '' && id.kind === 'Namespace';
    const namespace = namespaceObject ? id.name : id.namespace;
    if (namespace !== '' && protect.namespaces.includes(namespace)) {
      add(
        'protected-namespace',
        `the namespace '${namespace}' holds the agent's own state (its Lease, cluster Secrets and inventories): no Application may write there, whatever ${where} says`,
      );
      continue;
    }
    if (id.namespace === '') {
      if (!kindMatches(project.clusterResources, id)) {
        add(
          'cluster-resource',
          `cluster-scoped ${id.kind}${id.group ? ` (${id.group})` : ''} is not among the clusterResources of ${where}`,
        );
        continue;
      }
      if (namespaceObject && !destinationFor(project, app.cluster, id.name))
        add(
          'destination-namespace',
          `the namespace '${id.name}' on cluster '${app.cluster}' is not a destination of ${where}`,
        );
      continue;
    }
    if (!destinationFor(project, app.cluster, id.namespace)) {
      add(
        'destination-namespace',
        `the namespace '${id.namespace}' on cluster '${app.cluster}' is not a destination of ${where}`,
      );
      continue;
    }
    if (kindMatches(project.deniedNamespacedResources, id))
      add('denied-resource', `${id.kind} is among the deniedNamespacedResources of ${where}`);
  }
  return violations;
}

/**
 * Adoption: an object that exists and carries no Capstan marks was made by someone else; an
 * Application takes it over (and may later prune it) only when its project allows.
 */
export function checkAdoption(unowned: readonly ResourceId[], project: ProjectRules): Violation[] {
  if (project.allowAdoption) return [];
  return unowned.map((id) => ({
    rule: 'adoption',
    subject: formatId(id),
    message: `${formatId(id)}: exists and was not created by Capstan; ${inProject(project)} does not allow adopting existing objects (allowAdoption): remove it from the desired state, or delete or label it yourself`,
  }));
}

/** One message for all the violations of a check: the project named, each object and rule listed. */
export function describeViolations(
  project: Pick<ProjectRules, 'name'>,
  violations: readonly Violation[],
): string {
  const shown = violations.slice(0, 10).map((v) => `${v.message} [${v.rule}]`);
  const more = violations.length > shown.length ? `; and ${violations.length - shown.length} more` : '';
  return `refused by project '${project.name}', nothing was changed: ${shown.join('; ')}${more}`;
}
