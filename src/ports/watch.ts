import type { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import type { ResourceType } from './cluster.ts';

/**
 * What happened to an object. `SYNCED` follows each complete list: the handler has then seen every
 * object that exists (the first time after the initial list, then after each re-list).
 */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'SYNCED';

export interface WatchEvent {
  readonly type: WatchEventType;
  /**
   * The object; for DELETED its last state (when a re-list found it gone: the last state the watch knew,
   * without managedFields); for SYNCED an empty list object carrying the list's resourceVersion.
   */
  readonly object: KubeObject;
}

export type WatchHandler = (event: WatchEvent) => void;

export interface WatchOptions {
  /** Only objects with these labels (`a=b,c!=d`). */
  readonly labelSelector?: string;
  /** Stops the watch; `watch` resolves then. */
  readonly signal: AbortSignal;
  /** Problems the watch recovers from by itself (connection lost, API errors, a throwing handler), for logs. */
  readonly onError?: (error: CapstanError) => void;
}

/**
 * Keeps a handler informed of every object of one type: lists, then watches from the list's
 * resourceVersion, and carries on by itself across dropped connections, API server restarts and
 * expired resourceVersions (re-listing then, with ADDED, MODIFIED and DELETED for what changed in
 * between). Events of one object arrive in order. Resolves when `signal` is aborted; never rejects.
 */
export interface Watcher {
  /** `namespace` '' watches every namespace (and is required for cluster-scoped types). */
  watch(type: ResourceType, namespace: string, handler: WatchHandler, options: WatchOptions): Promise<void>;
}
