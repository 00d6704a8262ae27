/**
 * Health of the apps/v1 workload controllers: Deployment, StatefulSet, DaemonSet and ReplicaSet
 * (and the older ReplicationController, which reports like a ReplicaSet). The common step, a
 * controller that has not yet observed the current generation, is checked before these run.
 */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import {
  conditionsOf,
  describe,
  desiredReplicas,
  findCondition,
  flag,
  healthy,
  isFalse,
  isTrue,
  num,
  plural,
  progressing,
  str,
  suspended,
  degraded,
} from './fields.ts';

const WAITING_FOR_CONTROLLER = 'waiting for the controller to report status';

/** A workload controller always writes status.observedGeneration once it has acted on the object. */
function notYetObserved(object: KubeObject): boolean {
  return num(object, 'status', 'observedGeneration') === undefined;
}

/** `n old replicas pending termination` when more pods exist than wanted (some still going away). */
function extraReplicas(replicas: number, wanted: number, noun: string): Health | undefined {
  return replicas > wanted
    ? progressing(`${plural(replicas - wanted, noun)} pending termination`)
    : undefined;
}

export function assessDeployment(object: KubeObject): Health {
  if (notYetObserved(object)) return progressing(WAITING_FOR_CONTROLLER);
  if (flag(object, 'spec', 'paused')) return suspended('rollout paused');

  // Failures the controller has given up on, or that block the rollout.
  const conditions = conditionsOf(object);
  const progress = findCondition(conditions, 'Progressing');
  if (isFalse(progress) && progress.reason === 'ProgressDeadlineExceeded')
    return degraded(describe(progress));
  const failure = findCondition(conditions, 'ReplicaFailure');
  if (isTrue(failure)) return degraded(describe(failure));

  // The rollout itself: new pods created, old ones gone, new ones available.
  const wanted = desiredReplicas(object);
  const replicas = num(object, 'status', 'replicas') ?? 0;
  const updated = num(object, 'status', 'updatedReplicas') ?? 0;
  const available = num(object, 'status', 'availableReplicas') ?? 0;
  if (updated < wanted) return progressing(`${updated}/${wanted} replicas updated`);
  const extra = extraReplicas(replicas, updated, 'old replica');
  if (extra) return extra;
  if (available < updated) return progressing(`${available}/${updated} updated replicas available`);
  return healthy(wanted === 0 ? 'scaled to zero' : `${available}/${wanted} replicas available`);
}

export function assessStatefulSet(object: KubeObject): Health {
  if (notYetObserved(object)) return progressing(WAITING_FOR_CONTROLLER);

  // Every wanted pod ready, and no more pods than wanted.
  const wanted = desiredReplicas(object);
  const replicas = num(object, 'status', 'replicas') ?? 0;
  const ready = num(object, 'status', 'readyReplicas') ?? 0;
  const updated = num(object, 'status', 'updatedReplicas') ?? 0;
  if (ready < wanted) return progressing(`${ready}/${wanted} replicas ready`);
  const extra = extraReplicas(replicas, wanted, 'extra replica');
  if (extra) return extra;

  // OnDelete: pods take the new template only when someone deletes them; nothing to wait for.
  const strategy = str(object, 'spec', 'updateStrategy', 'type') ?? 'RollingUpdate';
  if (strategy === 'OnDelete') {
    return updated < wanted
      ? healthy(
          `${ready}/${wanted} replicas ready; ${updated}/${wanted} updated (OnDelete: delete pods to update them)`,
        )
      : healthy(`${ready}/${wanted} replicas ready`);
  }

  // RollingUpdate with a partition: only ordinals >= partition are updated.
  const partition = num(object, 'spec', 'updateStrategy', 'rollingUpdate', 'partition') ?? 0;
  if (partition > 0) {
    const expected = Math.max(0, wanted - partition);
    if (updated < expected)
      return progressing(`${updated}/${expected} replicas updated (partition ${partition})`);
    return healthy(`${ready}/${wanted} replicas ready; ${updated} updated (partition ${partition})`);
  }

  // RollingUpdate: done when every pod runs the update revision.
  const currentRevision = str(object, 'status', 'currentRevision');
  const updateRevision = str(object, 'status', 'updateRevision');
  if (updated < wanted || (updateRevision !== undefined && currentRevision !== updateRevision)) {
    return progressing(`${updated}/${wanted} replicas updated`);
  }
  return healthy(wanted === 0 ? 'scaled to zero' : `${ready}/${wanted} replicas ready`);
}

export function assessDaemonSet(object: KubeObject): Health {
  const desired = num(object, 'status', 'desiredNumberScheduled');
  if (notYetObserved(object) || desired === undefined) return progressing(WAITING_FOR_CONTROLLER);

  const updated = num(object, 'status', 'updatedNumberScheduled') ?? 0;
  const available = num(object, 'status', 'numberAvailable') ?? 0;
  const onDelete = str(object, 'spec', 'updateStrategy', 'type') === 'OnDelete';
  if (!onDelete && updated < desired) return progressing(`${updated}/${desired} pods updated`);
  if (available < desired) return progressing(`${available}/${desired} pods available`);
  if (desired === 0) return healthy('no node matches its node selector and tolerations');
  if (onDelete && updated < desired) {
    return healthy(
      `${available}/${desired} pods available; ${updated}/${desired} updated (OnDelete: delete pods to update them)`,
    );
  }
  return healthy(`${available}/${desired} pods available`);
}

/** ReplicaSet, and ReplicationController, whose status has the same fields. */
export function assessReplicaSet(object: KubeObject): Health {
  if (notYetObserved(object)) return progressing(WAITING_FOR_CONTROLLER);

  // Pods that cannot be created (quota, admission, missing service account...).
  const failure = findCondition(conditionsOf(object), 'ReplicaFailure');
  if (isTrue(failure)) return degraded(describe(failure));

  const wanted = desiredReplicas(object);
  const replicas = num(object, 'status', 'replicas') ?? 0;
  const available = num(object, 'status', 'availableReplicas') ?? 0;
  if (available < wanted) return progressing(`${available}/${wanted} replicas available`);
  const extra = extraReplicas(replicas, wanted, 'extra replica');
  if (extra) return extra;
  return healthy(wanted === 0 ? 'scaled to zero' : `${available}/${wanted} replicas available`);
}
