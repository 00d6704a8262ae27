/** Health of a resource, the same words everywhere (DESIGN.md, "Vocabulary"). */
export const HEALTH_STATUSES = [
  'Healthy',
  'Progressing',
  'Degraded',
  'Suspended',
  'Missing',
  'Unknown',
] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface Health {
  readonly status: HealthStatus;
  /** Why, in a few words a person understands: `2/3 replicas ready`, `Job failed: BackoffLimitExceeded`. */
  readonly message: string;
}
