import type { ResourceType } from '../../ports/cluster.ts';
import { apiError } from './errors.ts';
import type { RestClient } from './rest-client.ts';

interface ApiResourceList {
  groupVersion?: string;
  resources?: { name: string; kind: string; namespaced: boolean }[];
}

interface ApiGroupList {
  groups?: {
    name: string;
    preferredVersion?: { version: string };
    versions?: { groupVersion: string; version: string }[];
  }[];
}

/**
 * Discovery with a cache per group/version. A miss re-reads that group/version once (a CRD created in the
 * same sync becomes visible); `refresh` drops everything cached.
 */
export class Discovery {
  readonly #client: RestClient;
  readonly #byGroupVersion = new Map<string, Promise<Map<string, ResourceType> | undefined>>();
  #groups: Promise<ApiGroupList> | undefined;

  constructor(client: RestClient) {
    this.#client = client;
  }

  invalidate(): void {
    this.#byGroupVersion.clear();
    this.#groups = undefined;
  }

  async resourceType(apiVersion: string, kind: string, refresh = false): Promise<ResourceType | undefined> {
    if (refresh) this.#byGroupVersion.delete(apiVersion);
    let found = (await this.#load(apiVersion))?.get(kind);
    if (!found && !refresh) {
      this.#byGroupVersion.delete(apiVersion);
      found = (await this.#load(apiVersion))?.get(kind);
    }
    return found;
  }

  async preferredType(group: string, kind: string, refresh = false): Promise<ResourceType | undefined> {
    if (group === '') return this.resourceType('v1', kind, refresh);
    if (refresh) this.#groups = undefined;
    let entry = (await this.#groupList()).groups?.find((g) => g.name === group);
    if (!entry && !refresh) {
      this.#groups = undefined;
      entry = (await this.#groupList()).groups?.find((g) => g.name === group);
    }
    if (!entry) return undefined;
    const versions = [
      entry.preferredVersion?.version,
      ...(entry.versions ?? []).map((v) => v.version),
    ].filter((v): v is string => v !== undefined);
    for (const version of [...new Set(versions)]) {
      const type = await this.resourceType(`${group}/${version}`, kind, refresh);
      if (type) return type;
    }
    return undefined;
  }

  /** Every served group/version and group/version/Kind. */
  async apiVersions(): Promise<string[]> {
    const core = await this.#load('v1');
    const result = ['v1', ...[...(core?.values() ?? [])].map((t) => `v1/${t.kind}`)];
    for (const group of (await this.#groupList()).groups ?? []) {
      for (const v of group.versions ?? []) {
        result.push(v.groupVersion);
        const types = await this.#load(v.groupVersion);
        for (const t of types?.values() ?? []) result.push(`${v.groupVersion}/${t.kind}`);
      }
    }
    return [...new Set(result)].sort();
  }

  #groupList(): Promise<ApiGroupList> {
    this.#groups ??= this.#client.call('GET', '/apis').then((res) => {
      if (res.status !== 200) throw apiError(res.status, res.body, 'discovery /apis', 'discovery');
      return res.body as ApiGroupList;
    });
    const pending = this.#groups;
    pending.catch(() => {
      if (this.#groups === pending) this.#groups = undefined;
    });
    return pending;
  }

  #load(apiVersion: string): Promise<Map<string, ResourceType> | undefined> {
    let pending = this.#byGroupVersion.get(apiVersion);
    if (!pending) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const [group, version] = apiVersion.includes('/')
        ? (apiVersion.split('/') as [string, string])
        : ['', apiVersion];
      pending = this.#client.call('GET', path).then((res) => {
        if (res.status === 404) return undefined;
        if (res.status !== 200) throw apiError(res.status, res.body, `discovery ${path}`, 'discovery');
        const types = new Map<string, ResourceType>();
        for (const r of (res.body as ApiResourceList).resources ?? []) {
          if (r.name.includes('/')) continue; // sub-resources: deployments/status, pods/log, ...
          types.set(r.kind, { group, version, kind: r.kind, plural: r.name, namespaced: r.namespaced });
        }
        return types;
      });
      this.#byGroupVersion.set(apiVersion, pending);
      const stored = pending;
      stored.catch(() => {
        if (this.#byGroupVersion.get(apiVersion) === stored) this.#byGroupVersion.delete(apiVersion);
      });
    }
    return pending;
  }
}
