/**
 * Whether the server can reach each destination cluster, and the Kubernetes version its API server
 * reports (GET /version): probed when asked, at most once a minute per cluster (an answer of the
 * clusters route costs no round trip then), each probe bounded in time so that one cluster that does
 * not answer never holds the page up. Never a credential: a version, a state, and the reason.
 */
import { messageOf } from '../core/errors.ts';
import { IN_CLUSTER } from '../contracts/application.ts';
import type { ClusterInfo } from '../contracts/server-api.ts';

export interface ClusterConnection {
  readonly connection: 'connected' | 'unreachable';
  /** The API server's gitVersion, e.g. v1.33.1. */
  readonly version?: string;
  /** Why it is unreachable. */
  readonly connectionError?: string;
  /** When it was probed (RFC 3339). */
  readonly checkedAt: string;
}

export interface ClusterProbesOptions {
  /** The version of the cluster so named; rejects when it cannot be reached. */
  readonly version: (cluster: string) => Promise<string>;
  readonly now?: () => number;
  /** How long an answer is kept. Default 60 s. */
  readonly maxAgeMs?: number;
  /** How long a probe may take before it counts as unreachable. Default 3 s. */
  readonly timeoutMs?: number;
}

const DEFAULT_MAX_AGE_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 3000;

export class ClusterProbes {
  readonly #options: ClusterProbesOptions;
  readonly #now: () => number;
  readonly #cached = new Map<string, { at: number; answer: Promise<ClusterConnection> }>();

  constructor(options: ClusterProbesOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The cluster's state: the cached one while fresh (a probe in flight is shared), else a new probe. */
  connection(cluster: string): Promise<ClusterConnection> {
    const now = this.#now();
    const cached = this.#cached.get(cluster);
    if (cached && now - cached.at < (this.#options.maxAgeMs ?? DEFAULT_MAX_AGE_MS)) return cached.answer;
    const answer = this.#probe(cluster, new Date(now).toISOString());
    this.#cached.set(cluster, { at: now, answer });
    return answer;
  }

  /** Forgets the clusters not in `names` (a registration removed). */
  keepOnly(names: readonly string[]): void {
    for (const name of this.#cached.keys()) if (!names.includes(name)) this.#cached.delete(name);
  }

  async #probe(cluster: string, checkedAt: string): Promise<ClusterConnection> {
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer to GET /version within ${String(timeoutMs)} ms`));
      }, timeoutMs);
    });
    try {
      const version = await Promise.race([this.#options.version(cluster), late]);
      return { connection: 'connected', version, checkedAt };
    } catch (error) {
      return { connection: 'unreachable', connectionError: messageOf(error), checkedAt };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The clusters route's source: the agent's own cluster first, then the registered ones; each usable one
 * (no `problem`) with its version and connection from `probes`, which forgets the clusters gone.
 */
export function clusterLister(
  registered: () => Promise<readonly ClusterInfo[]>,
  probes: ClusterProbes,
): () => Promise<ClusterInfo[]> {
  return async () => {
    const all: ClusterInfo[] = [{ name: IN_CLUSTER }, ...(await registered())];
    probes.keepOnly(all.map((c) => c.name));
    return Promise.all(
      all.map(async (c) => ('problem' in c ? c : { ...c, ...(await probes.connection(c.name)) })),
    );
  };
}
