import { CapstanError } from '../core/errors.ts';
import { REAL_NODE } from './node-config.ts';
import type { AdminClient } from './rest.ts';

/**
 * Where one pod of the real node listens, as `kubectl port-forward pod/NAME PORT` reaches it: the pod's
 * own address and port inside the node's network namespace (no Service between, so this replica and
 * no other answers). `port` is a number or the name of a container port.
 */
export interface PodPort {
  readonly namespace: string;
  readonly pod: string;
  readonly port: string;
}

interface PodFacts {
  spec?: { nodeName?: string; containers?: { ports?: { name?: string; containerPort: number }[] }[] };
  status?: { phase?: string; podIP?: string };
}

/** The pod's `address:port` inside the node namespace; an error naming the pod when it has none. */
export async function podTarget(api: AdminClient, options: PodPort): Promise<string> {
  const subject = `Pod/${options.namespace}/${options.pod}`;
  const res = await api.call(
    'GET',
    `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods/${encodeURIComponent(options.pod)}`,
  );
  if (res.status === 404) throw new CapstanError('NOT_FOUND', `${subject} does not exist`, { subject });
  if (res.status !== 200)
    throw new CapstanError('DEVCLUSTER_STATE', `GET ${subject}: HTTP ${String(res.status)}`, { subject });
  const pod = res.body as PodFacts;
  if (pod.spec?.nodeName !== REAL_NODE.name)
    throw new CapstanError(
      'DEVCLUSTER_NO_REAL_NODE',
      `${subject} runs on ${pod.spec?.nodeName ?? 'no node yet'}, not on the real node ${REAL_NODE.name}: only its pods have processes to reach`,
      { subject },
    );
  const ip = pod.status?.podIP;
  if (pod.status?.phase !== 'Running' || ip === undefined || ip === '')
    throw new CapstanError(
      'DEVCLUSTER_STATE',
      `${subject} is ${pod.status?.phase ?? 'not started'}${ip ? '' : ' and has no address yet'}; try again once it runs`,
      { subject, retryable: true },
    );
  return `${ip}:${String(containerPort(pod, options.port, subject))}`;
}

function containerPort(pod: PodFacts, port: string, subject: string): number {
  if (/^\d+$/.test(port)) {
    const n = Number(port);
    if (n >= 1 && n <= 65535) return n;
  }
  const named = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === port);
  if (named) return named.containerPort;
  throw new CapstanError(
    'BAD_REQUEST',
    `${subject} has no container port named '${port}' (give a number from 1 to 65535 or a port's name)`,
    { subject },
  );
}

/** The forwarder's name for a pod's port (one per pod and port; a replaced pod has a new name). */
export function podForwarderName(options: PodPort): string {
  return `pod-${options.namespace}-${options.pod}-${options.port}`;
}
