import type { LeaseLock, LeaseRecord, VersionedLease } from '../../ports/lease.ts';
import type { KubeObject } from '../../core/resource.ts';
import { apiError } from './errors.ts';
import type { RestClient } from './rest-client.ts';

export interface KubeLeaseLockOptions {
  readonly namespace: string;
  readonly name: string;
}

interface LeaseSpecJson {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  [field: string]: unknown;
}

interface LeaseJson extends KubeObject {
  spec?: LeaseSpecJson;
}

/** The LeaseLock port over the Kubernetes API: GET, POST and PUT (with resourceVersion) of one Lease. */
export class KubeLeaseLock implements LeaseLock {
  readonly #client: RestClient;
  readonly #namespace: string;
  readonly #name: string;
  /** The Lease last read or written: an update keeps its metadata (labels, annotations) and other spec fields. */
  #last: LeaseJson | undefined;

  constructor(client: RestClient, options: KubeLeaseLockOptions) {
    this.#client = client;
    this.#namespace = options.namespace;
    this.#name = options.name;
  }

  describe(): string {
    return `Lease/${this.#namespace}/${this.#name}`;
  }

  async get(): Promise<VersionedLease | undefined> {
    const res = await this.#client.call('GET', this.#path(this.#name), { subject: this.describe() });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw apiError(res.status, res.body, this.describe(), 'get');
    return this.#keep(res.body as LeaseJson);
  }

  async create(record: LeaseRecord): Promise<VersionedLease | undefined> {
    const body: LeaseJson = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.#name, namespace: this.#namespace },
      spec: toSpec(record),
    };
    const res = await this.#client.call('POST', this.#path(), { body, subject: this.describe() });
    if (res.status === 409) return undefined;
    if (res.status !== 201 && res.status !== 200)
      throw apiError(res.status, res.body, this.describe(), 'create');
    return this.#keep(res.body as LeaseJson);
  }

  async update(record: LeaseRecord, resourceVersion: string): Promise<VersionedLease | undefined> {
    const base = this.#last;
    const body: LeaseJson = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(base?.metadata ?? {}),
        name: this.#name,
        namespace: this.#namespace,
        resourceVersion,
      },
      spec: { ...(base?.spec ?? {}), ...toSpec(record) },
    };
    delete body.metadata.managedFields;
    const res = await this.#client.call('PUT', this.#path(this.#name), { body, subject: this.describe() });
    // 409: changed since it was read; 404: deleted since. Either way someone else moved first.
    if (res.status === 409 || res.status === 404) return undefined;
    if (res.status !== 200) throw apiError(res.status, res.body, this.describe(), 'update');
    return this.#keep(res.body as LeaseJson);
  }

  #path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#namespace)}/leases`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  #keep(lease: LeaseJson): VersionedLease {
    this.#last = lease;
    return { record: fromSpec(lease.spec ?? {}), resourceVersion: lease.metadata.resourceVersion ?? '' };
  }
}

function toSpec(record: LeaseRecord): LeaseSpecJson {
  const spec: LeaseSpecJson = {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
  };
  if (record.acquireTime) spec.acquireTime = microTime(record.acquireTime);
  if (record.renewTime) spec.renewTime = microTime(record.renewTime);
  return spec;
}

function fromSpec(spec: LeaseSpecJson): LeaseRecord {
  const acquireTime = parseTime(spec.acquireTime);
  const renewTime = parseTime(spec.renewTime);
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    leaseTransitions: spec.leaseTransitions ?? 0,
    ...(acquireTime ? { acquireTime } : {}),
    ...(renewTime ? { renewTime } : {}),
  };
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits (the API server refuses other widths). */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function parseTime(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
