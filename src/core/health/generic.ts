/**
 * Health of any other kind, custom resources included, read the way kstatus reads them: Stalled and
 * Reconciling first, then Ready, then Available. Objects without status (ConfigMap, Secret, RBAC,
 * NetworkPolicy...) or without any of those conditions are Healthy: there is nothing to wait for.
 */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import {
  type Condition,
  conditionsOf,
  degraded,
  describe,
  findCondition,
  healthy,
  isTrue,
  progressing,
  str,
} from './fields.ts';

/** Ready or Available: True is Healthy, False is Degraded, anything else is on its way. */
function fromSummaryCondition(object: KubeObject, condition: Condition): Health {
  const generation = object.metadata.generation;
  if (
    generation !== undefined &&
    condition.observedGeneration !== undefined &&
    condition.observedGeneration < generation
  ) {
    return progressing(
      `${condition.type} is reported for generation ${condition.observedGeneration}, not ${generation} yet`,
    );
  }
  if (condition.status === 'True') return healthy(condition.message);
  if (condition.status === 'False') return degraded(describe(condition) || `not ${condition.type}`);
  return progressing(describe(condition) || `${condition.type} is ${condition.status || 'not reported'}`);
}

export function assessGeneric(object: KubeObject): Health {
  const conditions = conditionsOf(object);

  const stalled = findCondition(conditions, 'Stalled');
  if (isTrue(stalled)) return degraded(describe(stalled) || 'stalled');
  const reconciling = findCondition(conditions, 'Reconciling');
  if (isTrue(reconciling)) return progressing(describe(reconciling) || 'reconciling');

  for (const type of ['Ready', 'Available']) {
    const condition = findCondition(conditions, type);
    if (condition) return fromSummaryCondition(object, condition);
  }
  return healthy();
}

export function assessNamespace(object: KubeObject): Health {
  return str(object, 'status', 'phase') === 'Terminating' ? progressing('terminating') : healthy();
}
