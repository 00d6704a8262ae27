/**
 * What drives the promotion driver (docs/promotions.md): environments are woken by events (their own
 * change, their Application's, their Pipeline's, the environment they follow) and by a slow resync, and
 * looked at one at a time, each as often as it asks (a step that moved is followed at once; a
 * committed promotion is looked at again when a clock of its gates runs out). An environment woken
 * while it is waiting or being looked at is looked at once more afterwards, never twice at once.
 */
import { messageOf } from '../core/errors.ts';
import type { ResolvedEnvironment } from '../contracts/environment.ts';
import type { Logger } from '../ports/logger.ts';

export interface PromotionQueueOptions {
  /** One step of one environment; in how many ms to look again without an event (undefined: wait for one). */
  readonly reconcile: (environment: ResolvedEnvironment) => Promise<number | undefined>;
  /** The environment of this key (`namespace/name`) as known now; undefined when it is gone. */
  readonly environment: (key: string) => ResolvedEnvironment | undefined;
  readonly log?: Logger;
}

/** Longest wait a timer is set for (the resync covers longer ones). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Steps in a row that moved, after which the environment waits PAUSE_MS (a step that keeps moving nothing forward). */
const MAX_STEPS_IN_A_ROW = 20;
const PAUSE_MS = 1_000;

export class PromotionQueue {
  readonly #options: PromotionQueueOptions;
  /** Keys to look at, in the order they were woken. */
  readonly #pending = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #inARow = new Map<string, number>();
  #working: Promise<void> | undefined;
  #stopped = false;
  /** Passes done (for tests and logs). */
  passes = 0;

  constructor(options: PromotionQueueOptions) {
    this.#options = options;
  }

  /** Looks at the environment soon (after the ones woken before it). */
  wake(key: string): void {
    if (this.#stopped) return;
    this.#pending.add(key);
    this.#working ??= this.#work().finally(() => {
      this.#working = undefined;
      if (this.#pending.size > 0 && !this.#stopped) this.wake([...this.#pending][0] ?? '');
    });
  }

  /** Stops: no new pass starts; resolves when the pass under way has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pending.clear();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await this.#working;
  }

  async #work(): Promise<void> {
    for (;;) {
      const [key] = this.#pending;
      if (key === undefined || this.#stopped) return;
      this.#pending.delete(key);
      const environment = this.#options.environment(key);
      if (environment === undefined) continue;
      this.passes++;
      let again: number | undefined;
      try {
        again = await this.#options.reconcile(environment);
      } catch (error) {
        this.#options.log?.({
          level: 'error',
          msg: 'promotion step failed',
          environment: key,
          error: messageOf(error),
        });
      }
      this.#after(key, again);
    }
  }

  /** Schedules the next look the step asked for. */
  #after(key: string, again: number | undefined): void {
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    const row = again === 0 ? (this.#inARow.get(key) ?? 0) + 1 : 0;
    if (row === 0) this.#inARow.delete(key);
    else this.#inARow.set(key, row);
    if (again === undefined || this.#stopped) return;
    if (again <= 0 && row < MAX_STEPS_IN_A_ROW) {
      this.#pending.add(key);
      return;
    }
    if (again <= 0) this.#inARow.delete(key);
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        this.wake(key);
      },
      again <= 0 ? PAUSE_MS : Math.min(again, MAX_TIMER_MS),
    );
    timer.unref();
    this.#timers.set(key, timer);
  }
}
