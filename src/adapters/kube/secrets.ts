// One value of a Secret, decoded: what a pipeline run's `secretRef` names (src/pipelines/run-pipeline.ts).
import { secretText } from '../../core/secret-data.ts';
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
  return secretText(secret, key, `Secret/${namespace}/${name}`);
}
