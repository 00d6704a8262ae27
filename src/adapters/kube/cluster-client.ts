// Wiring for `capstan cluster`: registers destination clusters as Secrets in the agent's namespace
// (core/cluster-secret.ts) through the Kubernetes API with the user's kubeconfig, and reads the
// kubeconfig of the cluster to register, inlining the files it names. Never prints credentials.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { stringify } from 'yaml';
import { DEFAULT_INVENTORY_NAMESPACE } from './inventory-store.ts';
import { KubeCluster, kubeConfigOf, loadKubeConfig } from './kube-cluster.ts';
import { APPLICATION_API_VERSION } from '../../contracts/application.ts';
import {
  applicationsDeployingTo,
  authKind,
  CLUSTER_SECRET_SELECTOR,
  clusterRemovalRefusal,
  clusterRegistration,
  clusterSecret,
  registeredKubeconfig,
  type ClusterRegistration,
} from '../../core/cluster-secret.ts';
import { CapstanError, messageOf } from '../../core/errors.ts';
import { rememberSuccess } from '../../core/remember.ts';
import { applyActionOf, type ApplyAction } from '../../core/sync-result.ts';
import {
  kubeconfigDocument,
  parseKubeconfigText,
  flattenKubeconfig,
  type FlatKubeconfig,
} from '../../core/kubeconfig.ts';
import type { KubeObject } from '../../core/resource.ts';
import type { Cluster, ResourceType } from '../../ports/cluster.ts';
import type { ClusterInfo } from '../../contracts/server-api.ts';
import { CLI_FIELD_MANAGER } from './application-client.ts';

/** The namespace of the agent, where cluster Secrets are kept, unless told otherwise. */
export const DEFAULT_AGENT_NAMESPACE = 'capstan-system';

export interface ClusterClientOptions {
  /** The kubeconfig of the agent's cluster (where the Secrets go); default KUBECONFIG, then ~/.kube/config. */
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** The agent's namespace. Default capstan-system. */
  readonly namespace?: string | undefined;
}

/** A registered cluster as `capstan cluster list` shows it: never a credential. */
export interface ClusterSummary {
  readonly name: string;
  /** Undefined when the Secret's kubeconfig is not usable (see `error`). */
  readonly server?: string;
  /** token, client-certificate, basic (how it authenticates, not with what). */
  readonly auth?: string;
  /** The kubeconfig context's namespace, if any. */
  readonly namespace?: string;
  /** `Secret/namespace/name`. */
  readonly secret: string;
  /** Where inventories are kept in that cluster. */
  readonly inventoryNamespace: string;
  /** Why the agent cannot use it. */
  readonly error?: string;
}

export type ClusterAction = ApplyAction;

/** Reads a kubeconfig file the user gave, for one context, with the files it names read and inlined. */
export function readKubeconfigFile(path: string, context?: string): FlatKubeconfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CapstanError(
      'CLUSTER_KUBECONFIG_INVALID',
      `cannot read the kubeconfig ${path}: ${messageOf(error)}`,
      {
        subject: path,
        cause: error,
      },
    );
  }
  const base = dirname(resolve(path));
  return flattenKubeconfig(parseKubeconfigText(text, path), {
    source: path,
    context,
    // The user's own kubeconfig: the files it names are read here (relative to it, as kubectl does) and inlined.
    readFile: (file, field) => {
      try {
        return readFileSync(resolve(base, file));
      } catch (error) {
        throw new CapstanError(
          'CLUSTER_KUBECONFIG_INVALID',
          `the kubeconfig ${path}: cannot read ${file} (${field}): ${messageOf(error)}`,
          { subject: path, cause: error },
        );
      }
    },
  });
}

/** Cluster Secrets in the agent's namespace, through the Kubernetes API with the user's kubeconfig. */
export class ClusterClient {
  readonly namespace: string;
  readonly cluster: KubeCluster;

  constructor(options: ClusterClientOptions = {}) {
    this.cluster = new KubeCluster(
      loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context }),
    );
    this.namespace = options.namespace ?? DEFAULT_AGENT_NAMESPACE;
  }

  close(): void {
    this.cluster.close();
  }

  /** Writes (server-side apply) the Secret registering `name`: the kubeconfig flattened and inline. */
  async add(
    name: string,
    kubeconfig: FlatKubeconfig,
    options: { inventoryNamespace?: string | undefined } = {},
  ): Promise<{ action: ClusterAction; cluster: ClusterSummary }> {
    const type = await this.#secretType();
    const existing = (await this.#registrations()).filter((r) => r.name === name);
    const body = clusterSecret({
      name,
      namespace: this.namespace,
      kubeconfig: stringify(kubeconfigDocument(kubeconfig)),
      inventoryNamespace: options.inventoryNamespace,
    });
    const others = existing.filter(
      (r) => r.secret !== `Secret/${this.namespace}/${body.metadata.name ?? ''}`,
    );
    if (others.length > 0)
      throw new CapstanError(
        'CLUSTER_EXISTS',
        `cluster '${name}' is already registered by ${others.map((r) => r.secret).join(', ')}; ` +
          `remove it first (capstan cluster remove ${name})`,
      );
    const before = await this.cluster.get(type, this.namespace, body.metadata.name ?? '');
    const { object, created } = await this.cluster.apply(type, body, {
      fieldManager: CLI_FIELD_MANAGER,
      force: true,
    });
    const action = applyActionOf({ created, before, after: object });
    return { action, cluster: summaryOf(object) };
  }

  /** Every registered cluster, by name. */
  async list(): Promise<ClusterSummary[]> {
    const type = await this.#secretType();
    const secrets = await this.cluster.list(type, this.namespace, { labelSelector: CLUSTER_SECRET_SELECTOR });
    return secrets.map(summaryOf).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The Applications (namespace/name, in every namespace) whose destination is the cluster `name`
   * (none when Capstan's CRD is not installed: 404), or why they could not be listed (say a 403 for a
   * user without cluster-wide list on Applications, or a connection refused).
   */
  async users(name: string): Promise<{ users: string[] } | { unknown: string }> {
    const path = `/apis/${APPLICATION_API_VERSION}/applications`;
    const res = await this.cluster.client.call('GET', path).catch((error: unknown) => messageOf(error));
    if (typeof res === 'string') return { unknown: `GET ${path} failed: ${res}` };
    if (res.status === 404) return { users: [] };
    if (res.status !== 200) {
      const reason = (res.body as { message?: unknown } | undefined)?.message;
      return {
        unknown: `GET ${path} answered HTTP ${String(res.status)}${typeof reason === 'string' ? ` (${reason})` : ''}`,
      };
    }
    const items = (res.body as { items?: KubeObject[] } | undefined)?.items ?? [];
    return { users: applicationsDeployingTo(items, name) };
  }

  /**
   * Deletes the Secrets registering `name`; returns what was removed (empty: it was not registered).
   * Refuses while Applications deploy there (they would stall, and one being deleted could not prune
   * its objects), and when it cannot tell whether any do, unless `force`.
   */
  async remove(name: string, options: { force?: boolean } = {}): Promise<ClusterSummary[]> {
    const type = await this.#secretType();
    const secrets = await this.cluster.list(type, this.namespace, { labelSelector: CLUSTER_SECRET_SELECTOR });
    if (options.force !== true && secrets.some((s) => summaryOf(s).name === name)) {
      const refusal = clusterRemovalRefusal(name, await this.users(name));
      if (refusal) throw refusal;
    }
    const removed: ClusterSummary[] = [];
    for (const secret of secrets) {
      const summary = summaryOf(secret);
      if (summary.name !== name) continue;
      await this.cluster.delete(type, this.namespace, secret.metadata.name ?? '', {
        ...(secret.metadata.uid ? { uid: secret.metadata.uid } : {}),
      });
      removed.push(summary);
    }
    return removed;
  }

  /** `GET /version` on the cluster with the kubeconfig to register: its version, or why it failed. */
  async check(kubeconfig: FlatKubeconfig): Promise<{ version: string } | { error: string }> {
    const remote = new KubeCluster(kubeConfigOf(kubeconfig), { timeoutMs: 10_000 });
    try {
      const res = await remote.client.call('GET', '/version');
      if (res.status !== 200) return { error: `GET /version answered HTTP ${res.status}` };
      return { version: (res.body as { gitVersion?: string }).gitVersion ?? 'unknown' };
    } catch (error) {
      return { error: messageOf(error) };
    } finally {
      remote.close();
    }
  }

  async #registrations(): Promise<ClusterRegistration[]> {
    const type = await this.#secretType();
    const secrets = await this.cluster.list(type, this.namespace, { labelSelector: CLUSTER_SECRET_SELECTOR });
    return secrets.map(clusterRegistration).filter((r): r is ClusterRegistration => !('problem' in r));
  }

  /** The served Secret type (a failed look-up is asked again next time). */
  readonly #secretType = rememberSuccess(async (): Promise<ResourceType> => {
    const type = await this.cluster.resourceType('v1', 'Secret');
    if (type) return type;
    throw new CapstanError('KUBE_DISCOVERY', 'the cluster does not serve v1 Secret');
  });
}

/**
 * The registered clusters as the server's clusters route lists them, by name: the server and the Secret
 * of each, and why one is not usable; never a credential.
 */
export async function registeredClusters(
  cluster: Cluster,
  secrets: ResourceType,
  namespace: string,
): Promise<ClusterInfo[]> {
  const found = await cluster.list(secrets, namespace, { labelSelector: CLUSTER_SECRET_SELECTOR });
  return found
    .map(summaryOf)
    .map((c) => ({
      name: c.name,
      ...(c.server === undefined ? {} : { server: c.server }),
      secret: c.secret,
      ...(c.error === undefined ? {} : { problem: c.error }),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** What a cluster Secret registers, without its credentials. */
export function summaryOf(secret: KubeObject): ClusterSummary {
  const registration = clusterRegistration(secret);
  if ('problem' in registration)
    return {
      name: secret.metadata.name ?? '',
      secret: registration.secret,
      inventoryNamespace: '',
      error: registration.problem,
    };
  const base = {
    name: registration.name,
    secret: registration.secret,
    inventoryNamespace: registration.inventoryNamespace ?? DEFAULT_INVENTORY_NAMESPACE,
  };
  try {
    const flat = registeredKubeconfig(registration);
    return {
      ...base,
      server: flat.cluster.server,
      auth: authKind(flat),
      ...(flat.namespace === undefined ? {} : { namespace: flat.namespace }),
    };
  } catch (error) {
    return { ...base, error: messageOf(error) };
  }
}
