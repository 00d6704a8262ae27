import type { Health, HealthStatus } from './health.ts';

/** A status condition in Kubernetes conventions (metav1.Condition). */
export interface Condition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * Sets a condition by type. The transition time changes only when the status changes, so generic
 * tools (kubectl wait, kstatus) read the object correctly.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  details: { now: Date; generation?: number | undefined },
): Condition[] {
  const existing = (conditions ?? []).find((c) => c.type === input.type);
  const lastTransitionTime =
    existing && existing.status === input.status ? existing.lastTransitionTime : details.now.toISOString();
  const message = input.message.length > 32_000 ? `${input.message.slice(0, 32_000)}…` : input.message;
  const next: Condition = {
    ...input,
    message,
    lastTransitionTime,
    ...(details.generation === undefined ? {} : { observedGeneration: details.generation }),
  };
  return [...(conditions ?? []).filter((c) => c.type !== input.type), next].sort((a, b) =>
    a.type.localeCompare(b.type),
  );
}

const SEVERITY: Record<HealthStatus, number> = {
  Healthy: 0,
  Suspended: 1,
  Progressing: 2,
  Missing: 3,
  Unknown: 4,
  Degraded: 5,
};

/** The health of a whole application: its least healthy resource (Healthy when it has none). */
export function aggregateHealth(healths: readonly (Health & { readonly subject?: string })[]): Health {
  let worst: (Health & { readonly subject?: string }) | undefined;
  for (const h of healths) if (!worst || SEVERITY[h.status] > SEVERITY[worst.status]) worst = h;
  if (!worst || worst.status === 'Healthy') return { status: 'Healthy', message: '' };
  const count = healths.filter((h) => h.status === worst.status).length;
  const what = worst.subject ? `${worst.subject}${worst.message ? `: ${worst.message}` : ''}` : worst.message;
  return {
    status: worst.status,
    message: count > 1 ? `${what} (and ${count - 1} more ${worst.status})` : what,
  };
}
