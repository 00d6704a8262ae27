// The API's shapes, from the shared contracts only (types; nothing of the contracts' code is bundled).
import type { Static } from '@sinclair/typebox';
import type { Application, HistoryEntry, RollbackHold } from '../../src/contracts/application.ts';
import type {
  ApplicationList,
  ApplicationListQuery,
  ApplicationSummarySchema,
  AuditEntryInfo,
  AuditPage,
  AuditQueryParams,
  AuthConfig,
  ClusterInfo,
  CreatedTokenSchema,
  ErrorBody,
  EventInfo,
  PipelineInfo,
  PipelineRunBody,
  PipelineRunRequestedSchema,
  PipelineTriggers,
  PodLogs,
  ProjectSchema,
  ResourceNodeSchema,
  ResourceTreeSchema,
  RunListSchema,
  RunLogsSchema,
  RunView,
  SessionInfo,
  SyncCandidate,
  SyncCandidates,
  Trace,
  TokenInfo,
  TokenRequest,
} from '../../src/contracts/server-api.ts';
import type {
  EnvironmentInfo,
  EnvironmentListSchema,
  PromotionListSchema,
  PromotionView,
} from '../../src/contracts/promotion-api.ts';

export type ApplicationSummary = Static<typeof ApplicationSummarySchema>;
export type ResourceNode = Static<typeof ResourceNodeSchema>;
export type ResourceTree = Static<typeof ResourceTreeSchema>;
export type RunList = Static<typeof RunListSchema>;
export type RunLine = Static<typeof RunLogsSchema>['lines'][number];
export type ProjectInfo = Static<typeof ProjectSchema>;
export type CreatedToken = Static<typeof CreatedTokenSchema>;
export type EnvironmentList = Static<typeof EnvironmentListSchema>;
export type PromotionList = Static<typeof PromotionListSchema>;
export type { EnvironmentInfo, PromotionView };
export type PipelineRunRequested = Static<typeof PipelineRunRequestedSchema>;

export interface HistoryPage {
  readonly items: readonly HistoryEntry[];
  readonly hold?: RollbackHold;
}
export type {
  ApplicationList,
  ApplicationListQuery,
  AuditEntryInfo,
  AuditPage,
  AuditQueryParams,
  AuthConfig,
  ClusterInfo,
  ErrorBody,
  EventInfo,
  PipelineInfo,
  PipelineRunBody,
  PipelineTriggers,
  PodLogs,
  RunView,
  SyncCandidate,
  SyncCandidates,
  Trace,
  Application,
  HistoryEntry,
  RollbackHold,
  SessionInfo,
  TokenInfo,
  TokenRequest,
};

export const SYNC_STATES = ['Synced', 'OutOfSync', 'Unknown'] as const;
export const HEALTH_STATES = [
  'Healthy',
  'Progressing',
  'Degraded',
  'Suspended',
  'Missing',
  'Unknown',
] as const;
export type SyncState = (typeof SYNC_STATES)[number];
export type HealthState = (typeof HEALTH_STATES)[number];

/** A Kubernetes object as the API answers it (the Application's `view=full`, a manifest). */
export interface KubeObjectView {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly labels?: Readonly<Record<string, string>>;
    readonly resourceVersion?: string;
  };
  readonly spec?: Readonly<Record<string, unknown>>;
  readonly status?: Readonly<Record<string, unknown>>;
}
