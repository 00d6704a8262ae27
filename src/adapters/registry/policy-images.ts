/**
 * The registry as an Environment's image policy reads it (spec.source.imagePolicy, docs/promotions.md):
 * the repository's tags and a tag's digest, through the OCI distribution client, with the credentials
 * of the Secret the policy names (its `.dockerconfigjson` entry for the registry's host: they are sent
 * to that host only) and the CA of its `ca.crt`. Few attempts and a short time limit: the driver looks
 * again at the next interval.
 */
import type { ResolvedEnvironment, ResolvedImagePolicy } from '../../contracts/environment.ts';
import { CapstanError } from '../../core/errors.ts';
import { parseImageRepository } from '../../core/image-policy.ts';
import { secretText } from '../../core/secret-data.ts';
import type { Cluster } from '../../ports/cluster.ts';
import type { PolicyImages } from '../../ports/policy-images.ts';
import { credentialsFromDockerConfig, OciRegistry, type RegistryCredentials } from './oci-registry.ts';

const FIELD = 'spec.source.imagePolicy';

export interface PolicyImagesOptions {
  /** Attempts per request (default 2) and each one's time limit (default 20 s). */
  readonly attempts?: number;
  readonly timeoutMs?: number;
}

/** `tags` and `digest` of an Environment's policy repository, on this cluster's Secrets. */
export function policyImages(cluster: Cluster, options: PolicyImagesOptions = {}): PolicyImages {
  const registryOf = async (env: ResolvedEnvironment, policy: ResolvedImagePolicy) => {
    const { registry, path } = parseImageRepository(policy.repository, `${FIELD}.repository`);
    let credentials: RegistryCredentials | undefined;
    let ca: string | undefined;
    if (policy.secretRef !== undefined) {
      const subject = `Secret/${env.namespace}/${policy.secretRef}`;
      const type = await cluster.resourceType('v1', 'Secret');
      const secret =
        type === undefined ? undefined : await cluster.get(type, env.namespace, policy.secretRef);
      if (secret === undefined)
        throw new CapstanError('PROMOTION_CONFIG_INVALID', `${FIELD}.secretRef: ${subject} does not exist`, {
          subject,
        });
      const config = secretText(secret, '.dockerconfigjson', subject);
      if (config !== undefined) {
        try {
          credentials = credentialsFromDockerConfig(config, registry);
        } catch {
          throw new CapstanError(
            'PROMOTION_CONFIG_INVALID',
            `${FIELD}.secretRef: ${subject}: its .dockerconfigjson is not JSON`,
            { subject },
          );
        }
        if (credentials === undefined)
          throw new CapstanError(
            'PROMOTION_CONFIG_INVALID',
            `${FIELD}.secretRef: ${subject}: its .dockerconfigjson has no auths entry for ${registry}`,
            { subject },
          );
      }
      ca = secretText(secret, 'ca.crt', subject);
    }
    const client = new OciRegistry({
      registry,
      ...(credentials === undefined ? {} : { credentials }),
      ...(ca === undefined ? {} : { ca }),
      attempts: options.attempts ?? 2,
      retryDelayMs: 1_000,
      timeoutMs: options.timeoutMs ?? 20_000,
    });
    return { client, path };
  };
  return {
    tags: async (env: ResolvedEnvironment, policy: ResolvedImagePolicy): Promise<readonly string[]> => {
      const { client, path } = await registryOf(env, policy);
      return client.tags(path);
    },
    digest: async (env: ResolvedEnvironment, policy: ResolvedImagePolicy, tag: string): Promise<string> => {
      const { client, path } = await registryOf(env, policy);
      return client.digest(path, tag);
    },
  };
}
