/** Health of the objects that extend the API: CustomResourceDefinition and APIService. */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import {
  conditionsOf,
  degraded,
  describe,
  findCondition,
  healthy,
  isFalse,
  isTrue,
  progressing,
} from './fields.ts';

export function assessCustomResourceDefinition(object: KubeObject): Health {
  const conditions = conditionsOf(object);
  const names = findCondition(conditions, 'NamesAccepted');
  if (isFalse(names)) return degraded(describe(names));
  const established = findCondition(conditions, 'Established');
  if (isTrue(established)) return healthy();
  return progressing(describe(established) || 'waiting to be established');
}

export function assessAPIService(object: KubeObject): Health {
  const available = findCondition(conditionsOf(object), 'Available');
  if (isTrue(available)) return healthy();
  if (isFalse(available)) return degraded(describe(available));
  return progressing(describe(available) || 'waiting for the aggregator to check availability');
}
