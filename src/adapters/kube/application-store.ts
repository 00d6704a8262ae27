import { randomBytes } from 'node:crypto';
import { APPLICATION_GROUP, APPLICATION_PLURAL, APPLICATION_VERSION } from '../../contracts/application.ts';
import type { KubeObject } from '../../core/resource.ts';
import type { ApplicationStore } from '../../ports/applications.ts';
import { apiError } from './errors.ts';
import type { RestClient } from './rest-client.ts';

const BASE = `/apis/${APPLICATION_GROUP}/${APPLICATION_VERSION}`;
const path = (namespace: string, name: string) =>
  `${BASE}/namespaces/${encodeURIComponent(namespace)}/${APPLICATION_PLURAL}/${encodeURIComponent(name)}`;

/** Applications through the Kubernetes API: reads, status subresource, finalizers, events. */
export class KubeApplicationStore implements ApplicationStore {
  readonly #client: RestClient;
  readonly #component: string;

  constructor(client: RestClient, options: { component?: string } = {}) {
    this.#client = client;
    this.#component = options.component ?? 'capstan-agent';
  }

  async get(namespace: string, name: string): Promise<KubeObject | undefined> {
    const res = await this.#client.call('GET', path(namespace, name));
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw apiError(res.status, res.body, `Application/${namespace}/${name}`, 'get');
    return res.body as KubeObject;
  }

  async list(options: { labelSelector?: string } = {}): Promise<KubeObject[]> {
    const query = options.labelSelector ? `?labelSelector=${encodeURIComponent(options.labelSelector)}` : '';
    const res = await this.#client.call('GET', `${BASE}/${APPLICATION_PLURAL}${query}`);
    if (res.status !== 200) throw apiError(res.status, res.body, 'list applications', 'list');
    return ((res.body as { items?: KubeObject[] }).items ?? []).map((item) => ({
      ...item,
      apiVersion: `${APPLICATION_GROUP}/${APPLICATION_VERSION}`,
      kind: 'Application',
    }));
  }

  async patchStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): Promise<string | undefined> {
    const subject = `Application/${namespace}/${name}`;
    const res = await this.#client.call('PATCH', `${path(namespace, name)}/status`, {
      body: { status },
      contentType: 'application/merge-patch+json',
      subject,
    });
    if (res.status !== 200) throw apiError(res.status, res.body, subject, 'update status');
    return (res.body as Partial<KubeObject> | undefined)?.metadata?.resourceVersion;
  }

  async setFinalizers(
    namespace: string,
    name: string,
    finalizers: readonly string[],
    resourceVersion: string,
  ): Promise<string | undefined> {
    const subject = `Application/${namespace}/${name}`;
    const res = await this.#client.call('PATCH', path(namespace, name), {
      body: { metadata: { finalizers, resourceVersion } },
      contentType: 'application/merge-patch+json',
      subject,
    });
    if (res.status !== 200) throw apiError(res.status, res.body, subject, 'update finalizers');
    return (res.body as Partial<KubeObject> | undefined)?.metadata?.resourceVersion;
  }

  async annotate(namespace: string, name: string, key: string, value: string): Promise<void> {
    const subject = `Application/${namespace}/${name}`;
    const res = await this.#client.call('PATCH', path(namespace, name), {
      body: { metadata: { annotations: { [key]: value } } },
      contentType: 'application/merge-patch+json',
      subject,
    });
    if (res.status !== 200) throw apiError(res.status, res.body, subject, 'annotate');
  }

  async event(
    application: KubeObject,
    event: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void> {
    const namespace = application.metadata.namespace ?? 'default';
    const now = new Date().toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${application.metadata.name ?? 'app'}.${randomBytes(8).toString('hex')}`,
        namespace,
      },
      involvedObject: {
        apiVersion: application.apiVersion,
        kind: application.kind,
        name: application.metadata.name,
        namespace,
        uid: application.metadata.uid,
        resourceVersion: application.metadata.resourceVersion,
      },
      type: event.type,
      reason: event.reason,
      message: event.message.slice(0, 1024),
      source: { component: this.#component },
      reportingComponent: this.#component,
      reportingInstance: this.#component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    const res = await this.#client.call(
      'POST',
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
      { body, subject: 'event' },
    );
    if (res.status !== 201)
      throw apiError(
        res.status,
        res.body,
        `Event for Application/${namespace}/${application.metadata.name ?? ''}`,
        'create',
      );
  }
}
