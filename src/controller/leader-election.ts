import type { Clock } from '../ports/clock.ts';
import type { LeaseLock, LeaseRecord, VersionedLease } from '../ports/lease.ts';

export interface LeaderElectionOptions {
  /** The Lease the candidates compete for. */
  readonly lock: LeaseLock;
  /** This candidate's name, unique among the replicas (for example pod name and a random suffix). */
  readonly identity: string;
  readonly clock: Clock;
  /** How long a lease is valid after its last renewal, seen from the other candidates. Default 15 s. */
  readonly leaseDurationSeconds?: number;
  /** A leader that could not renew for this long steps down (must be shorter than the lease). Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** Pause between tries to acquire or renew. Default 2 s. */
  readonly retryPeriodMs?: number;
  /** Tries to acquire wait retryPeriod × (1 + random × jitterFactor). Default 0.2. */
  readonly jitterFactor?: number;
  /** On a graceful stop, empty the Lease's holder so that another candidate takes over at once. Default true. */
  readonly releaseOnCancel?: boolean;
  /**
   * Called when this candidate becomes leader. `signal` is aborted when leadership ends (lost, or
   * `run`'s signal aborted): the work must stop promptly then, within leaseDuration − renewDeadline
   * when leadership is lost. The promise it returns is awaited before the lease is released or
   * sought again, so that two leaders never work at once.
   */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called when leadership has ended and the work of `onStartedLeading` has stopped. */
  readonly onStoppedLeading?: () => void;
  /** Called when the observed holder of the lease changes (including to this candidate); '' when released. */
  readonly onNewLeader?: (identity: string) => void;
  /** Failures to read or write the lease, and errors thrown by the callbacks. Default: ignored (retried). */
  readonly onError?: (error: unknown) => void;
  /** For the jitter. Default Math.random. */
  readonly random?: () => number;
}

export const DEFAULT_LEADER_ELECTION = {
  leaseDurationSeconds: 15,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  jitterFactor: 0.2,
} as const;

/**
 * Leader election over a Lease, like client-go's leaderelection: a candidate acquires the Lease when
 * it is free, released or expired, renews it every retry period while it leads, writes with optimistic
 * concurrency (the write of a candidate that lost the race fails with a conflict), and steps down when
 * it could not renew within the renew deadline. A lease counts as expired when it has not changed for
 * its duration as measured by this candidate's own clock, so the candidates' clocks need not agree.
 *
 * `run` campaigns until its signal is aborted: after losing leadership it waits for the work to stop
 * and becomes a candidate again.
 */
export class LeaderElector {
  readonly #lock: LeaseLock;
  readonly #identity: string;
  readonly #clock: Clock;
  readonly #leaseDurationSeconds: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #jitterFactor: number;
  readonly #releaseOnCancel: boolean;
  readonly #options: LeaderElectionOptions;
  readonly #random: () => number;

  /** The lease as last seen, and when (by our clock) it last changed. */
  #observed: VersionedLease | undefined;
  #observedAt = 0;
  /** The renew time of our last successful write of the lease (our clock, ms). */
  #lastWrite = 0;
  #leading = false;
  #running = false;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#lock = options.lock;
    this.#identity = options.identity;
    this.#clock = options.clock;
    this.#leaseDurationSeconds = options.leaseDurationSeconds ?? DEFAULT_LEADER_ELECTION.leaseDurationSeconds;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? DEFAULT_LEADER_ELECTION.renewDeadlineMs;
    this.#retryPeriodMs = options.retryPeriodMs ?? DEFAULT_LEADER_ELECTION.retryPeriodMs;
    this.#jitterFactor = options.jitterFactor ?? DEFAULT_LEADER_ELECTION.jitterFactor;
    this.#releaseOnCancel = options.releaseOnCancel ?? true;
    this.#random = options.random ?? Math.random;
    if (!this.#identity) throw new RangeError('leader election: identity must not be empty');
    if (!Number.isInteger(this.#leaseDurationSeconds) || this.#leaseDurationSeconds < 1) {
      throw new RangeError(
        'leader election: leaseDurationSeconds must be a whole number of seconds, at least 1',
      );
    }
    if (!(this.#renewDeadlineMs < this.#leaseDurationSeconds * 1000)) {
      throw new RangeError('leader election: renewDeadlineMs must be shorter than the lease duration');
    }
    if (
      !(this.#retryPeriodMs > 0) ||
      !(this.#retryPeriodMs * (1 + this.#jitterFactor) < this.#renewDeadlineMs)
    ) {
      throw new RangeError(
        'leader election: retryPeriodMs (with jitter) must be positive and shorter than renewDeadlineMs',
      );
    }
  }

  get identity(): string {
    return this.#identity;
  }

  /** True while this candidate leads (between onStartedLeading and the end of its term). */
  get isLeader(): boolean {
    return this.#leading;
  }

  /** The holder of the lease as last observed; '' when nobody holds it or it was not read yet. */
  get leader(): string {
    return this.#observed?.record.holderIdentity ?? '';
  }

  /**
   * Campaigns, leads, and campaigns again after a lost term, until `signal` is aborted. Then the work
   * is stopped, the lease released (`releaseOnCancel`), and the promise resolves.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error('leader election: run() is already running');
    this.#running = true;
    const stopped = () => signal.aborted;
    try {
      while (!stopped()) {
        if (!(await this.#acquire(signal))) break;
        if (stopped()) {
          // Stopped while the lease was being taken: no term starts; hand the lease on at once.
          if (this.#releaseOnCancel) await this.#release();
          break;
        }
        await this.#lead(signal);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Tries to acquire every retry period until it does (true) or `signal` is aborted (false). */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal.aborted) return false;
      if (await this.#tryAcquireOrRenew()) return true;
      const jitter = 1 + this.#random() * this.#jitterFactor;
      await this.#clock.sleep(this.#retryPeriodMs * jitter, signal);
    }
  }

  /** One term: start the work, renew until lost or stopped, stop the work, release, report. */
  async #lead(signal: AbortSignal): Promise<void> {
    const term = new AbortController();
    const stop = () => {
      term.abort(signal.reason);
    };
    signal.addEventListener('abort', stop, { once: true });
    this.#leading = true;
    // Start the work now, while `term.signal` is not aborted yet (a listener it adds will hear the
    // end of the term); errors in it are reported, never thrown at the elector.
    let work: Promise<void>;
    try {
      work = Promise.resolve(this.#options.onStartedLeading(term.signal)).catch((error: unknown) => {
        this.#options.onError?.(error);
      });
    } catch (error) {
      this.#options.onError?.(error);
      work = Promise.resolve();
    }
    try {
      // Renew until a renewal misses its deadline or we are stopped.
      await this.#renew(term.signal);
    } finally {
      signal.removeEventListener('abort', stop);
      term.abort(new Error('leadership ended'));
      // Wait for the work to stop before anyone else may lead.
      await work;
      this.#leading = false;
      if (signal.aborted && this.#releaseOnCancel) await this.#release();
      this.#callback(() => this.#options.onStoppedLeading?.());
    }
  }

  /** Renews every retry period; returns when a renewal fails past the renew deadline or `signal` is aborted. */
  async #renew(signal: AbortSignal): Promise<void> {
    const stopped = () => signal.aborted;
    let lastRenewed = this.#lastWrite;
    for (;;) {
      await this.#clock.sleep(this.#retryPeriodMs, signal);
      if (stopped()) return;
      const deadline = lastRenewed + this.#renewDeadlineMs;
      const started = this.#clock.now().getTime();
      if (started >= deadline) return; // could not renew in time: leadership lost
      const renewed = await this.#within(deadline - started, this.#tryAcquireOrRenew());
      if (stopped()) return;
      // The lease runs from the renew time we wrote (taken before the request was sent).
      if (renewed) lastRenewed = this.#lastWrite;
      else if (this.#clock.now().getTime() >= deadline) return;
    }
  }

  /** One round: create the lease, or take it if free or expired, or renew it if ours. True if we hold it now. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    try {
      const now = this.#clock.now();
      const current = await this.#lock.get();
      if (!current) {
        const created = await this.#lock.create(this.#record(now, undefined));
        if (!created) return false;
        this.#observe(created);
        this.#lastWrite = now.getTime();
        return true;
      }
      this.#observe(current);
      const holder = current.record.holderIdentity;
      if (holder !== '' && holder !== this.#identity && !this.#expired()) return false;
      const updated = await this.#lock.update(this.#record(now, current.record), current.resourceVersion);
      if (!updated) return false; // another candidate wrote first
      this.#observe(updated);
      this.#lastWrite = now.getTime();
      return true;
    } catch (error) {
      this.#options.onError?.(error);
      return false;
    }
  }

  /** Our record: acquire time and transitions kept when we already hold the lease. */
  #record(now: Date, previous: LeaseRecord | undefined): LeaseRecord {
    const ours = previous?.holderIdentity === this.#identity;
    return {
      holderIdentity: this.#identity,
      leaseDurationSeconds: this.#leaseDurationSeconds,
      acquireTime: ours ? (previous.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions:
        previous === undefined ? 0 : ours ? previous.leaseTransitions : previous.leaseTransitions + 1,
    };
  }

  /** Notes the lease as read; a new resourceVersion means its holder wrote it, so its lease restarts now. */
  #observe(lease: VersionedLease): void {
    const before = this.#observed;
    if (before?.resourceVersion !== lease.resourceVersion) this.#observedAt = this.#clock.now().getTime();
    this.#observed = lease;
    const holder = lease.record.holderIdentity;
    if (before?.record.holderIdentity !== holder) this.#callback(() => this.#options.onNewLeader?.(holder));
  }

  #expired(): boolean {
    const durationMs = (this.#observed?.record.leaseDurationSeconds ?? 0) * 1000;
    return this.#clock.now().getTime() >= this.#observedAt + durationMs;
  }

  /** Empties the holder (with a 1 s duration) if we still hold the lease, so another candidate takes it at once. */
  async #release(): Promise<void> {
    const observed = this.#observed;
    if (observed?.record.holderIdentity !== this.#identity) return;
    const now = this.#clock.now();
    const record: LeaseRecord = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: observed.record.leaseTransitions,
    };
    try {
      const released = await this.#within(
        this.#renewDeadlineMs,
        this.#lock.update(record, observed.resourceVersion).then((lease) => {
          if (lease) this.#observe(lease);
          return lease !== undefined;
        }),
      );
      if (!released) this.#options.onError?.(new Error(`could not release ${this.#lock.describe()} in time`));
    } catch (error) {
      this.#options.onError?.(error);
    }
  }

  /** The promise's value, or false if it takes longer than `ms` (it then runs on, unobserved). */
  async #within(ms: number, promise: Promise<boolean>): Promise<boolean> {
    const timer = new AbortController();
    const timeout = this.#clock.sleep(ms, timer.signal).then(() => false);
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      timer.abort();
    }
  }

  #callback(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#options.onError?.(error);
    }
  }
}
