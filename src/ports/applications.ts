import type { KubeObject } from '../core/resource.ts';

/** Application objects in the Kubernetes API, as the agent reads and updates them. */
export interface ApplicationStore {
  /** The object, or undefined when there is none. It may be a cache's own, frozen: never change it. */
  get(namespace: string, name: string): Promise<KubeObject | undefined>;
  /**
   * The object as a watch last delivered it, without a request: possibly not its latest version, so
   * only fit for a write guarded by its resourceVersion (setFinalizers), and never to be changed (it
   * may be the watch's own). Undefined (or absent): no watch has delivered it.
   */
  watched?(namespace: string, name: string): Readonly<KubeObject> | undefined;
  /** Every Application (in all namespaces), or those with these labels (`key=value,...`). */
  list(options?: { labelSelector?: string }): Promise<KubeObject[]>;
  /**
   * Replaces the status (status subresource, merge patch of `status`); returns the object's
   * resourceVersion after the write, as the API server answered it.
   */
  patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<string | undefined>;
  /**
   * Sets metadata.finalizers, guarded by the resourceVersion read (409 when the object changed
   * meanwhile); returns the object's resourceVersion after the write, as the API server answered it.
   */
  setFinalizers(
    namespace: string,
    name: string,
    finalizers: readonly string[],
    resourceVersion: string,
  ): Promise<string | undefined>;
  /** Sets one annotation (a request: refresh, sync, rollback) with a merge patch. */
  annotate(namespace: string, name: string, key: string, value: string): Promise<void>;
  /** Records a Kubernetes Event on the Application. */
  event(
    application: KubeObject,
    event: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void>;
}
