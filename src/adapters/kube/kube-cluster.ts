import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CapstanError } from '../../core/errors.ts';
import { kubeconfigDocument, parseKubeconfig, type FlatKubeconfig } from '../../core/kubeconfig.ts';
import type { KubeObject } from '../../core/resource.ts';
import { formatId } from '../../core/resource.ts';
import type {
  ApplyOptions,
  ApplyResult,
  Cluster,
  ClusterInfo,
  DeleteOptions,
  ResourceType,
} from '../../ports/cluster.ts';
import { Discovery } from './discovery.ts';
import { apiError } from './errors.ts';
import { RestClient, type Impersonation, type RestClientOptions } from './rest-client.ts';

export interface KubeClusterOptions extends RestClientOptions {
  /** Path of a kubeconfig; default: KUBECONFIG, then ~/.kube/config, then in-cluster. */
  readonly kubeconfig?: string;
  readonly context?: string;
}

/** Loads a kubeconfig the way kubectl does. */
export function loadKubeConfig(
  options: { kubeconfig?: string | undefined; context?: string | undefined } = {},
): KubeConfig {
  const config = new KubeConfig();
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else {
      // With nothing to load, the client would fall back to http://localhost:8080 and then refuse
      // plain http with an error that names none of this.
      if (!defaultKubeconfigExists())
        throw new CapstanError(
          'KUBECONFIG_INVALID',
          `no kubeconfig: KUBECONFIG is not set, ${join(homedir(), '.kube', 'config')} does not exist, and this is not a pod; pass --kubeconfig FILE or set KUBECONFIG (capstan demo up and capstan dev-cluster up print one)`,
        );
      config.loadFromDefault();
    }
  } catch (error) {
    if (error instanceof CapstanError) throw error;
    throw new CapstanError(
      'KUBECONFIG_INVALID',
      `cannot load the kubeconfig ${options.kubeconfig ?? '(default)'}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (options.context) {
    if (!config.getContexts().some((c) => c.name === options.context)) {
      throw new CapstanError('KUBECONFIG_INVALID', `context '${options.context}' is not in the kubeconfig`);
    }
    config.setCurrentContext(options.context);
  }
  return config;
}

/** Whether loadFromDefault has something to load: KUBECONFIG, ~/.kube/config, or a pod's own account. */
function defaultKubeconfigExists(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env['KUBECONFIG'] ?? '') !== '') return true;
  if (existsSync(join(homedir(), '.kube', 'config'))) return true;
  return (
    (env['KUBERNETES_SERVICE_HOST'] ?? '') !== '' &&
    existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')
  );
}

/**
 * A KubeConfig from kubeconfig text that is not trusted (a cluster Secret): first reduced to one
 * context with inline credentials (core/kubeconfig.ts refuses exec, auth-provider and every field that
 * names a file), so that loading and using it can neither run a program nor read a file here.
 */
export function kubeConfigFromString(
  text: string,
  options: { source: string; context?: string | undefined },
): KubeConfig {
  return kubeConfigOf(parseKubeconfig(text, options));
}

/** The KubeConfig of a flat kubeconfig (inline credentials only). */
export function kubeConfigOf(flat: FlatKubeconfig): KubeConfig {
  const config = new KubeConfig();
  // JSON is YAML; the document holds only the fields core/kubeconfig.ts accepted.
  config.loadFromString(JSON.stringify(kubeconfigDocument(flat)));
  return config;
}

function resourcePath(type: ResourceType, namespace: string, name?: string): string {
  const base = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const ns = type.namespaced ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${type.plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

const subjectOf = (type: ResourceType, namespace: string, name: string) =>
  formatId({ group: type.group, kind: type.kind, namespace: type.namespaced ? namespace : '', name });

/** The Cluster port over the Kubernetes API: discovery, server-side apply, dry runs, deletes. */
export class KubeCluster implements Cluster {
  readonly client: RestClient;
  readonly #discovery: Discovery;
  readonly #config: KubeConfig;

  constructor(
    config: KubeConfig,
    options: RestClientOptions = {},
    shared?: { client: RestClient; discovery: Discovery },
  ) {
    this.client = shared?.client ?? new RestClient(config, options);
    this.#discovery = shared?.discovery ?? new Discovery(this.client);
    this.#config = config;
  }

  /**
   * The same cluster, every request made as `identity` (impersonation): the API server authorizes each
   * as that user, with its RBAC. Shares the connections and discovery; closing it closes nothing.
   */
  impersonating(identity: Impersonation): KubeCluster {
    return new KubeCluster(
      this.#config,
      {},
      { client: this.client.as(identity), discovery: this.#discovery },
    );
  }

  /** The kubeconfig it was made of (for a second client: a watch's own connections). */
  get config(): KubeConfig {
    return this.#config;
  }

  static fromKubeconfig(options: KubeClusterOptions = {}): KubeCluster {
    return new KubeCluster(loadKubeConfig(options), options);
  }

  close(): void {
    this.client.close();
  }

  async info(options: { refresh?: boolean } = {}): Promise<ClusterInfo> {
    if (options.refresh === true) this.#discovery.invalidate();
    const res = await this.client.call('GET', '/version');
    if (res.status !== 200) throw apiError(res.status, res.body, 'GET /version', 'get');
    return {
      gitVersion: (res.body as { gitVersion: string }).gitVersion,
      apiVersions: await this.#discovery.apiVersions(),
    };
  }

  resourceType(
    apiVersion: string,
    kind: string,
    options: { refresh?: boolean } = {},
  ): Promise<ResourceType | undefined> {
    return this.#discovery.resourceType(apiVersion, kind, options.refresh === true);
  }

  preferredType(
    group: string,
    kind: string,
    options: { refresh?: boolean } = {},
  ): Promise<ResourceType | undefined> {
    return this.#discovery.preferredType(group, kind, options.refresh === true);
  }

  async get(type: ResourceType, namespace: string, name: string): Promise<KubeObject | undefined> {
    const subject = subjectOf(type, namespace, name);
    const res = await this.client.call('GET', resourcePath(type, namespace, name), { subject });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw apiError(res.status, res.body, subject, 'get');
    return res.body as KubeObject;
  }

  async list(
    type: ResourceType,
    namespace: string,
    options: { labelSelector?: string } = {},
  ): Promise<KubeObject[]> {
    const query = options.labelSelector ? `?labelSelector=${encodeURIComponent(options.labelSelector)}` : '';
    const path = resourcePath(type, namespace) + query;
    const res = await this.client.call('GET', path, { subject: `list ${type.plural}` });
    if (res.status !== 200) throw apiError(res.status, res.body, `list ${type.plural}`, 'list');
    const list = res.body as { items?: KubeObject[] };
    return (list.items ?? []).map((item) => ({
      ...item,
      apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
      kind: type.kind,
    }));
  }

  async apply(type: ResourceType, object: KubeObject, options: ApplyOptions): Promise<ApplyResult> {
    const name = object.metadata.name ?? '';
    const namespace = object.metadata.namespace ?? '';
    const subject = subjectOf(type, namespace, name);
    const query = new URLSearchParams({ fieldManager: options.fieldManager, fieldValidation: 'Strict' });
    if (options.force === true) query.set('force', 'true');
    if (options.dryRun === true) query.set('dryRun', 'All');
    const res = await this.client.call(
      'PATCH',
      `${resourcePath(type, namespace, name)}?${query.toString()}`,
      {
        body: object,
        // JSON is YAML: the apply patch content type takes it as it is.
        contentType: 'application/apply-patch+yaml',
        subject,
      },
    );
    if (res.status !== 200 && res.status !== 201)
      throw apiError(res.status, res.body, subject, options.dryRun === true ? 'dry-run apply' : 'apply');
    return { object: res.body as KubeObject, created: res.status === 201 };
  }

  async delete(
    type: ResourceType,
    namespace: string,
    name: string,
    options: DeleteOptions = {},
  ): Promise<boolean> {
    const subject = subjectOf(type, namespace, name);
    const query = options.dryRun === true ? '?dryRun=All' : '';
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: options.propagationPolicy ?? 'Background',
      ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
      // With a body, the API server reads the options from it alone (the query's dryRun is not read).
      ...(options.dryRun === true ? { dryRun: ['All'] } : {}),
    };
    const res = await this.client.call('DELETE', resourcePath(type, namespace, name) + query, {
      body,
      subject,
    });
    if (res.status === 404) return false;
    if (res.status !== 200 && res.status !== 202) throw apiError(res.status, res.body, subject, 'delete');
    return true;
  }
}
