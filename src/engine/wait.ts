import type { Health } from '../core/health.ts';
import type { KubeObject, ResourceId } from '../core/resource.ts';
import { formatId } from '../core/resource.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { Clock } from '../ports/clock.ts';
import { mapBounded } from './concurrency.ts';

export interface Watched {
  readonly id: ResourceId;
  readonly type: ResourceType;
}

export interface WaitOutcome {
  /** True when every resource is Healthy (or Suspended). */
  readonly healthy: boolean;
  /** True when waiting ended because the time limit passed. */
  readonly timedOut: boolean;
  readonly health: ReadonlyMap<string, Health>;
  /** The resources that are not Healthy, as `Kind/ns/name: Status: message`, for messages. */
  readonly pending: readonly string[];
}

export interface WaitOptions {
  readonly cluster: Cluster;
  readonly clock: Clock;
  readonly assessHealth: (object: KubeObject | undefined) => Health;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly onUpdate?: (health: ReadonlyMap<string, Health>) => void;
}

/**
 * Waits until every resource is Healthy; ends early as soon as one is Degraded (waiting longer would not
 * help), or when the time limit passes.
 */
export async function waitForHealth(
  resources: readonly Watched[],
  options: WaitOptions,
): Promise<WaitOutcome> {
  const deadline = options.clock.now().getTime() + options.timeoutMs;
  for (;;) {
    const health = new Map<string, Health>();
    await mapBounded(resources, options.concurrency ?? 8, async (r) => {
      const live = await options.cluster.get(r.type, r.id.namespace, r.id.name);
      health.set(formatId(r.id), await withPodFailures(live, options.assessHealth(live), options));
    });
    options.onUpdate?.(health);
    const pending = [...health.entries()].filter(
      ([, h]) => h.status !== 'Healthy' && h.status !== 'Suspended',
    );
    const describe = (which: readonly (readonly [string, Health])[]) =>
      which.map(([id, h]) => `${id}: ${h.status}${h.message ? `: ${h.message}` : ''}`);
    if (pending.length === 0) return { healthy: true, timedOut: false, health, pending: [] };
    const degraded = pending.filter(([, h]) => h.status === 'Degraded');
    if (degraded.length > 0) return { healthy: false, timedOut: false, health, pending: describe(degraded) };
    if (options.clock.now().getTime() >= deadline || options.signal?.aborted === true) {
      return { healthy: false, timedOut: true, health, pending: describe(pending) };
    }
    await options.clock.sleep(options.intervalMs ?? 1000, options.signal);
  }
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);

/**
 * A workload still rolling out whose pods are failing (a crashing container, an image that cannot be
 * pulled) is Degraded now, not after its progress deadline: waiting longer would not help. The message
 * names the pod and the kubelet's reason (`pod web-5d9c-x2: container web: ImagePullBackOff: ...`).
 */
export async function withPodFailures(
  live: KubeObject | undefined,
  health: Health,
  options: Pick<WaitOptions, 'cluster' | 'assessHealth'>,
): Promise<Health> {
  if (!live || health.status !== 'Progressing' || !WORKLOADS.has(live.kind)) return health;
  const matchLabels = (live['spec'] as { selector?: { matchLabels?: Record<string, string> } } | undefined)
    ?.selector?.matchLabels;
  if (!matchLabels || Object.keys(matchLabels).length === 0) return health;
  const podType = await options.cluster.resourceType('v1', 'Pod');
  if (!podType) return health;
  const selector = Object.entries(matchLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await options.cluster.list(podType, live.metadata.namespace ?? '', {
    labelSelector: selector,
  });
  for (const pod of pods) {
    const podHealth = options.assessHealth(pod);
    if (podHealth.status === 'Degraded') {
      return { status: 'Degraded', message: `pod ${pod.metadata.name ?? ''}: ${podHealth.message}` };
    }
  }
  return health;
}
