/** Health of batch/v1 Job and CronJob. */
import type { Health } from '../health.ts';
import type { KubeObject } from '../resource.ts';
import {
  asList,
  conditionsOf,
  degraded,
  describe,
  findCondition,
  flag,
  get,
  healthy,
  isTrue,
  num,
  plural,
  progressing,
  str,
  suspended,
} from './fields.ts';

export function assessJob(object: KubeObject): Health {
  const conditions = conditionsOf(object);
  const succeeded = num(object, 'status', 'succeeded') ?? 0;
  const completions = num(object, 'spec', 'completions');
  const done = completions === undefined ? `${succeeded} succeeded` : `${succeeded}/${completions} succeeded`;

  // Finished, one way or the other (FailureTarget and SuccessCriteriaMet come just before Failed and Complete).
  const failed = findCondition(conditions, 'Failed') ?? findCondition(conditions, 'FailureTarget');
  if (isTrue(failed)) return degraded(`Job failed: ${describe(failed) || 'no reason given'}`);
  const complete = findCondition(conditions, 'Complete') ?? findCondition(conditions, 'SuccessCriteriaMet');
  if (isTrue(complete)) return healthy(`completed, ${done}`);

  if (flag(object, 'spec', 'suspend')) return suspended(`Job suspended, ${done}`);
  const active = num(object, 'status', 'active') ?? 0;
  return progressing(`running: ${active} active, ${done}`);
}

/**
 * A CronJob is healthy unless its last scheduled run did not succeed: no job running now, and no
 * success recorded since that run was scheduled.
 */
export function assessCronJob(object: KubeObject): Health {
  if (flag(object, 'spec', 'suspend')) return suspended('CronJob suspended');

  const lastSchedule = str(object, 'status', 'lastScheduleTime');
  if (lastSchedule === undefined) return healthy('not run yet');
  const active = asList(get(object, 'status', 'active')).length;
  if (active > 0) return healthy(`${plural(active, 'job')} running`);

  const lastSuccess = str(object, 'status', 'lastSuccessfulTime');
  if (lastSuccess === undefined || Date.parse(lastSuccess) < Date.parse(lastSchedule)) {
    return degraded(`the run scheduled at ${lastSchedule} did not succeed`);
  }
  return healthy(`last run succeeded at ${lastSuccess}`);
}
