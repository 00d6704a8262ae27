// The real-node demo's API server keeps its SQLite store on install.yaml's claim capstan-server-data.
// Two ways that claim can keep the server from starting, said plainly instead of a timeout on /readyz:
// - the claim is already bound to a volume of another node (a kwok node, left by an earlier install in
//   the same cluster): a local volume stays on its node, so the server's pod, placed on the real node,
//   can never be scheduled. Said before the install, with what to do.
// - the claim stays Pending: the provisioner's and the scheduler's reasons (the claim's Events, the
//   pod's PodScheduled condition), said when the wait gives up.
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { DEFAULT_NAMESPACE } from '../contracts/install.ts';
import { SERVER_DATA_CLAIM, SERVER_SELECTOR } from '../contracts/install-server.ts';
import { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import { servedType } from './demo-hello.ts';

interface ClaimFacts {
  spec?: { volumeName?: string };
  status?: { phase?: string };
}
interface VolumeFacts {
  spec?: {
    nodeAffinity?: {
      required?: { nodeSelectorTerms?: { matchExpressions?: { key: string; values?: string[] }[] }[] };
    };
  };
}

/** The nodes a volume's node affinity allows (kubernetes.io/hostname In …); undefined: any node. */
export function volumeNodes(volume: KubeObject): string[] | undefined {
  const terms = (volume as VolumeFacts).spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  const names = terms.flatMap((t) =>
    (t.matchExpressions ?? [])
      .filter((e) => e.key === 'kubernetes.io/hostname')
      .flatMap((e) => e.values ?? []),
  );
  return names.length === 0 ? undefined : names;
}

/**
 * Refuses, before the install, a server claim bound to a volume that only another node than `node`
 * can use: the message names the claim, the volume, its node, and the two ways out.
 */
export async function assertServerClaimUsable(
  admin: KubeCluster,
  options: {
    readonly node: string;
    readonly kubeconfig: string;
    readonly demoName: string;
    /** The install's namespace; default capstan-system. */
    readonly namespace?: string;
  },
): Promise<void> {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const claim = (await admin.get(
    await servedType(admin, 'v1', 'PersistentVolumeClaim'),
    namespace,
    SERVER_DATA_CLAIM,
  )) as (KubeObject & ClaimFacts) | undefined;
  const volumeName = claim?.spec?.volumeName ?? '';
  if (claim === undefined || volumeName === '') return;
  const volume = await admin.get(await servedType(admin, 'v1', 'PersistentVolume'), '', volumeName);
  const nodes = volume === undefined ? undefined : volumeNodes(volume);
  if (nodes === undefined || nodes.includes(options.node)) return;
  const purge = `npm run capstan -- demo down --purge${options.demoName === 'demo' ? '' : ` --name ${options.demoName}`}`;
  throw new CapstanError(
    'DEMO_CLAIM_ON_OTHER_NODE',
    `PersistentVolumeClaim/${namespace}/${SERVER_DATA_CLAIM} (the API server's SQLite store) is bound to ` +
      `PersistentVolume/${volumeName} on node ${nodes.join(', ')}, left by an earlier install; the demo's server ` +
      `runs on ${options.node}, where that volume cannot be mounted, so its pod would never start. Delete the ` +
      `claim (its records go with it): kubectl --kubeconfig ${options.kubeconfig} -n ${namespace} ` +
      `delete deployment/capstan-server pvc/${SERVER_DATA_CLAIM}; or remove the demo and its state: ${purge}`,
  );
}

/**
 * Why the server's claim is not bound yet, if it is not: the claim's phase, its latest Events (the
 * provisioner's or the binder's reason) and its pods' PodScheduled message (the scheduler's); undefined
 * once it is bound (or when there is none: the store postgres).
 */
export async function serverClaimPending(
  admin: KubeCluster,
  namespace: string = DEFAULT_NAMESPACE,
): Promise<string | undefined> {
  const claim = (await admin.get(
    await servedType(admin, 'v1', 'PersistentVolumeClaim'),
    namespace,
    SERVER_DATA_CLAIM,
  )) as (KubeObject & ClaimFacts) | undefined;
  if (claim === undefined || claim.status?.phase === 'Bound') return undefined;
  type EventFacts = {
    involvedObject?: { kind?: string; name?: string };
    reason?: string;
    message?: string;
    lastTimestamp?: string;
    eventTime?: string;
  };
  const events = ((await admin.list(await servedType(admin, 'v1', 'Event'), namespace)) as EventFacts[])
    .filter(
      (e) =>
        e.involvedObject?.kind === 'PersistentVolumeClaim' && e.involvedObject.name === SERVER_DATA_CLAIM,
    )
    .sort((a, b) =>
      (a.lastTimestamp ?? a.eventTime ?? '').localeCompare(b.lastTimestamp ?? b.eventTime ?? ''),
    );
  const last = events.at(-1);
  type PodFacts = { status?: { conditions?: { type: string; status: string; message?: string }[] } };
  const pods = (await admin.list(await servedType(admin, 'v1', 'Pod'), namespace, {
    labelSelector: Object.entries(SERVER_SELECTOR)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  })) as PodFacts[];
  const unscheduled = pods
    .flatMap((p) => p.status?.conditions ?? [])
    .find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return [
    `PersistentVolumeClaim/${namespace}/${SERVER_DATA_CLAIM} is ${claim.status?.phase ?? 'Pending'}`,
    ...(last ? [`its last Event: ${last.reason ?? ''}: ${last.message ?? ''}`] : []),
    ...(unscheduled?.message ? [`the server's pod is not scheduled: ${unscheduled.message}`] : []),
  ].join('; ');
}
