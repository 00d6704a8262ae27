// The agent's destination clusters: `in-cluster`, and the clusters registered as Secrets in its
// namespace (core/cluster-secret.ts). Each is built once (by the wiring's `build`: Kubernetes clients,
// inventory store, watcher) and rebuilt when its Secret changes; credentials never leave the Secret's
// kubeconfig.
import {
  CLUSTER_SECRET_SELECTOR,
  clusterRegistration,
  IN_CLUSTER_NAME,
  registeredKubeconfig,
  type ClusterRegistration,
} from '../core/cluster-secret.ts';
import { CapstanError } from '../core/errors.ts';
import type { FlatKubeconfig } from '../core/kubeconfig.ts';
import type { Cluster } from '../ports/cluster.ts';
import type { Logger } from '../ports/logger.ts';
import type { Destination } from './reconciler.ts';

/** A destination with the clients to close when it is replaced or the agent stops. */
export interface BuiltDestination {
  readonly destination: Destination;
  readonly close: () => void;
}

export interface ClusterRegistryOptions {
  /** The agent's own cluster, where the cluster Secrets are read. */
  readonly cluster: Cluster;
  /** The agent's namespace: the cluster Secrets are there. */
  readonly namespace: string;
  /** The destination `in-cluster`. */
  readonly inCluster: Destination;
  /** The Secrets are read again at most this often. Default 10 s. */
  readonly refreshMs?: number;
  /** A name not found is looked up again at once when the last read is older than this. Default 1 s. */
  readonly unknownRefreshMs?: number;
  /** A replaced destination's clients stay open this long for the reconciles still using them. Default 60 s. */
  readonly closeGraceMs?: number;
  /** Builds a registered cluster's destination (src/main/clusters.ts: Kubernetes clients from the kubeconfig). */
  readonly build: (
    name: string,
    kubeconfig: FlatKubeconfig,
    registration: ClusterRegistration,
  ) => BuiltDestination;
  /** Told when a registered cluster's destination was replaced or removed (watches on it should restart). */
  readonly onReplaced?: (name: string) => void;
  readonly now?: () => number;
  readonly log?: Logger;
}

interface Snapshot {
  readonly at: number;
  readonly registrations: Promise<Map<string, ClusterRegistration[]>>;
}

interface Cached {
  /** uid and resourceVersion of the Secret it was built from. */
  readonly version: string;
  readonly built: BuiltDestination | undefined;
  /** The Secret's problem (a malformed kubeconfig), kept until the Secret changes. */
  readonly error: CapstanError | undefined;
}

/**
 * Resolves destination names to clusters. The cluster Secrets are listed at most every `refreshMs`
 * (a name not found, at most every `unknownRefreshMs`), so a new or changed Secret takes effect within
 * seconds; a destination is rebuilt when its Secret's resourceVersion changes.
 */
export class ClusterRegistry {
  readonly #options: ClusterRegistryOptions;
  readonly #now: () => number;
  readonly #cached = new Map<string, Cached>();
  readonly #retiring = new Set<{ timer: NodeJS.Timeout; close: () => void }>();
  #snapshot: Snapshot | undefined;
  #closed = false;

  constructor(options: ClusterRegistryOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The destination registered under `name`; DESTINATION_UNKNOWN (not retryable) when there is none. */
  async resolve(name: string): Promise<Destination> {
    if (name === IN_CLUSTER_NAME) return this.#options.inCluster;
    if (this.#closed)
      throw new CapstanError('DESTINATION_CLOSED', 'the agent is stopping', { retryable: true });
    let found = (await this.#registrations(this.#options.refreshMs ?? 10_000)).get(name);
    if (!found) found = (await this.#registrations(this.#options.unknownRefreshMs ?? 1_000)).get(name);
    if (!found) {
      this.#drop(name);
      throw this.#unknown(name);
    }
    const [registration, ...others] = found;
    if (!registration) throw this.#unknown(name);
    if (others.length > 0)
      throw new CapstanError(
        'CLUSTER_SECRET_DUPLICATE',
        `cluster '${name}' is registered by several Secrets (${found.map((r) => r.secret).join(', ')}); ` +
          `delete all but one`,
        { subject: registration.secret },
      );
    const version = `${registration.uid}/${registration.resourceVersion}`;
    const cached = this.#cached.get(name);
    if (cached?.version === version) {
      if (cached.built) return cached.built.destination;
      if (cached.error) throw cached.error;
    }
    return this.#rebuild(name, registration, version);
  }

  /** Closes every client (at once, also those of replaced destinations). */
  close(): void {
    this.#closed = true;
    for (const cached of this.#cached.values()) cached.built?.close();
    this.#cached.clear();
    for (const retiring of this.#retiring) {
      clearTimeout(retiring.timer);
      retiring.close();
    }
    this.#retiring.clear();
  }

  #rebuild(name: string, registration: ClusterRegistration, version: string): Destination {
    const previous = this.#cached.get(name);
    let built: BuiltDestination | undefined;
    let error: CapstanError | undefined;
    try {
      const kubeconfig = registeredKubeconfig(registration);
      built = this.#options.build(name, kubeconfig, registration);
      this.#options.log?.({
        level: 'info',
        msg: previous ? 'destination cluster updated' : 'destination cluster registered',
        cluster: name,
        server: kubeconfig.cluster.server,
        secret: registration.secret,
        resourceVersion: registration.resourceVersion,
      });
    } catch (thrown) {
      error =
        thrown instanceof CapstanError
          ? thrown
          : new CapstanError(
              'CLUSTER_KUBECONFIG_INVALID',
              `the kubeconfig of ${registration.secret} is not usable: ${(thrown as Error).name}`,
              { subject: registration.secret },
            );
      this.#options.log?.({
        level: 'warn',
        msg: 'destination cluster not usable',
        cluster: name,
        secret: registration.secret,
        code: error.code,
        error: error.message,
      });
    }
    this.#cached.set(name, { version, built, error });
    if (previous?.built) this.#retire(name, previous.built);
    if (built) return built.destination;
    throw error ?? this.#unknown(name);
  }

  /** The registrations by name, from a list no older than `maxAgeMs`. */
  async #registrations(maxAgeMs: number): Promise<Map<string, ClusterRegistration[]>> {
    const snapshot = this.#snapshot;
    if (snapshot && this.#now() - snapshot.at < maxAgeMs) return snapshot.registrations;
    const fresh: Snapshot = { at: this.#now(), registrations: this.#list() };
    this.#snapshot = fresh;
    // A failed list is not kept: the next call lists again.
    fresh.registrations.catch(() => {
      if (this.#snapshot === fresh) this.#snapshot = undefined;
    });
    return fresh.registrations;
  }

  async #list(): Promise<Map<string, ClusterRegistration[]>> {
    const { cluster, namespace } = this.#options;
    const type = await cluster.resourceType('v1', 'Secret');
    if (!type) throw new CapstanError('KUBE_DISCOVERY', 'the cluster does not serve v1 Secret');
    const secrets = await cluster.list(type, namespace, { labelSelector: CLUSTER_SECRET_SELECTOR });
    const byName = new Map<string, ClusterRegistration[]>();
    for (const secret of secrets) {
      const registration = clusterRegistration(secret);
      if ('problem' in registration) {
        this.#options.log?.({ level: 'warn', msg: 'cluster Secret ignored', error: registration.problem });
        continue;
      }
      byName.set(registration.name, [...(byName.get(registration.name) ?? []), registration]);
    }
    return byName;
  }

  #unknown(name: string): CapstanError {
    const { namespace } = this.#options;
    return new CapstanError(
      'DESTINATION_UNKNOWN',
      `destination cluster '${name}' is not registered: no Secret labelled ${CLUSTER_SECRET_SELECTOR} in ` +
        `namespace ${namespace} has the name '${name}'; register it with ` +
        `'capstan cluster add ${name} --kubeconfig FILE --namespace ${namespace}', or use '${IN_CLUSTER_NAME}'`,
    );
  }

  /** Forgets a destination whose Secret is gone. */
  #drop(name: string): void {
    const cached = this.#cached.get(name);
    if (!cached) return;
    this.#cached.delete(name);
    if (cached.built) this.#retire(name, cached.built);
  }

  /** Closes a replaced destination's clients after a grace period (reconciles in flight finish with them). */
  #retire(name: string, built: BuiltDestination): void {
    this.#options.onReplaced?.(name);
    const retiring = {
      close: built.close,
      timer: setTimeout(() => {
        this.#retiring.delete(retiring);
        built.close();
      }, this.#options.closeGraceMs ?? 60_000),
    };
    retiring.timer.unref();
    this.#retiring.add(retiring);
  }
}
