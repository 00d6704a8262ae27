/**
 * A registry in memory for image policies (the PolicyImages port): tags pushed with their digests,
 * per repository; a refusal can be set (as a registry that answers 401). Passes
 * policy-images-contract.ts in the unit tier, as the real adapter does against a real registry.
 */
import type { ResolvedEnvironment, ResolvedImagePolicy } from '../contracts/environment.ts';
import { CapstanError } from '../core/errors.ts';
import type { PolicyImages } from '../ports/policy-images.ts';

export class FakePolicyImages implements PolicyImages {
  /** repository → tag → digest, in the order pushed. */
  readonly #repositories = new Map<string, Map<string, string>>();
  /** When set, every call is refused with this message. */
  refuse: string | undefined;
  /** Calls of tags(). */
  listed = 0;

  /** Makes `tag` of `repository` name `digest` (a tag pushed again moves). */
  push(repository: string, tag: string, digest: string): void {
    const tags = this.#repositories.get(repository) ?? new Map<string, string>();
    tags.set(tag, digest);
    this.#repositories.set(repository, tags);
  }

  tags(_environment: ResolvedEnvironment, policy: ResolvedImagePolicy): Promise<readonly string[]> {
    this.listed++;
    if (this.refuse !== undefined) return Promise.reject(this.#refusal());
    return Promise.resolve([...(this.#repositories.get(policy.repository)?.keys() ?? [])]);
  }

  digest(_environment: ResolvedEnvironment, policy: ResolvedImagePolicy, tag: string): Promise<string> {
    if (this.refuse !== undefined) return Promise.reject(this.#refusal());
    const digest = this.#repositories.get(policy.repository)?.get(tag);
    if (digest === undefined)
      return Promise.reject(
        new CapstanError(
          'PIPELINE_REGISTRY_FAILED',
          `${policy.repository}:${tag}: the registry answered 404`,
        ),
      );
    return Promise.resolve(digest);
  }

  #refusal(): CapstanError {
    return new CapstanError('PIPELINE_REGISTRY_FAILED', this.refuse ?? '');
  }
}
