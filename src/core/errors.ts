/**
 * Capstan's error type: a stable code, a message that says what was wrong and what to do, the
 * resource or file concerned where there is one, and whether retrying can help (DESIGN.md, "Errors").
 */
export interface ErrorDetails {
  /** `Kind/namespace/name`, a file path with line, or another subject the error is about. */
  readonly subject?: string;
  /** True when the same call may succeed later (transient); false when a new input is needed. */
  readonly retryable?: boolean;
  readonly cause?: unknown;
  /** The fields of the subject the error is about (`spec.template`), where the source names them. */
  readonly fields?: readonly string[];
  /**
   * What went wrong without naming the subject, for a line that names it already (a sync entry of that
   * resource). Default: the message.
   */
  readonly detail?: string;
}

/**
 * Every error code Capstan uses, by area: stable names that scripts, conditions (as reasons), the API
 * and tests rely on. A code that is not listed here does not compile.
 */
export const ERROR_CODES = [
  // Applications and their requests
  'APPLICATION_CRD_MISSING',
  'APPLICATION_DIFF_FAILED',
  'APPLICATION_DIFF_REMOTE',
  'APPLICATION_INVALID',
  'APPLICATION_NOT_FOUND',
  'INVALID_APPLICATION_NAME',
  'INVALID_DURATION',
  'ROLLBACK_NO_TARGET',
  'DELETE_PRUNE_FAILED',

  // The agent
  'AGENT_CRD_MISSING',
  'WATCH_HANDLER_FAILED',

  // Destination clusters
  'CLUSTER_EXISTS',
  'CLUSTER_IN_USE',
  'CLUSTER_KUBECONFIG_INVALID',
  'CLUSTER_NOT_FOUND',
  'CLUSTER_SECRET_DUPLICATE',
  'CLUSTER_SECRET_INVALID',
  'CLUSTER_USERS_UNKNOWN',
  'DESTINATION_CLOSED',
  'DESTINATION_UNKNOWN',
  'KUBECONFIG_INVALID',

  // The Kubernetes API
  'KUBE_BAD_REQUEST',
  'KUBE_BAD_RESPONSE',
  'KUBE_CONFLICT',
  'KUBE_DISCOVERY',
  'KUBE_ERROR',
  'KUBE_FORBIDDEN',
  'KUBE_IMMUTABLE',
  'KUBE_INVALID',
  'KUBE_NOT_FOUND',
  'KUBE_RESPONSE_TOO_LARGE',
  'KUBE_UNAVAILABLE',
  'SECRET_DATA_INVALID',
  'KUBE_UNKNOWN_KIND',

  // The source (git)
  'SOURCE_AUTH_FAILED',
  'SOURCE_BAD_CREDENTIALS',
  'SOURCE_BAD_REVISION',
  'SOURCE_BAD_URL',
  'SOURCE_CACHE_FAILED',
  'SOURCE_CANCELLED',
  'SOURCE_GIT_FAILED',
  'SOURCE_GIT_UNAVAILABLE',
  'SOURCE_HOST_KEY_UNKNOWN',
  'SOURCE_HOST_NOT_ALLOWED',
  'SOURCE_OUTPUT_TOO_LARGE',
  'SOURCE_REF_NOT_FOUND',
  'SOURCE_REPO_NOT_FOUND',
  'SOURCE_SECRET_FORBIDDEN',
  'SOURCE_SECRET_NOT_FOUND',
  'SOURCE_TIMEOUT',
  'SOURCE_TOO_LARGE',
  'SOURCE_UNREACHABLE',

  // Rendering and manifests
  'INVALID_HOOK',
  'INVALID_SYNC_WAVE',
  'RENDER_CANCELLED',
  'RENDER_CHART_DIGEST',
  'RENDER_CHART_NOT_FOUND',
  'RENDER_CHART_UNREACHABLE',
  'RENDER_HELM_DEPENDENCIES',
  'RENDER_NOT_FOUND',
  'RENDER_OUTPUT_TOO_LARGE',
  'RENDER_PARSE',
  'RENDER_PATH_ESCAPE',
  'RENDER_REMOTE_BASE',
  'RENDER_SANDBOX_MISSING',
  'RENDER_SANDBOX_UNAVAILABLE',
  'RENDER_TIMEOUT',
  'RENDER_TOOL_BUILD_FAILED',
  'RENDER_TOOL_FAILED',
  'RENDER_TOO_DEEP',
  'RENDER_TOOL_MISSING',
  'RENDER_NESTED_SOURCE',
  'RENDER_TOO_LARGE',
  'RENDER_TOO_MANY_OBJECTS',

  // Sync
  'INVENTORY_DAMAGED',
  'INVENTORY_OWNER_MISMATCH',
  'PLAN_INVALID',
  'SYNC_CANCELLED',
  'SYNC_EMPTY_RENDER',
  'SYNC_SELECTION_NOT_FOUND',
  'SYNC_TIMEOUT',

  // Projects: who may do what
  'POLICY_VIOLATION',
  'PROJECT_NOT_FOUND',
  'PROJECT_INVALID',
  'IMPERSONATION_UNAVAILABLE',

  // The local dev cluster, demo and tools
  'BINARIES_BUILD_FAILED',
  'BINARIES_MISSING',
  'GO_TOOLCHAIN_MISSING',
  'DEMO_BAD_NAME',
  'DEMO_CLAIM_ON_OTHER_NODE',
  'DEMO_DISCOVERY',
  'DEMO_IMAGE_ENTRY',
  'DEMO_IMAGE_REFERENCE',
  'DEMO_NO_NODE_PORT',
  'DEMO_NO_REAL_NODE',
  'DEMO_NO_SERVICE_ADDRESS',
  'DEMO_SERVER_CLAIM_PENDING',
  'DEMO_TIMEOUT',
  'DEVCLUSTER_ALREADY_RUNNING',
  'DEVCLUSTER_BAD_NAME',
  'DEVCLUSTER_BAD_NODES',
  'DEVCLUSTER_BOOTSTRAP',
  'DEVCLUSTER_BUSY',
  'DEVCLUSTER_COMPONENT_EXITED',
  'DEVCLUSTER_KWOK_STAGES',
  'DEVCLUSTER_PORT_IN_USE',
  'DEVCLUSTER_RUNNING',
  'DEVCLUSTER_STATE',
  'DEVCLUSTER_TIMEOUT',
  'DEVCLUSTER_TOKEN',
  'DEVCLUSTER_WATCH',
  'EXEC_FAILED',
  'EXEC_NOT_FOUND',
  'EXEC_TIMEOUT',
  'GITSERVER_BAD_NAME',
  'GITSERVER_BAD_PATH',
  // The dev cluster's real node, its registry and image builds (docs/real-node.md)
  'DEVCLUSTER_NODE_LEFTOVERS',
  'DEVCLUSTER_NO_REAL_NODE',
  'NODE_PREREQUISITES',
  'NODE_NETNS_EXISTS',
  'NODE_BUSYBOX_MISSING',
  'NODE_START',
  'REGISTRY_CREDENTIALS',
  'REGISTRY_PUSH_FAILED',
  'IMAGE_BUILD_FAILED',
  'BASE_IMAGE_NO_SOURCES',
  'BASE_IMAGE_BUILD_FAILED',
  'IMAGE_CACHE_MODE',
  'IMAGE_CACHE_ENTRY',
  'REGISTRY_PULL_FAILED',

  // Projects (the tenancy issue)
  // The API server (capstan server), its store, and its client in the CLI
  'CURSOR_EXPIRED',
  'CURSOR_INVALID',
  'CURSOR_MISMATCH',
  'KUBE_TYPE_MISSING',
  'LABEL_SELECTOR_INVALID',
  'LOGIN_FAILED',
  'LOGIN_FILE_INVALID',
  'LOGOUT_TOKEN_INVALID',
  'LOGOUT_TOKEN_REPLAYED',
  'OIDC_LOGIN_FAILED',
  'OIDC_PROVIDER_UNAVAILABLE',
  'OIDC_CONFIG_INVALID',
  'RESOURCE_NOT_MANAGED',
  'POD_CONTAINER_INVALID',
  'POD_NOT_ON_REAL_NODE',
  'POD_LOGS_UNAVAILABLE',
  'DESIRED_STATE_UNAVAILABLE',
  'SERVER_CONFLICT',
  'SERVER_FAILED',
  'SERVER_FORBIDDEN',
  'SERVER_REFUSED',
  'SERVER_UNAUTHENTICATED',
  'SERVER_UNREACHABLE',
  'STORE_CORRUPT',
  'STORE_SCHEMA_NEWER',
  'STORE_UNAVAILABLE',
  'TOKEN_TTL_INVALID',
  // The command line
  'USAGE',
  // Pipelines: the pipeline file, the Pipeline resource and its runs (docs/pipelines.md)
  'PIPELINE_FILE_INVALID',
  'PIPELINE_STEP_INVALID',
  'PIPELINE_BUILDKIT_MISSING',
  'PIPELINE_NOT_FOUND',
  'PIPELINE_RUN_NOT_FOUND',
  'PIPELINE_RUN_NOT_WAITING',
  'PIPELINE_AUTHOR_NOT_APPROVED',
  'PIPELINE_COMMIT_STATUS_FAILED',
  'PIPELINE_COMMIT_STATUS_INVALID',
  'PIPELINE_ATTESTATION_INVALID',
  'PIPELINE_REGISTRY_FAILED',
  'PIPELINE_REGISTRY_UNREACHABLE',
  // Environments and promotions (docs/promotions.md)
  'PROMOTION_IMAGE_INVALID',
  'PROMOTION_IMAGE_ENTRY',
  'PROMOTION_PATH_INVALID',
  'PROMOTION_CONFIG_INVALID',
  'PROMOTION_PUSH_FAILED',
  'PROMOTION_STATE',
  'PROMOTION_NOT_FOUND',
  'ENVIRONMENT_NOT_FOUND',
  'ENVIRONMENTS_UNAVAILABLE',
  // The HTTP API's own answers (capstan server and the agent's API: HttpError, the `error` of an error
  // body, docs/server.md); the CapstanErrors above reach it too, with their own codes.
  'ALREADY_EXISTS',
  'BAD_REQUEST',
  'BODY_TOO_LARGE',
  'CONFLICT',
  'CSRF_TOKEN_MISSING',
  'FORBIDDEN',
  'HEADERS_TOO_LARGE',
  'INTERNAL',
  'INVALID_APPLICATION',
  'INVALID_REQUEST',
  'MALFORMED_JSON',
  'METRICS_FAILED',
  'NOT_FOUND',
  'PIPELINES_NOT_DRIVEN_HERE',
  'PIPELINES_UNAVAILABLE',
  'REQUEST_TIMEOUT',
  'SSO_CODE_INVALID',
  'SSO_SESSION_REVOKED',
  'SSO_STATE_INVALID',
  'TOO_MANY_ATTEMPTS',
  'UNAUTHENTICATED',
  'UNSUPPORTED_MEDIA_TYPE',
  // Benchmarks (bench/)
  'PEERS_EXITED',
  'PEERS_NO_CRDS',
  'PEERS_NOT_READY',
  'PEERS_BAD_PATH',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class CapstanError extends Error {
  readonly code: ErrorCode;
  readonly subject: string | undefined;
  readonly retryable: boolean;
  readonly fields: readonly string[];
  /** What went wrong without naming the subject (see ErrorDetails.detail). */
  readonly detail: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'CapstanError';
    this.code = code;
    this.subject = details.subject;
    this.retryable = details.retryable ?? false;
    this.fields = details.fields ?? [];
    this.detail = details.detail ?? message;
  }
}

/** The message of anything thrown, for logs and errors (never includes a stack). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A failure as a sync entry or a status records it: what went wrong, its code, whether a retry can help. */
export interface Failure {
  /** What went wrong, without naming the resource the record is about (CapstanError.detail). */
  readonly message: string;
  readonly code?: ErrorCode;
  readonly retryable?: boolean;
}

/** The failure of anything thrown: a CapstanError's detail, code and retryability; else its message. */
export function failureOf(error: unknown): Failure {
  if (error instanceof CapstanError)
    return { message: error.detail, code: error.code, retryable: error.retryable };
  return { message: messageOf(error) };
}
