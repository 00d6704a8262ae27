import type { KubeObject } from '../core/resource.ts';

/**
 * Changes to Application objects on behalf of people (the server): requests by annotation, finalizers,
 * create or update by server-side apply, delete. Errors: KUBE_NOT_FOUND when it does not exist,
 * KUBE_CONFLICT when a resourceVersion was given and the object changed since (optimistic concurrency),
 * KUBE_FORBIDDEN when the server's own identity may not.
 */
export interface ApplicationWriter {
  /**
   * A merge patch of metadata: annotations (null removes one) and the whole finalizer list. With
   * `resourceVersion`, the API server refuses the patch when the object is at another version.
   */
  patchMetadata(
    namespace: string,
    name: string,
    patch: {
      readonly annotations?: Readonly<Record<string, string | null>>;
      readonly finalizers?: readonly string[];
      readonly resourceVersion?: string;
    },
  ): Promise<KubeObject>;
  /** Server-side apply of the object's metadata and spec under `fieldManager`. */
  apply(
    object: KubeObject,
    options: { readonly fieldManager: string },
  ): Promise<{ object: KubeObject; created: boolean }>;
  /** Deletes it if it is still at this uid and resourceVersion; false when it was already gone. */
  delete(
    namespace: string,
    name: string,
    preconditions: { readonly uid: string; readonly resourceVersion: string },
  ): Promise<boolean>;
}
