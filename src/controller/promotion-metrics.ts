// The promotion metrics (docs/promotions.md, "Metrics") on the server's metrics registry: promotions by
// environment and state, how long they took from Pending to their end, how long they waited for an
// approval, the gates that failed them, and the image policies' looks at their registries.
import type { PromotionMetrics } from '../promotions/promotion-driver.ts';
import type { PromotionRecord } from '../ports/store.ts';
import type { Registry } from './metrics.ts';

/** Seconds: from a minute to a day (gates wait 30 s by default, time out after 10 min). */
const DURATION_BUCKETS = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];
/** Seconds: approvals take from seconds to days. */
const APPROVAL_BUCKETS = [10, 60, 300, 900, 3600, 14400, 86400, 259200, 604800];
/** Reasons of a failure that are the gates' verdict (not a commit, a supersession or a rejection). */
const GATE_REASONS = new Set(['Degraded', 'GateTimeout', 'VerificationFailed']);

type Where = { namespace: string; environment: string };

/** Registers the promotion metrics; the driver and the API report to what it returns. */
export function promotionMetrics(registry: Registry): PromotionMetrics {
  const states = registry.counter<Where & { state: string }>({
    name: 'capstan_promotions_total',
    help: 'Promotions that entered each state (Pending when requested; Verified, Failed and Rejected are their results), by environment.',
    labelNames: ['namespace', 'environment', 'state'],
  });
  const duration = registry.histogram<Where & { result: string }>({
    name: 'capstan_promotion_duration_seconds',
    help: 'Time from a promotion’s request (Pending) to its end (Verified, Failed or Rejected), by environment and result.',
    labelNames: ['namespace', 'environment', 'result'],
    buckets: DURATION_BUCKETS,
  });
  const approval = registry.histogram<Where & { decision: string }>({
    name: 'capstan_promotion_approval_wait_seconds',
    help: 'Time a promotion waited for an approval until someone approved or rejected it, by environment.',
    labelNames: ['namespace', 'environment', 'decision'],
    buckets: APPROVAL_BUCKETS,
  });
  const gates = registry.counter<Where & { reason: string }>({
    name: 'capstan_promotion_gate_failures_total',
    help: 'Promotions failed by their gates (Degraded, GateTimeout, VerificationFailed), by environment.',
    labelNames: ['namespace', 'environment', 'reason'],
  });
  const policies = registry.counter<Where & { result: string }>({
    name: 'capstan_image_policy_checks_total',
    help: 'Looks of an Environment’s image policy at its registry, by result (chosen: a tag was chosen; failed: none, the reason in the Environment’s status).',
    labelNames: ['namespace', 'environment', 'result'],
  });
  return {
    moved: (p: PromotionRecord) => {
      const where = { namespace: p.namespace, environment: p.environment };
      states.inc({ ...where, state: p.state });
      if (p.state === 'Verified' || p.state === 'Failed' || p.state === 'Rejected') {
        const took = seconds(p.createdAt, p.finishedAt);
        if (took !== undefined) duration.observe({ ...where, result: p.state }, took);
      }
      if (p.state === 'Failed' && p.reason !== undefined && GATE_REASONS.has(p.reason))
        gates.inc({ ...where, reason: p.reason });
      if (p.state === 'Approved' || p.state === 'Rejected') {
        const asked = p.steps.findLast((s) => s.state === 'WaitingForApproval')?.at;
        const waited = seconds(asked, p.steps.at(-1)?.at);
        if (waited !== undefined)
          approval.observe({ ...where, decision: p.state === 'Approved' ? 'approved' : 'rejected' }, waited);
      }
    },
    policyChecked: (namespace, environment, result) => {
      policies.inc({ namespace, environment, result });
    },
  };
}

function seconds(from: string | undefined, to: string | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}
