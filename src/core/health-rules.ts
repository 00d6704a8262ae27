/**
 * Health rules: how healthy a live object is, from the object alone. Pure: no I/O, no clock.
 *
 * The steps, in order:
 *   1. not found live                                   → Missing
 *   2. metadata.deletionTimestamp set                   → Progressing, being deleted
 *   3. status.observedGeneration < metadata.generation  → Progressing, the controller has not seen the change
 *   4. the rule for its kind (by group and kind, never by version), or the generic kstatus-style rule.
 */
import type { Health } from './health.ts';
import { assessAPIService, assessCustomResourceDefinition } from './health/api-extensions.ts';
import { assessHorizontalPodAutoscaler } from './health/autoscaling.ts';
import { assessCronJob, assessJob } from './health/batch.ts';
import { conditionsOf, isTrue, missing, num, progressing } from './health/fields.ts';
import { assessGeneric, assessNamespace } from './health/generic.ts';
import { assessIngress, assessService } from './health/network.ts';
import { assessPod } from './health/pod.ts';
import { assessPersistentVolume, assessPersistentVolumeClaim } from './health/storage.ts';
import {
  assessDaemonSet,
  assessDeployment,
  assessReplicaSet,
  assessStatefulSet,
} from './health/workloads.ts';
import { groupOf, type KubeObject } from './resource.ts';

export type HealthRule = (object: KubeObject) => Health;

/** Rules by `group/Kind` ('' for the core group). Kinds not listed here use the generic rule. */
const RULES: ReadonlyMap<string, HealthRule> = new Map([
  ['apps/Deployment', assessDeployment],
  ['extensions/Deployment', assessDeployment],
  ['apps/StatefulSet', assessStatefulSet],
  ['apps/DaemonSet', assessDaemonSet],
  ['extensions/DaemonSet', assessDaemonSet],
  ['apps/ReplicaSet', assessReplicaSet],
  ['extensions/ReplicaSet', assessReplicaSet],
  ['/ReplicationController', assessReplicaSet],
  ['/Pod', assessPod],
  ['batch/Job', assessJob],
  ['batch/CronJob', assessCronJob],
  ['/Service', assessService],
  ['networking.k8s.io/Ingress', assessIngress],
  ['extensions/Ingress', assessIngress],
  ['/PersistentVolumeClaim', assessPersistentVolumeClaim],
  ['/PersistentVolume', assessPersistentVolume],
  ['autoscaling/HorizontalPodAutoscaler', assessHorizontalPodAutoscaler],
  ['apiextensions.k8s.io/CustomResourceDefinition', assessCustomResourceDefinition],
  ['apiregistration.k8s.io/APIService', assessAPIService],
  ['/Namespace', assessNamespace],
]);

/** The rule that assesses objects of this apiVersion and kind. */
export function healthRuleFor(apiVersion: string, kind: string): HealthRule {
  return RULES.get(`${groupOf(apiVersion)}/${kind}`) ?? assessGeneric;
}

/** The health of a live object; `undefined` means it was not found in the cluster. */
export function assessHealth(object: KubeObject | undefined): Health {
  if (object === undefined) return missing('not found in the cluster');
  if (object.metadata.deletionTimestamp) return progressing(deletionMessage(object));
  const generation = object.metadata.generation;
  const observed = num(object, 'status', 'observedGeneration');
  if (generation !== undefined && observed !== undefined && observed < generation) {
    return progressing(
      `waiting for the controller to observe generation ${generation} (status is for ${observed})`,
    );
  }
  return healthRuleFor(object.apiVersion, object.kind)(object);
}

/** `being deleted`, and what it waits for: finalizers, or for a Namespace the content still inside. */
function deletionMessage(object: KubeObject): string {
  if (object.kind === 'Namespace' && groupOf(object.apiVersion) === '') {
    const conditions = conditionsOf(object);
    const blocking = [
      'NamespaceFinalizersRemaining',
      'NamespaceContentRemaining',
      'NamespaceDeletionContentFailure',
    ]
      .map((type) => conditions.find((condition) => condition.type === type))
      .find(isTrue);
    if (blocking?.message) return `being deleted: ${blocking.message}`;
  }
  const finalizers = object.metadata.finalizers ?? [];
  return finalizers.length > 0
    ? `being deleted, waiting for finalizers: ${finalizers.join(', ')}`
    : 'being deleted';
}
