// Wiring of the promotion driver (src/promotions/promotion-driver.ts, docs/promotions.md): Environments
// and Applications read from the cluster, the refresh annotation and the Environment's status written
// there, commits made by the git adapter with the Secret the Environment names, records in the Store.
import { randomBytes } from 'node:crypto';
import { writeImageReference } from '../adapters/git/image-write.ts';
import { credentialsFrom } from '../adapters/git/secret-credentials.ts';
import { apiError } from '../adapters/kube/errors.ts';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
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
import type { ApplicationObservation } from '../core/promotion.ts';
import { PromotionDriver, type PromotionDeps } from '../promotions/promotion-driver.ts';
import type { EnvironmentDirectory } from '../api/server/context.ts';
import type { KubeObject } from '../core/resource.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { Logger } from '../ports/logger.ts';
import type { Store } from '../ports/store.ts';

export interface PromotionDriverOptions {
  readonly cluster: KubeCluster;
  readonly store: Pick<Store, 'promotions' | 'runs'>;
  /** Only the Environments of this namespace. Default: every namespace. */
  readonly namespace?: string;
  /** Accept http:// configuration repositories (loopback; the dev cluster's git server). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Who commits. Default `Capstan <capstan@capstan.invalid>`. */
  readonly author?: { readonly name: string; readonly email: string };
  /** How often every Environment is looked at, in ms. Default 5 s. */
  readonly tickMs?: number;
  readonly log?: Logger;
}

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
export function kubeEnvironments(cluster: Cluster): EnvironmentDirectory {
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
      patch(
        `/apis/${ENVIRONMENT_API_VERSION}/namespaces/${namespace}/${ENVIRONMENT_PLURAL}/${name}/status`,
        { status },
        `${ENVIRONMENT_KIND}/${namespace}/${name}`,
        'update status',
      ),
    now: () => new Date(),
    newId: () => `promo-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`,
    ...(options.log === undefined ? {} : { log: options.log }),
  };
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

/** Runs the driver until `signal` aborts: one pass every tickMs, never two at once. */
export async function runPromotionDriver(
  options: PromotionDriverOptions,
  signal: AbortSignal,
): Promise<void> {
  const driver = new PromotionDriver(await promotionDeps(options));
  while (!signal.aborted) {
    await driver.tick().catch((error: unknown) => {
      options.log?.({ level: 'error', msg: 'promotion pass failed', error: messageOf(error) });
    });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.tickMs ?? 5_000);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}
