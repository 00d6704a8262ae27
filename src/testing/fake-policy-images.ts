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
  /** tags() calls under way now, and the most there were at once. */
  listing = 0;
  mostAtOnce = 0;
  #held: Promise<void> | undefined;

  /** tags() answers only once the function returned is called (a slow registry). */
  hold(): () => void {
    let release = () => {};
    this.#held = new Promise<void>((resolve) => {
      release = () => {
        this.#held = undefined;
        resolve();
      };
    });
    return release;
  }

  /** Makes `tag` of `repository` name `digest` (a tag pushed again moves). */
  push(repository: string, tag: string, digest: string): void {
    const tags = this.#repositories.get(repository) ?? new Map<string, string>();
    tags.set(tag, digest);
    this.#repositories.set(repository, tags);
  }

  async tags(_environment: ResolvedEnvironment, policy: ResolvedImagePolicy): Promise<readonly string[]> {
    this.listed++;
    this.listing++;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.listing);
    try {
      await this.#held;
      if (this.refuse !== undefined) throw this.#refusal();
      return [...(this.#repositories.get(policy.repository)?.keys() ?? [])];
    } finally {
      this.listing--;
    }
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
