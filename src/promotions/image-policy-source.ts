/**
 * An Environment that follows an image repository (spec.source.imagePolicy, docs/promotions.md): at
 * each interval the repository's tags are listed, the newest in the semver range is chosen
 * (src/core/image-policy.ts) and resolved to its digest, and a promotion of `repository@digest` is
 * requested when the choice changed. What was chosen, when, and why nothing could be chosen (no tag
 * in the range, a registry that refuses, a range that is not one) is written to the Environment's
 * `status.imagePolicy`; an error promotes nothing and leaves the rest of the Environment as it was.
 *
 * With `wake` (the server), the registry is asked in the background, at most `concurrency` (default 4)
 * registries at a time, so that a slow registry holds no other environment's promotions: the end of a
 * look wakes its environment, whose next step takes its result. Without it (tests, one pass), a look
 * is awaited in the step.
 *
 * Built on core, contracts and ports only: the registry comes in as ImagePolicyDeps.images (the PolicyImages port).
 */
import type {
  EnvironmentStatus,
  ResolvedEnvironment,
  ResolvedImagePolicy,
} from '../contracts/environment.ts';
import { messageOf } from '../core/errors.ts';
import { compilePolicy, noTagMatches, parseImageRepository } from '../core/image-policy.ts';
import type { Logger } from '../ports/logger.ts';
import type { PolicyImages } from '../ports/policy-images.ts';

export type ImagePolicyStatus = NonNullable<EnvironmentStatus['imagePolicy']>;

export interface ImagePolicyDeps {
  readonly images: PolicyImages;
  /** Writes status.imagePolicy alone (a merge patch: absent fields removed). */
  readonly writePolicyStatus: (namespace: string, name: string, status: ImagePolicyStatus) => Promise<void>;
  /** Told of each look at a registry (for metrics). */
  readonly checked?: (environment: ResolvedEnvironment, result: 'chosen' | 'failed') => void;
  /** Looks at the environment soon: the registry is then asked in the background (see above). */
  readonly wake?: (namespace: string, name: string) => void;
  /** Registries asked at once, in the background. Default 4. */
  readonly concurrency?: number;
  readonly now: () => Date;
  readonly log?: Logger;
}

/** What a look chose: the image to promote when it changed. */
export interface PolicyChoice {
  readonly tag: string;
  readonly image: string;
}

const FIELD = 'spec.source.imagePolicy';

/** A look at a registry: for which policy, when it began, and (once it ended) what it found. */
interface Asked {
  readonly policy: string;
  readonly at: Date;
  outcome?: { readonly choice: PolicyChoice } | { readonly error: unknown };
}

export class ImagePolicySource {
  readonly #deps: ImagePolicyDeps;
  /** Per environment: when its registry was last asked, for which policy, and what it chose. */
  readonly #looked = new Map<string, { at: number; policy: string; status: ImagePolicyStatus }>();
  /** Looks under way or ended and not yet taken, by environment. */
  readonly #asked = new Map<string, Asked>();
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(deps: ImagePolicyDeps) {
    this.#deps = deps;
  }

  /** In how many ms the environment's policy is due again; undefined when it has none. */
  dueIn(env: ResolvedEnvironment): number | undefined {
    const policy = env.fromImagePolicy;
    if (policy === undefined) return undefined;
    const asked = this.#asked.get(keyOf(env));
    // Under way: its end wakes the environment; ended: its result is to be taken now.
    if (asked?.policy === JSON.stringify(policy)) return asked.outcome === undefined ? undefined : 0;
    const looked = this.#looked.get(keyOf(env));
    if (looked === undefined || looked.policy !== JSON.stringify(policy)) return 0;
    return Math.max(0, looked.at + policy.intervalSeconds * 1000 - this.#deps.now().getTime());
  }

  /**
   * When due: the registry asked; a choice that differs from the one before handed to `promote` (which
   * requests its promotion), then recorded in the status. True when `promote` was called.
   */
  async look(env: ResolvedEnvironment, promote: (choice: PolicyChoice) => Promise<void>): Promise<boolean> {
    const policy = env.fromImagePolicy;
    if (policy === undefined || this.dueIn(env) !== 0) return false;
    const key = keyOf(env);
    let asked = this.#asked.get(key);
    if (asked?.policy !== JSON.stringify(policy)) {
      const started = this.#ask(env, policy);
      if (this.#deps.wake !== undefined) return false;
      await started.done;
      asked = started;
    }
    const { at, outcome } = asked;
    if (outcome === undefined) return false;
    this.#asked.delete(key);
    return this.#take(env, policy, at, outcome, promote);
  }

  /** Starts a look at the registry (waiting for a free slot); its end wakes the environment. */
  #ask(env: ResolvedEnvironment, policy: ResolvedImagePolicy): Asked & { readonly done: Promise<void> } {
    const key = keyOf(env);
    const asked: Asked = { policy: JSON.stringify(policy), at: this.#deps.now() };
    this.#asked.set(key, asked);
    const done = this.#bounded(() => this.#choose(env, policy)).then(
      (choice) => {
        asked.outcome = { choice };
      },
      (error: unknown) => {
        asked.outcome = { error };
      },
    );
    const { wake } = this.#deps;
    if (wake !== undefined)
      void done.then(() => {
        // Not when a newer look (a changed policy) took its place.
        if (this.#asked.get(key) === asked) wake(env.namespace, env.name);
      });
    return Object.assign(asked, { done });
  }

  /** Runs `work` once fewer than `concurrency` looks are under way. */
  async #bounded<T>(work: () => Promise<T>): Promise<T> {
    while (this.#running >= (this.#deps.concurrency ?? 4))
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running++;
    try {
      return await work();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /** A look's result: recorded, the status written when it changed, a new choice promoted first. */
  async #take(
    env: ResolvedEnvironment,
    policy: ResolvedImagePolicy,
    at: Date,
    outcome: NonNullable<Asked['outcome']>,
    promote: (choice: PolicyChoice) => Promise<void>,
  ): Promise<boolean> {
    const key = keyOf(env);
    const before: ImagePolicyStatus = this.#looked.get(key)?.status ?? env.status?.imagePolicy ?? {};
    if ('error' in outcome) {
      // Bounded: the status holds 2048 characters of it.
      const message = `${subjectOf(env)}: ${messageOf(outcome.error)}`.slice(0, 2000);
      // Logged when the reason changes, not at every interval.
      if (before.error !== message)
        this.#deps.log?.({ level: 'warn', msg: 'image policy chose nothing', error: message });
      this.#deps.checked?.(env, 'failed');
      const status = { ...withoutError(before), error: message, errorAt: at.toISOString() };
      await this.#record(env, policy, at, status, before.error === message ? undefined : status);
      return false;
    }
    const { choice } = outcome;
    this.#deps.checked?.(env, 'chosen');
    const changed = choice.image !== before.image;
    // Promoted before it is recorded: a request that failed is made again at the next look.
    if (changed) await promote(choice);
    const status: ImagePolicyStatus = changed
      ? { tag: choice.tag, image: choice.image, chosenAt: at.toISOString() }
      : { ...withoutError(before), tag: choice.tag };
    const write = changed || before.error !== undefined || before.tag !== choice.tag;
    await this.#record(env, policy, at, status, write ? status : undefined);
    if (changed)
      this.#deps.log?.({
        level: 'info',
        msg: 'image policy chose a new image',
        environment: key,
        tag: choice.tag,
        image: choice.image,
      });
    return changed;
  }

  /** The newest tag in the range, and its digest; an error that names the field when there is none. */
  async #choose(env: ResolvedEnvironment, policy: ResolvedImagePolicy): Promise<PolicyChoice> {
    parseImageRepository(policy.repository, `${FIELD}.repository`);
    const picker = compilePolicy(policy, FIELD);
    const tags = await this.#deps.images.tags(env, policy).catch((error: unknown) => {
      throw new Error(`${FIELD}.repository: ${messageOf(error)}`);
    });
    const chosen = picker.pick(tags);
    if (chosen === undefined) throw new Error(noTagMatches(FIELD, policy, tags));
    const digest = await this.#deps.images.digest(env, policy, chosen.tag).catch((error: unknown) => {
      throw new Error(`${FIELD}.repository: ${messageOf(error)}`);
    });
    return { tag: chosen.tag, image: `${policy.repository}@${digest}` };
  }

  /** Remembers the look (so the next waits for the interval), and writes the status when it changed. */
  async #record(
    env: ResolvedEnvironment,
    policy: ResolvedImagePolicy,
    at: Date,
    status: ImagePolicyStatus,
    write: ImagePolicyStatus | undefined,
  ): Promise<void> {
    const key = keyOf(env);
    const previous = this.#looked.get(key);
    this.#looked.set(key, { at: at.getTime(), policy: JSON.stringify(policy), status });
    if (write === undefined) return;
    try {
      await this.#deps.writePolicyStatus(env.namespace, env.name, write);
    } catch (error) {
      // Not remembered: the next look writes it again (and may request the promotion again).
      if (previous === undefined) this.#looked.delete(key);
      else this.#looked.set(key, previous);
      throw error;
    }
  }
}

const keyOf = (env: ResolvedEnvironment) => `${env.namespace}/${env.name}`;
const subjectOf = (env: ResolvedEnvironment) => `Environment/${env.namespace}/${env.name}`;

function withoutError(status: ImagePolicyStatus): ImagePolicyStatus {
  const { error: _error, errorAt: _errorAt, ...rest } = status;
  return rest;
}
