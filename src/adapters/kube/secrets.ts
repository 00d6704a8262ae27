// One value of a Secret, decoded: what a pipeline run's `secretRef` names (src/pipelines/run-pipeline.ts).
import type { Cluster } from '../../ports/cluster.ts';

/** The value under `key` of Secret `namespace/name` as UTF-8; undefined when the Secret or the key is absent. */
export async function secretValue(
  cluster: Cluster,
  namespace: string,
  name: string,
  key: string,
): Promise<string | undefined> {
  const type = await cluster.resourceType('v1', 'Secret');
  const secret = type ? await cluster.get(type, namespace, name) : undefined;
  const value = ((secret?.['data'] ?? {}) as Record<string, string>)[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}
