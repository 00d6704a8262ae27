/**
 * One `coordination.k8s.io/v1` Lease, as leader election needs it: read it, create it, and replace it
 * only if nobody changed it since it was read (optimistic concurrency on resourceVersion).
 */

/** The spec of a Lease, with times as Dates. */
export interface LeaseRecord {
  /** Who holds the lease; '' when nobody does (released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime?: Date;
  readonly renewTime?: Date;
  /** How many times the lease changed hands. */
  readonly leaseTransitions: number;
}

/** A Lease as read: its record and the resourceVersion to update it with. */
export interface VersionedLease {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/**
 * One named Lease. Errors other than the ones below are CapstanErrors (KUBE_UNAVAILABLE, KUBE_FORBIDDEN…).
 */
export interface LeaseLock {
  /** `Lease/namespace/name`, for logs and errors. */
  describe(): string;
  /** The Lease, or undefined when it does not exist. */
  get(): Promise<VersionedLease | undefined>;
  /** Creates the Lease; undefined when it already exists (another candidate created it first). */
  create(record: LeaseRecord): Promise<VersionedLease | undefined>;
  /** Replaces the Lease's record if its resourceVersion is still this one; undefined when it is not (409: lost the race). */
  update(record: LeaseRecord, resourceVersion: string): Promise<VersionedLease | undefined>;
}
