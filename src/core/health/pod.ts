/**
 * Health of a Pod, from its phase, its Ready condition and the state of its containers. Stuck
 * containers (crash loops, images that cannot be pulled, bad configuration) are Degraded whatever
 * the phase; a pod meant to run to completion (restartPolicy Never or OnFailure) is Progressing
 * while it runs and Healthy once it has succeeded.
 */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import {
  asList,
  asRecord,
  conditionsOf,
  degraded,
  describe,
  findCondition,
  get,
  healthy,
  isFalse,
  isTrue,
  num,
  plural,
  progressing,
  str,
  unknown,
} from './fields.ts';

interface ContainerState {
  readonly name: string;
  readonly ready: boolean;
  readonly restarts: number;
  readonly waiting?: Reason;
  readonly terminated?: Exit;
  readonly lastTerminated?: Exit;
}

interface Reason {
  readonly reason: string;
  readonly message: string;
}

interface Exit extends Reason {
  readonly exitCode: number;
}

function reasonAt(value: unknown): Reason | undefined {
  if (asRecord(value) === undefined) return undefined;
  return { reason: str(value, 'reason') ?? '', message: str(value, 'message') ?? '' };
}

function exitAt(value: unknown): Exit | undefined {
  const reason = reasonAt(value);
  return reason && { ...reason, exitCode: num(value, 'exitCode') ?? 0 };
}

function containerStates(list: unknown): ContainerState[] {
  return asList(list).map((item) => {
    const waiting = reasonAt(get(item, 'state', 'waiting'));
    const terminated = exitAt(get(item, 'state', 'terminated'));
    const lastTerminated = exitAt(get(item, 'lastState', 'terminated'));
    return {
      name: str(item, 'name') ?? '',
      ready: get(item, 'ready') === true,
      restarts: num(item, 'restartCount') ?? 0,
      ...(waiting && { waiting }),
      ...(terminated && { terminated }),
      ...(lastTerminated && { lastTerminated }),
    };
  });
}

/**
 * Waiting reasons that do not clear by themselves: CrashLoopBackOff, ImagePullBackOff, ErrImagePull,
 * ErrImageNeverPull, InvalidImageName, CreateContainerConfigError, CreateContainerError,
 * RunContainerError... (whereas ContainerCreating and PodInitializing are normal steps).
 */
function isStuck(waiting: Reason): boolean {
  const { reason } = waiting;
  return (
    reason.startsWith('Err') ||
    reason.endsWith('Error') ||
    reason.endsWith('BackOff') ||
    reason === 'InvalidImageName'
  );
}

/** `exit code 1 (Error)`, `exit code 137 (OOMKilled)`. */
function exitText(exit: Exit): string {
  return exit.reason ? `exit code ${exit.exitCode} (${exit.reason})` : `exit code ${exit.exitCode}`;
}

function stuckMessage(container: ContainerState, waiting: Reason): string {
  const last = container.lastTerminated;
  if (waiting.reason === 'CrashLoopBackOff' && last) {
    return `container "${container.name}" is in CrashLoopBackOff: last ${exitText(last)}, ${plural(container.restarts, 'restart')}`;
  }
  const detail = waiting.message ? `: ${waiting.message}` : '';
  return `container "${container.name}": ${waiting.reason}${detail}`;
}

function failedExit(container: ContainerState, exit: Exit | undefined): string | undefined {
  if (exit === undefined || (exit.exitCode === 0 && exit.reason !== 'OOMKilled')) return undefined;
  const detail = exit.message ? `: ${exit.message}` : '';
  return `container "${container.name}" failed with ${exitText(exit)}${detail}`;
}

function failedPod(status: unknown, containers: readonly ContainerState[]): Health {
  // The kubelet's own words first (Evicted, DeadlineExceeded, node shutdown...).
  const reason = str(status, 'reason') ?? '';
  const message = str(status, 'message') ?? '';
  if (reason || message) return degraded(reason && message ? `${reason}: ${message}` : reason || message);
  for (const container of containers) {
    const text = failedExit(container, container.terminated);
    if (text) return degraded(text);
  }
  return degraded('pod failed');
}

function pendingPod(object: KubeObject, containers: readonly ContainerState[]): Health {
  const scheduled = findCondition(conditionsOf(object), 'PodScheduled');
  if (isFalse(scheduled)) return progressing(`not scheduled: ${describe(scheduled) || 'waiting for a node'}`);
  const waiting = containers.find((container) => container.waiting?.reason);
  if (waiting?.waiting) return progressing(`container "${waiting.name}": ${waiting.waiting.reason}`);
  return progressing('pending');
}

function runningPod(object: KubeObject, appContainers: readonly ContainerState[]): Health {
  const restartPolicy = str(object, 'spec', 'restartPolicy') ?? 'Always';
  const readyCount = appContainers.filter((container) => container.ready).length;
  const readyText = `${readyCount}/${appContainers.length} containers ready`;

  if (restartPolicy === 'Never') {
    // Nothing restarts: a container that failed makes the whole pod fail.
    for (const container of appContainers) {
      const text = failedExit(container, container.terminated);
      if (text) return degraded(text);
    }
    return progressing(`running to completion, ${readyText}`);
  }
  if (restartPolicy === 'OnFailure') return progressing(`running to completion, ${readyText}`);

  if (isTrue(findCondition(conditionsOf(object), 'Ready'))) return healthy(readyText);
  // Not ready, and a container has already died once: it is failing, not starting.
  for (const container of appContainers) {
    if (container.ready) continue;
    const text = failedExit(container, container.terminated ?? container.lastTerminated);
    if (text) return degraded(`${text}, ${plural(container.restarts, 'restart')}`);
  }
  return progressing(readyText);
}

export function assessPod(object: KubeObject): Health {
  const status = get(object, 'status');
  const init = containerStates(get(status, 'initContainerStatuses'));
  const regular = containerStates(get(status, 'containerStatuses'));
  const containers = [...init, ...regular];
  const phase = str(status, 'phase') ?? 'Pending';

  // Finished pods: their containers are no longer waiting for anything.
  if (phase === 'Succeeded') return healthy('completed');
  if (phase === 'Failed') return failedPod(status, containers);

  // A container stuck in a state that does not clear by itself, whatever the phase.
  for (const container of containers) {
    if (container.waiting && isStuck(container.waiting))
      return degraded(stuckMessage(container, container.waiting));
  }

  switch (phase) {
    case 'Pending':
      return pendingPod(object, containers);
    case 'Running':
      return runningPod(object, regular);
    default:
      return unknown(str(status, 'message') ?? `phase ${phase}: the node may be unreachable`);
  }
}
