import { APPLICATION_GROUP, APPLICATION_PLURAL, APPLICATION_VERSION } from '../../contracts/application.ts';
import type { KubeObject } from '../../core/resource.ts';
import type { ApplicationWriter } from '../../ports/application-writer.ts';
import { apiError } from './errors.ts';
import type { RestClient } from './rest-client.ts';

const BASE = `/apis/${APPLICATION_GROUP}/${APPLICATION_VERSION}`;
const path = (namespace: string, name: string) =>
  `${BASE}/namespaces/${encodeURIComponent(namespace)}/${APPLICATION_PLURAL}/${encodeURIComponent(name)}`;

/** The ApplicationWriter port over the Kubernetes API, with the caller's identity (the server's ServiceAccount). */
export class KubeApplicationWriter implements ApplicationWriter {
  readonly #client: RestClient;
  readonly #fieldManager: string;

  constructor(client: RestClient, options: { fieldManager: string }) {
    this.#client = client;
    this.#fieldManager = options.fieldManager;
  }

  async patchMetadata(
    namespace: string,
    name: string,
    patch: {
      readonly annotations?: Readonly<Record<string, string | null>>;
      readonly finalizers?: readonly string[];
      readonly resourceVersion?: string;
    },
  ): Promise<KubeObject> {
    const subject = `Application/${namespace}/${name}`;
    const metadata = {
      ...(patch.annotations === undefined ? {} : { annotations: patch.annotations }),
      ...(patch.finalizers === undefined ? {} : { finalizers: patch.finalizers }),
      ...(patch.resourceVersion === undefined ? {} : { resourceVersion: patch.resourceVersion }),
    };
    const res = await this.#client.call(
      'PATCH',
      `${path(namespace, name)}?fieldManager=${this.#fieldManager}`,
      {
        body: { metadata },
        contentType: 'application/merge-patch+json',
        subject,
      },
    );
    if (res.status !== 200) throw apiError(res.status, res.body, subject, 'patch');
    return res.body as KubeObject;
  }

  async apply(
    object: KubeObject,
    options: { readonly fieldManager: string },
  ): Promise<{ object: KubeObject; created: boolean }> {
    const namespace = object.metadata.namespace ?? '';
    const name = object.metadata.name ?? '';
    const subject = `Application/${namespace}/${name}`;
    const res = await this.#client.call(
      'PATCH',
      `${path(namespace, name)}?fieldManager=${encodeURIComponent(options.fieldManager)}`,
      { body: object, contentType: 'application/apply-patch+yaml', subject },
    );
    if (res.status !== 200 && res.status !== 201) throw apiError(res.status, res.body, subject, 'apply');
    return { object: res.body as KubeObject, created: res.status === 201 };
  }

  async delete(
    namespace: string,
    name: string,
    preconditions: { readonly uid: string; readonly resourceVersion: string },
  ): Promise<boolean> {
    const subject = `Application/${namespace}/${name}`;
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions };
    const res = await this.#client.call('DELETE', path(namespace, name), { body, subject });
    if (res.status === 404) return false;
    if (res.status !== 200 && res.status !== 202) throw apiError(res.status, res.body, subject, 'delete');
    return true;
  }
}
