/**
 * Pipeline caches (the pipeline file's `caches`, docs/pipelines.md "Caches"): folders of the workspace
 * kept between runs of one Pipeline, on a PersistentVolumeClaim of that Pipeline alone. The run Pod's
 * checkout restores them after the checkout, and its last container (`capstan`, Capstan's image) saves
 * them once every step succeeded. An entry is keyed by the hash of the cache's key file (a lockfile)
 * together with the project, namespace, Pipeline and cache name: a new lockfile, a new entry; nothing
 * is ever shared across Pipelines, so never across projects. Pure: names, keys and the commands.
 */
import { createHash } from 'node:crypto';

/** Where the cache volume is mounted in the checkout and save containers (steps do not see it). */
export const CACHE_MOUNT = '/cache';
/** The name of the Pod's volume. */
export const CACHE_VOLUME = 'cache';
/** The container that saves the caches: the Pod's last, after every step (a reserved step name). */
export const CACHE_SAVE_CONTAINER = 'capstan';
/** The version of the key's layout: a change of layout changes every key. */
const KEY_VERSION = 'capstan-cache-v1';

/** A cache as the pipeline file defines it. */
export interface CacheDefinition {
  readonly name: string;
  /** The file whose content keys the cache, relative to the checkout. */
  readonly key: string;
  /** Folders of the workspace the cache keeps, relative to the checkout. */
  readonly paths: readonly string[];
}

/** Whose caches: the Pipeline (in its namespace and project). */
export interface CacheOwner {
  readonly project: string;
  readonly namespace: string;
  readonly pipeline: string;
}

/** The PersistentVolumeClaim that holds a Pipeline's caches: `capstan-cache-<pipeline>`, in its namespace. */
export function cacheClaimName(pipeline: string): string {
  return `capstan-cache-${pipeline}`.slice(0, 63).replace(/-+$/, '');
}

/** The size a cache claim asks for. */
export const CACHE_CLAIM_SIZE = '10Gi';
/** The label that marks a claim as a Pipeline's cache (its value: the Pipeline's name). */
export const CACHE_CLAIM_LABEL = 'capstan.dev/pipeline-cache';

/**
 * The claim of a Pipeline's caches, made before its first run with caches (the cluster's default
 * StorageClass; ReadWriteOnce: runs of the Pipeline on another node wait for it).
 */
export function cacheClaimManifest(
  namespace: string,
  pipeline: string,
): {
  apiVersion: 'v1';
  kind: 'PersistentVolumeClaim';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: object;
} {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: cacheClaimName(pipeline), namespace, labels: { [CACHE_CLAIM_LABEL]: pipeline } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: CACHE_CLAIM_SIZE } } },
  };
}

/** The sha256 of the key file's bytes, hex. */
export function keyFileDigest(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * The key of a cache entry: a sha256 over the owner, the cache's name, its key file's path and that
 * file's digest. Two Pipelines never share an entry, even with the same lockfile.
 */
export function cacheKey(
  owner: CacheOwner,
  cache: Pick<CacheDefinition, 'name' | 'key'>,
  digest: string,
): string {
  const text = JSON.stringify([
    KEY_VERSION,
    owner.project,
    owner.namespace,
    owner.pipeline,
    cache.name,
    cache.key,
    digest,
  ]);
  return createHash('sha256').update(text).digest('hex');
}

/** Where an entry lives on the volume, relative to its mount: `<cache name>/<key>`. */
export function cacheEntryPath(cacheName: string, key: string): string {
  return `${cacheName}/${key}`;
}

/**
 * The flags that name a run's caches, for `capstan pipeline checkout` (which restores them after the
 * checkout) and `capstan pipeline cache save`: where the volume is, whose caches, and their definitions
 * (JSON arguments, never spliced into a shell).
 */
export function cacheFlags(owner: CacheOwner, caches: readonly CacheDefinition[]): string[] {
  const definitions = caches.map((c) => ({ name: c.name, key: c.key, paths: [...c.paths] }));
  return [
    '--cache-dir',
    CACHE_MOUNT,
    '--cache-owner',
    JSON.stringify(owner),
    '--caches',
    JSON.stringify(definitions),
  ];
}

/** The arguments of the save container: `capstan pipeline cache save --workspace W <cacheFlags>`. */
export function cacheSaveArgs(
  owner: CacheOwner,
  caches: readonly CacheDefinition[],
  workspace: string,
): string[] {
  return ['pipeline', 'cache', 'save', '--workspace', workspace, ...cacheFlags(owner, caches)];
}
