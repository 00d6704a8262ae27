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
import { connect, helmCapabilities, renderDesiredState, type RenderSettings } from './push.ts';

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

export interface ApplicationPlan {
  readonly plan: SyncPlan;
  readonly options: SyncOptions;
  /** The commit rendered. */
  readonly revision: string | undefined;
}

/**
 * Renders the Application's source here (git, then plain YAML, Kustomize or Helm, as the agent does)
 * and plans a sync against its destination without changing anything: the basis of `capstan app diff`.
 * Git credentials come from the environment (CAPSTAN_GIT_*), as for `capstan diff`.
 */
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
    const detectOrHelm = spec.source.type === undefined || spec.source.type === 'helm';
    const capabilities = detectOrHelm ? await helmCapabilities(connection.cluster) : undefined;
    const helm = spec.source.helm;
    const settings: RenderSettings = {
      ...(spec.source.type === undefined ? {} : { type: spec.source.type }),
      ...(spec.source.directory === undefined ? {} : { directory: spec.source.directory }),
      helm: {
        releaseName: helm?.releaseName ?? application.metadata.name,
        namespace: spec.destination.namespace,
        ...(helm?.valueFiles === undefined ? {} : { valueFiles: helm.valueFiles }),
        ...(helm?.values === undefined ? {} : { values: helm.values }),
        ...(helm?.parameters === undefined ? {} : { parameters: helm.parameters }),
        ...(helm?.skipCrds === undefined ? {} : { skipCrds: helm.skipCrds }),
        ...(capabilities ?? {}),
      },
    };
    const desired = await renderDesiredState(
      {
        kind: 'git',
        repoURL: spec.source.repoURL,
        revision: options.revision ?? spec.source.targetRevision,
        path: spec.source.path,
        allowInsecureHttp: spec.source.insecureHttp,
      },
      settings,
      options.progress,
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
