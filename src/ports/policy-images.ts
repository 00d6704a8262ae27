/**
 * The image registry as an Environment's image policy reads it (spec.source.imagePolicy,
 * docs/promotions.md): the tags of the policy's repository, and the digest a tag names now. The real
 * adapter is src/adapters/registry/policy-images.ts (the OCI distribution API, with the credentials of
 * the policy's Secret); the fake is src/testing/fake-policy-images.ts; both pass
 * src/testing/policy-images-contract.ts.
 */
import type { ResolvedEnvironment, ResolvedImagePolicy } from '../contracts/environment.ts';

export interface PolicyImages {
  /** Every tag of the policy's repository, in the registry's order. */
  tags(environment: ResolvedEnvironment, policy: ResolvedImagePolicy): Promise<readonly string[]>;
  /** The digest (`sha256:…`) of the manifest the tag names now; rejects for a tag the repository lacks. */
  digest(environment: ResolvedEnvironment, policy: ResolvedImagePolicy, tag: string): Promise<string>;
}
