// Wiring of the promotion driver (src/promotions/promotion-driver.ts, docs/promotions.md): Environments
// and Applications read from the cluster, the refresh annotation and the Environment's status written
// there, commits made (and ancestry asked) by the git adapter with the Secret the Environment names,
// an image policy's registry asked by the OCI adapter (with the Secret its policy names),
// records in the Store. Driven by watches of Environments, Applications and Pipelines (the latest run
// in their status) with a slow resync, by one replica at a time over the Lease capstan-promotions.
import { randomBytes } from 'node:crypto';
import { containsCommit } from '../adapters/git/ancestry.ts';
import { writeImageReference } from '../adapters/git/image-write.ts';
import { credentialsFrom } from '../adapters/git/secret-credentials.ts';
import { apiError } from '../adapters/kube/errors.ts';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { PROMOTIONS_LEASE } from '../contracts/install-server.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../contracts/pipeline.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND, REQUEST_ANNOTATIONS } from '../contracts/application.ts';
import {
  ENVIRONMENT_API_VERSION,
  ENVIRONMENT_KIND,
  ENVIRONMENT_PLURAL,
  resolveEnvironment,
  type EnvironmentStatus,
  type ResolvedEnvironment,
} from '../contracts/environment.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import type { ApplicationObservation, VerificationResult } from '../core/promotion.ts';
import { policyImages } from '../adapters/registry/policy-images.ts';
import type { ImagePolicyStatus } from '../promotions/image-policy-source.ts';
import {
  environmentStatusOf,
  PromotionDriver,
  type PromotionDeps,
  type PromotionMetrics,
} from '../promotions/promotion-driver.ts';
import { PromotionQueue } from '../promotions/promotion-queue.ts';
import type { EnvironmentDirectory } from '../api/server/context.ts';
import type { KubeObject } from '../core/resource.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { Logger } from '../ports/logger.ts';
import type { PromotionStore, Store } from '../ports/store.ts';
import type { WatchEvent, WatchHandler } from '../ports/watch.ts';
import { whileLeading, type LeaseElection } from './lease-driver.ts';

export interface PromotionDriverOptions {
  readonly cluster: KubeCluster;
  readonly store: Pick<Store, 'promotions' | 'runs'>;
  /** Only the Environments of this namespace. Default: every namespace. */
  readonly namespace?: string;
  /** Accept http:// configuration repositories (loopback; the dev cluster's git server). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Who commits. Default `Capstan <capstan@capstan.invalid>`. */
  readonly author?: { readonly name: string; readonly email: string };
  /** How often every Environment is looked at without an event (the safety net), in ms. Default 60 s. */
  readonly resyncMs?: number;
  /** One driver at a time over the Lease capstan-promotions in this namespace; false: this process drives alone. */
  readonly leaderElection?: LeaseElection;
  /** Told of each promotion step and image policy look (the server's /metrics). */
  readonly metrics?: PromotionMetrics;
  /** Told when this process starts (true) and stops (false) driving. */
  readonly onDriving?: (driving: boolean) => void;
  readonly log?: Logger;
}

export const DEFAULT_PROMOTION_RESYNC_MS = 60_000;

async function servedType(cluster: KubeCluster, apiVersion: string, kind: string): Promise<ResourceType> {
  const type = await cluster.resourceType(apiVersion, kind);
  if (type === undefined)
    throw new CapstanError(
      'KUBE_TYPE_MISSING',
      `the cluster does not serve ${apiVersion} ${kind}: install Capstan's CRDs (deploy/install.yaml)`,
    );
  return type;
}

/** The cluster's Environments for the server API; those the contract refuses are left out; none without the CRD. */
export function kubeEnvironments(
  cluster: Cluster,
  promotionChanged?: (namespace: string, name: string) => Promise<void>,
): EnvironmentDirectory {
  const resolved = (object: KubeObject | undefined) => {
    const env = object === undefined ? undefined : resolveEnvironment(object);
    return env?.ok === true ? env.value : undefined;
  };
  // A cluster without the Environment CRD (Capstan's CRDs installed before it, or only some of them)
  // has no Environments, as one without the Pipeline CRD has no Pipelines: not a server failure.
  const served = () => cluster.resourceType(ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND);
  return {
    list: async () => {
      const type = await served();
      if (type === undefined) return [];
      return (await cluster.list(type, '')).flatMap((object) => resolved(object) ?? []);
    },
    get: async (namespace, name) => {
      const type = await served();
      return type === undefined ? undefined : resolved(await cluster.get(type, namespace, name));
    },
    ...(promotionChanged === undefined ? {} : { promotionChanged }),
  };
}

/** The driver's edges on this cluster and Store. */
export async function promotionDeps(options: PromotionDriverOptions): Promise<PromotionDeps> {
  const { cluster } = options;
  const environments = await servedType(cluster, ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND);
  const applications = await servedType(cluster, APPLICATION_API_VERSION, APPLICATION_KIND);
  const author = options.author ?? { name: 'Capstan', email: 'capstan@capstan.invalid' };
  const patch = async (path: string, body: unknown, subject: string, verb: string) => {
    const res = await cluster.client.call('PATCH', path, {
      body,
      contentType: 'application/merge-patch+json',
      subject,
    });
    if (res.status !== 200) throw apiError(res.status, res.body, subject, verb);
  };
  return {
    promotions: options.store.promotions,
    runs: options.store.runs,
    environments: async () =>
      (await cluster.list(environments, options.namespace ?? '')).map((object) => {
        const resolved = resolveEnvironment(object);
        const id = `${ENVIRONMENT_KIND}/${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;
        return resolved.ok ? resolved.value : { invalid: `${id}: ${resolved.errors.join('; ')}` };
      }),
    application: async (namespace, name) => observe(await cluster.get(applications, namespace, name)),
    refresh: (namespace, name) =>
      patch(
        `/apis/${APPLICATION_API_VERSION}/namespaces/${namespace}/applications/${name}`,
        { metadata: { annotations: { [REQUEST_ANNOTATIONS.refresh]: String(Date.now()) } } },
        `${APPLICATION_KIND}/${namespace}/${name}`,
        'request a refresh',
      ),
    commit: async (env: ResolvedEnvironment, reference, message) => {
      const credentials =
        env.credentialsSecret === undefined
          ? undefined
          : await credentialsFrom(cluster, env.namespace, env.credentialsSecret);
      if (env.insecureHttp && options.allowInsecureHttp !== true)
        throw new CapstanError(
          'PROMOTION_PUSH_FAILED',
          `${ENVIRONMENT_KIND}/${env.namespace}/${env.name} asks for an http:// repository, which this server does not allow`,
        );
      return writeImageReference({
        repoURL: env.repoURL,
        branch: env.branch,
        file: env.file,
        location: env.location,
        reference,
        message,
        author,
        allowInsecureHttp: env.insecureHttp,
        ...(credentials === undefined ? {} : { credentials }),
      });
    },
    writeStatus: (namespace: string, name: string, status: EnvironmentStatus) =>
      patchStatus(cluster, namespace, name, statusPatch(status)),
    images: policyImages(cluster),
    writePolicyStatus: (namespace: string, name: string, status: ImagePolicyStatus) =>
      patchStatus(cluster, namespace, name, policyStatusPatch(status)),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    verify: verifyByGet,
    contains: async (env, commit, revision) =>
      containsCommit({
        repoURL: env.repoURL,
        branch: env.branch,
        ancestor: commit,
        descendant: revision,
        allowInsecureHttp: env.insecureHttp && options.allowInsecureHttp === true,
        ...(env.credentialsSecret === undefined
          ? {}
          : { credentials: await credentialsFrom(cluster, env.namespace, env.credentialsSecret) }),
      }),
    now: () => new Date(),
    newId: () => `promo-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`,
    ...(options.log === undefined ? {} : { log: options.log }),
  };
}

/** The check after health: one GET, 10 s at most, redirects not followed, the body not read. */
async function verifyByGet(url: string): Promise<VerificationResult> {
  try {
    const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
    return { url, status: response.status };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return { url, error: `${messageOf(error)}${cause}` };
  }
}

/** What the gates read of an Application. */
function observe(app: KubeObject | undefined): ApplicationObservation | undefined {
  if (app === undefined) return undefined;
  const status = (app['status'] ?? {}) as {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
  };
  return {
    ...(status.sync?.revision === undefined ? {} : { revision: status.sync.revision }),
    ...(status.sync?.status === undefined ? {} : { sync: status.sync.status }),
    ...(status.health?.status === undefined ? {} : { health: status.health.status }),
    ...(status.health?.message === undefined ? {} : { healthMessage: status.health.message }),
  };
}

/** A merge patch of the status that also removes what it no longer has (a reason of an older promotion). */
function statusPatch(status: EnvironmentStatus): unknown {
  const last = status.lastPromotion;
  return {
    status: {
      currentImage: status.currentImage ?? null,
      lastPromotion:
        last === undefined ? null : { ...last, commit: last.commit ?? null, reason: last.reason ?? null },
    },
  };
}

/** A merge patch of an Environment's status. */
async function patchStatus(
  cluster: KubeCluster,
  namespace: string,
  name: string,
  body: unknown,
): Promise<void> {
  const subject = `${ENVIRONMENT_KIND}/${namespace}/${name}`;
  const res = await cluster.client.call(
    'PATCH',
    `/apis/${ENVIRONMENT_API_VERSION}/namespaces/${namespace}/${ENVIRONMENT_PLURAL}/${name}/status`,
    { body, contentType: 'application/merge-patch+json', subject },
  );
  if (res.status !== 200) throw apiError(res.status, res.body, subject, 'update status');
}

/** A merge patch of status.imagePolicy alone: what it no longer has (an error once a tag is chosen) removed. */
function policyStatusPatch(status: ImagePolicyStatus): unknown {
  const keys = ['tag', 'image', 'chosenAt', 'error', 'errorAt'] as const;
  return { status: { imagePolicy: Object.fromEntries(keys.map((key) => [key, status[key] ?? null])) } };
}

/**
 * Writes the Environment's status from the Store (the API server calls it after a promotion by hand,
 * an approval or a rejection): the replica that drives promotions hears of it through its watch of
 * Environments, and every replica's event stream through its own.
 */
export function environmentStatusWriter(
  cluster: KubeCluster,
  promotions: PromotionStore,
): (namespace: string, name: string) => Promise<void> {
  return async (namespace, name) => {
    const status = await environmentStatusOf(promotions, { namespace, name });
    if (status !== undefined) await patchStatus(cluster, namespace, name, statusPatch(status));
  };
}

/** Runs the driver until `signal` aborts (while this replica leads, with leader election). */
export async function runPromotionDriver(
  options: PromotionDriverOptions,
  signal: AbortSignal,
): Promise<void> {
  await whileLeading(
    {
      config: options.cluster.config,
      lease: PROMOTIONS_LEASE,
      election: options.leaderElection,
      log: options.log,
    },
    (leading) => drive(options, leading),
    signal,
  );
}

const keyOf = (object: KubeObject) => `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;

/** The Environments as the watch says (resolved), each change waking it and those that follow it. */
function environmentsWatched(
  environments: Map<string, ResolvedEnvironment>,
  queue: PromotionQueue,
  log: Logger | undefined,
) {
  /** The environments of `namespace` that `matches`. */
  const wakeWhere = (namespace: string, matches: (env: ResolvedEnvironment) => boolean) => {
    for (const [key, env] of environments) if (env.namespace === namespace && matches(env)) queue.wake(key);
  };
  const wakeAll = () => {
    for (const key of environments.keys()) queue.wake(key);
  };
  const handle = (event: WatchEvent) => {
    if (event.type === 'SYNCED') {
      wakeAll();
      return;
    }
    const key = keyOf(event.object);
    const resolved = resolveEnvironment(event.object);
    if (event.type === 'DELETED' || !resolved.ok) {
      environments.delete(key);
      if (!resolved.ok)
        log?.({
          level: 'warn',
          msg: 'environment refused',
          error: `${ENVIRONMENT_KIND}/${key}: ${resolved.errors.join('; ')}`,
        });
      return;
    }
    environments.set(key, resolved.value);
    queue.wake(key);
    // The environments that follow it: what it verified may be theirs to promote now.
    wakeWhere(resolved.value.namespace, (env) => env.fromEnvironment === resolved.value.name);
  };
  /** A handler of another kind's watch: wakes the environments whose `field` names the object. */
  const wakeNaming =
    (field: (env: ResolvedEnvironment) => string | undefined) =>
    (event: WatchEvent): void => {
      if (event.type !== 'SYNCED')
        wakeWhere(event.object.metadata.namespace ?? '', (env) => field(env) === event.object.metadata.name);
    };
  return { handle, wakeAll, wakeNaming };
}

/**
 * While `signal` holds: watches of Environments (kept, resolved), Applications and Pipelines (whose
 * status names the latest run: a Succeeded one may be promoted now) wake the environments they
 * concern; every environment is woken at the resync too.
 */
async function drive(options: PromotionDriverOptions, signal: AbortSignal): Promise<void> {
  const { cluster, log } = options;
  const environments = new Map<string, ResolvedEnvironment>();
  // The end of a look at a registry (in the background) wakes its environment.
  const wake = (namespace: string, name: string) => {
    queue.wake(`${namespace}/${name}`);
  };
  const driver = new PromotionDriver({ ...(await promotionDeps(options)), wake });
  const queue: PromotionQueue = new PromotionQueue({
    reconcile: (env) => driver.reconcile(env),
    environment: (key) => environments.get(key),
    ...(log === undefined ? {} : { log }),
  });
  const env = environmentsWatched(environments, queue, log);
  const watchClient = new RestClient(cluster.config);
  const watcher = new KubeWatcher(watchClient);
  const namespace = options.namespace ?? '';
  const pipelines = await cluster.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND);
  const kinds: [ResourceType | undefined, WatchHandler, string][] = [
    [await servedType(cluster, ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND), env.handle, 'Environments'],
    [
      await servedType(cluster, APPLICATION_API_VERSION, APPLICATION_KIND),
      env.wakeNaming((e) => e.application),
      'Applications',
    ],
    [pipelines, env.wakeNaming((e) => e.fromPipeline?.name), 'Pipelines'],
  ];
  const watches = kinds.flatMap(([type, handler, what]) =>
    type === undefined
      ? []
      : [
          watcher.watch(type, namespace, handler, {
            signal,
            onError: (error) =>
              log?.({ level: 'warn', msg: `promotions: ${what} watch`, error: error.message }),
          }),
        ],
  );
  const resync = setInterval(env.wakeAll, options.resyncMs ?? DEFAULT_PROMOTION_RESYNC_MS);
  options.onDriving?.(true);
  log?.({ level: 'info', msg: 'promotions driven here' });
  try {
    await Promise.all(watches);
  } finally {
    clearInterval(resync);
    await queue.stop();
    watchClient.close();
    options.onDriving?.(false);
  }
}
