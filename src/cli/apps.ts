// Wiring for `capstan app diff`: the local render and plan of an Application against its destination
// (the Application client itself is an adapter: src/adapters/kube/application-client.ts).
import { CapstanError, messageOf } from '../core/errors.ts';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import {
  applicationOwner,
  IN_CLUSTER,
  resolveSpec,
  type Application,
  type ResolvedSpec,
} from '../contracts/application.ts';
import { applicationRender, mayRenderHelm } from '../contracts/application-render.ts';
import { planSync, type SyncPlan } from '../engine/sync.ts';
import { policyViolation, type ProjectBoundary } from '../engine/project-check.ts';
import { DEFAULT_NAMESPACE } from '../contracts/install.ts';
import {
  applicationFacts,
  effectiveProject,
  PROJECT_API_VERSION,
  PROJECT_KIND,
  validateProject,
  type ProjectLookup,
} from '../contracts/project.ts';
import { checkApplication } from '../core/policy.ts';
import type { SyncOptions } from '../engine/context.ts';
import { credentialsFromSecret } from '../adapters/git/secret-credentials.ts';
import type { GitCredentials } from '../ports/source.ts';
import {
  chartAccessFromEnv,
  connect,
  gitCredentialsFromEnv,
  helmCapabilities,
  renderDesiredState,
  type DesiredStateSource,
  type SourceAccess,
} from '../main/push.ts';

// ── diff ───────────────────────────────────────────────────────────────────────────────────────

/**
 * Whom an Application's objects are owned by (ownership marks, inventory `capstan-inventory-<owner>`):
 * the agent's naming (src/controller/reconciler.ts), from the one definition of src/contracts; the two
 * must stay the same, or diff shows the wrong prune candidates.
 */
export function ownerOptions(application: Application): ReturnType<typeof applicationOwner> {
  return applicationOwner(application.metadata.namespace ?? 'default', application.metadata.name);
}

/**
 * The project that bounds an Application, read from the cluster it lives in, with the checks of its
 * spec applied (src/core/policy.ts, the same as the agent's): POLICY_VIOLATION when it is refused.
 */
async function projectBoundary(
  application: Application,
  spec: ResolvedSpec,
  options: { kubeconfig?: string | undefined; context?: string | undefined },
): Promise<ProjectBoundary> {
  const namespace = application.metadata.namespace ?? 'default';
  const home = new KubeCluster(loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context }));
  try {
    const type = await home.resourceType(PROJECT_API_VERSION, PROJECT_KIND);
    const found = type ? await home.get(type, '', spec.project) : undefined;
    const validation = found ? validateProject(found) : undefined;
    const lookup: ProjectLookup =
      validation === undefined
        ? { kind: 'missing' }
        : validation.ok
          ? { kind: 'found', project: validation.value }
          : { kind: 'invalid', errors: validation.errors };
    const rules = effectiveProject(spec.project, lookup, namespace);
    const protectedNamespaces = [DEFAULT_NAMESPACE];
    const violations = checkApplication(applicationFacts(namespace, application.metadata.name, spec), rules, {
      namespaces: protectedNamespaces,
    });
    if (violations.length > 0) throw policyViolation(rules, violations);
    return { rules, cluster: spec.destination.cluster, protectedNamespaces };
  } finally {
    home.close();
  }
}

/**
 * The credentials of an Application's Secrets (spec.source.secretRef for git, spec.source.helm's
 * repositorySecretRefs for chart repositories), read from its namespace with the user's kubeconfig
 * and checked as the agent checks them (a repository-credentials Secret bound to a url). The
 * environment's (CAPSTAN_GIT_*, CAPSTAN_HELM_*) win when set: a CI job that may not read Secrets.
 */
export async function applicationAccess(
  application: Application,
  spec: ResolvedSpec,
  options: {
    kubeconfig?: string | undefined;
    context?: string | undefined;
    progress: (line: string) => void;
    env?: NodeJS.ProcessEnv;
  },
): Promise<SourceAccess> {
  const env = options.env ?? process.env;
  const namespace = application.metadata.namespace ?? 'default';
  const gitRef = (await gitCredentialsFromEnv(env)) === undefined ? spec.source.secretRef?.name : undefined;
  const chartRefs =
    (await chartAccessFromEnv(env)).credentials.length === 0
      ? applicationRender(application, spec).chartSecrets
      : [];
  if (gitRef === undefined && chartRefs.length === 0) return {};
  const home = new KubeCluster(loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context }));
  try {
    const read = (name: string, field: string) => secretCredentials(home, { namespace, name, field });
    const git = gitRef === undefined ? undefined : await read(gitRef, 'spec.source.secretRef');
    const charts: GitCredentials[] = [];
    for (const name of chartRefs) charts.push(await read(name, 'spec.source.helm.repositorySecretRefs'));
    const names = [...(gitRef === undefined ? [] : [gitRef]), ...chartRefs];
    options.progress(
      `credentials from the Application's Secret${names.length === 1 ? '' : 's'} ${names.join(', ')}`,
    );
    return {
      ...(git === undefined ? {} : { git }),
      ...(charts.length === 0 ? {} : { chartCredentials: charts }),
    };
  } finally {
    home.close();
  }
}

/** One Secret's credentials; a missing or unreadable Secret says what to do. */
async function secretCredentials(
  home: KubeCluster,
  ref: { namespace: string; name: string; field: string },
): Promise<GitCredentials> {
  const subject = `Secret/${ref.namespace}/${ref.name}`;
  const type = await home.resourceType('v1', 'Secret');
  let secret;
  try {
    secret = type ? await home.get(type, ref.namespace, ref.name) : undefined;
  } catch (error) {
    if (error instanceof CapstanError && error.code === 'KUBE_FORBIDDEN')
      throw new CapstanError(
        'SOURCE_SECRET_FORBIDDEN',
        `${subject} (${ref.field}): your kubeconfig may not read it; give your user get on secrets in ${ref.namespace}, or set the credentials in the environment (CAPSTAN_GIT_* for git, CAPSTAN_HELM_* for chart repositories)`,
        { subject, cause: error },
      );
    throw error;
  }
  if (!secret)
    throw new CapstanError(
      'SOURCE_SECRET_NOT_FOUND',
      `${subject} (${ref.field}) does not exist; create it with the repository's credentials`,
      { subject },
    );
  return credentialsFromSecret(secret, subject);
}

export interface ApplicationPlan {
  readonly plan: SyncPlan;
  readonly options: SyncOptions;
  /** The commit rendered. */
  readonly revision: string | undefined;
}

/**
 * Renders the Application's source here (git, then plain YAML, Kustomize or Helm, as the agent does)
 * and plans a sync against its destination without changing anything: the basis of `capstan app diff`.
 * Credentials: the Application's Secrets, as the agent reads them (applicationAccess), unless the
 * environment gives some.
 */
/** Where the Application's desired state comes from: a folder of a git repository, or a chart of a Helm repository. */
function desiredSource(spec: ResolvedSpec, revision: string): DesiredStateSource {
  const { source } = spec;
  return source.chart === undefined
    ? {
        kind: 'git',
        repoURL: source.repoURL,
        revision,
        path: source.path,
        allowInsecureHttp: source.insecureHttp,
      }
    : {
        kind: 'chart',
        repoURL: source.repoURL,
        chart: source.chart,
        version: revision,
        allowInsecureHttp: source.insecureHttp,
      };
}

export async function planApplication(
  application: Application,
  options: {
    kubeconfig?: string | undefined;
    context?: string | undefined;
    /** Another revision than spec.source.targetRevision. */
    revision?: string | undefined;
    /** The destination cluster's kubeconfig, when it is not the cluster the Application lives in. */
    destinationKubeconfig?: string | undefined;
    progress: (line: string) => void;
  },
): Promise<ApplicationPlan> {
  const spec = resolveSpec(application);
  const remote = spec.destination.cluster !== IN_CLUSTER;
  if (remote && options.destinationKubeconfig === undefined) {
    throw new CapstanError(
      'APPLICATION_DIFF_REMOTE',
      `application '${application.metadata.name}' deploys to the registered cluster '${spec.destination.cluster}', ` +
        `whose credentials stay in the agent's Secret: pass --dest-kubeconfig with a kubeconfig of that cluster`,
    );
  }
  const connection = connect(
    remote
      ? { kubeconfig: options.destinationKubeconfig }
      : { kubeconfig: options.kubeconfig, context: options.context },
  );
  try {
    // The project's word first, as the agent's: a diff of what the agent would refuse is that refusal.
    const project = await projectBoundary(application, spec, options);
    // Rendered as the agent renders it (applicationRender), with the destination's Helm capabilities.
    const capabilities = mayRenderHelm(spec) ? await helmCapabilities(connection.cluster) : undefined;
    const { chartSecrets: _secrets, ...settings } = applicationRender(application, spec, capabilities);
    const desired = await renderDesiredState(
      desiredSource(spec, options.revision ?? spec.source.targetRevision),
      settings,
      options.progress,
      await applicationAccess(application, spec, options),
    );
    const syncOptions: SyncOptions = {
      ...ownerOptions(application),
      namespace: spec.destination.namespace,
      ...(desired.revision === undefined ? {} : { revision: desired.revision }),
      prune: spec.automated?.prune ?? false,
      allowEmpty: spec.automated?.allowEmpty ?? false,
      createNamespace: spec.syncOptions.createNamespace,
      ignoreDifferences: spec.ignoreDifferences,
      // As the agent syncs: Git's fields are taken back; another application's objects only on request.
      forceConflicts: true,
      adopt: spec.syncOptions.forceConflicts,
      replace: spec.syncOptions.replace,
      project,
      dryRun: true,
    };
    const plan = await planSync(desired.result.objects, syncOptions, connection.deps);
    return { plan, options: syncOptions, revision: desired.revision };
  } catch (error) {
    if (error instanceof CapstanError) throw error;
    throw new CapstanError('APPLICATION_DIFF_FAILED', messageOf(error), { cause: error });
  } finally {
    connection.close();
  }
}
