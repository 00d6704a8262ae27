// The real-node demo's URLs on the machine. The API server and the agent run as install.yaml's pods on
// the real node; their Services (the server's, the agent's metrics and webhooks, and the demo's for the
// agent's health port) are reached from the machine's loopback through forwarders that the cluster
// records: each listens on 127.0.0.1:<free port> and connects to the Service's ClusterIP inside the
// node's network namespace, where kube-proxy leads it on to a pod. Nothing is routed; `demo down` stops
// them (with the cluster, or alone when the cluster stays).
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { AGENT_NAME, DEFAULT_NAMESPACE, METRICS_PORT, HEALTH_PORT } from '../contracts/install.ts';
import { SERVER_NAME, SERVER_PORT } from '../contracts/install-server.ts';
import { CapstanError } from '../core/errors.ts';
import type { LocalCluster } from '../devcluster/cluster.ts';
import { AGENT_HEALTH_SERVICE } from './demo-agent-pod.ts';
import { serverClaimPending } from './demo-claim.ts';
import { servedType } from './demo-hello.ts';
import { until } from './demo-state.ts';

/** The Services the demo exposes, each through a forwarder named `demo-<service>`. */
const EXPOSED = {
  server: { service: SERVER_NAME, port: SERVER_PORT },
  health: { service: AGENT_HEALTH_SERVICE, port: HEALTH_PORT },
  metrics: { service: `${AGENT_NAME}-metrics`, port: METRICS_PORT },
  webhooks: { service: `${AGENT_NAME}-webhooks`, port: 80 },
} as const;

const forwarderName = (service: string) => `demo-${service}`;

/** Where the in-cluster parts answer on the machine's loopback. */
export interface InClusterUrls {
  /** The API server and web UI (its Service). */
  readonly serverUrl: string;
  /** The agent's health port (/healthz, /readyz), a replica chosen by the Service. */
  readonly agentUrl: string;
  readonly metricsUrl: string;
  /** The generic webhook receiver (POST). */
  readonly webhookUrl: string;
}

/**
 * Exposes the API server's and the agent's Services on the machine's loopback and waits until each URL
 * answers (the server's /readyz, the agent's /healthz and /metrics): a URL printed must work.
 */
export async function exposeInClusterParts(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: { readonly logs: string; readonly say: (line: string) => void },
): Promise<InClusterUrls> {
  const serviceType = await servedType(admin, 'v1', 'Service');
  const expose = async ({ service, port }: { service: string; port: number }) => {
    const object = await admin.get(serviceType, DEFAULT_NAMESPACE, service);
    const clusterIP = ((object?.['spec'] ?? {}) as { clusterIP?: string }).clusterIP;
    if (clusterIP === undefined || clusterIP === '' || clusterIP === 'None')
      throw new CapstanError(
        'DEMO_NO_SERVICE_ADDRESS',
        `Service/${DEFAULT_NAMESPACE}/${service} has no ClusterIP to expose on the machine`,
      );
    const address = await cluster.exposeToMachine({
      name: forwarderName(service),
      target: `${clusterIP}:${String(port)}`,
    });
    return `http://${address}`;
  };
  const [server, health, metrics, webhooks] = await Promise.all(
    [EXPOSED.server, EXPOSED.health, EXPOSED.metrics, EXPOSED.webhooks].map(expose),
  );
  const urls: InClusterUrls = {
    serverUrl: server ?? '',
    agentUrl: health ?? '',
    metricsUrl: `${metrics ?? ''}/metrics`,
    webhookUrl: `${webhooks ?? ''}/api/v1/webhooks/generic`,
  };
  for (const [what, url] of [
    ['the API server answering /readyz', `${urls.serverUrl}/readyz`],
    ['the agent answering /healthz', `${urls.agentUrl}/healthz`],
    ['the agent answering /metrics', urls.metricsUrl],
  ] as const) {
    await until(`${what} at ${url}`, { timeoutMs: 120_000, logs: options.logs }, async () =>
      (await fetch(url, { signal: AbortSignal.timeout(5000) })).ok ? true : undefined,
    ).catch(async (error: unknown) => {
      // A server whose claim never bound: the claim and why, rather than the timeout alone.
      const pending = url === `${urls.serverUrl}/readyz` ? await serverClaimPending(admin) : undefined;
      if (pending === undefined) throw error;
      throw new CapstanError('DEMO_SERVER_CLAIM_PENDING', `the API server cannot start: ${pending}`);
    });
  }
  options.say(`the API server's and the agent's Services answer on the machine (${urls.serverUrl})`);
  return urls;
}

/** Stops the forwarders of exposeInClusterParts (the cluster stays); the names of those that ran. */
export async function stopInClusterForwarders(cluster: LocalCluster): Promise<string[]> {
  const stopped: string[] = [];
  for (const { service } of Object.values(EXPOSED))
    if (await cluster.stopForwarder(forwarderName(service))) stopped.push(`forwarder ${service}`);
  return stopped;
}
