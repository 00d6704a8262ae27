/** Health of a HorizontalPodAutoscaler, from its AbleToScale, ScalingActive and ScalingLimited conditions. */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import {
  type Condition,
  conditionsOf,
  degraded,
  describe,
  findCondition,
  healthy,
  isFalse,
  isTrue,
  num,
  parseConditions,
  plural,
  progressing,
  suspended,
} from './fields.ts';

/** autoscaling/v1 has no conditions field: the API server carries them in this annotation, as JSON. */
const V1_CONDITIONS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/conditions';

function hpaConditions(object: KubeObject): Condition[] {
  const conditions = conditionsOf(object);
  if (conditions.length > 0) return conditions;
  const annotation = object.metadata.annotations?.[V1_CONDITIONS_ANNOTATION];
  if (annotation === undefined) return [];
  try {
    return parseConditions(JSON.parse(annotation));
  } catch {
    return [];
  }
}

export function assessHorizontalPodAutoscaler(object: KubeObject): Health {
  const conditions = hpaConditions(object);
  if (conditions.length === 0) return progressing('waiting for the autoscaler to report status');

  // Cannot read or change the target's scale (missing target, RBAC). Backoff* reasons only mean "not yet".
  const able = findCondition(conditions, 'AbleToScale');
  if (isFalse(able))
    return able.reason.startsWith('Backoff') ? progressing(describe(able)) : degraded(describe(able));

  // Cannot compute a replica count (metrics unavailable, bad selector); disabled when the target is at zero.
  const active = findCondition(conditions, 'ScalingActive');
  if (isFalse(active))
    return active.reason === 'ScalingDisabled' ? suspended(describe(active)) : degraded(describe(active));

  const limited = findCondition(conditions, 'ScalingLimited');
  if (isTrue(limited)) return healthy(describe(limited));
  const current = num(object, 'status', 'currentReplicas') ?? 0;
  const desired = num(object, 'status', 'desiredReplicas') ?? current;
  return healthy(
    current === desired ? plural(current, 'replica') : `scaling from ${current} to ${desired} replicas`,
  );
}
