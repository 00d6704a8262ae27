/**
 * One at a time per key: work on the same key (one repository's bare cache) runs in call order, work
 * on different keys runs in parallel. git's own locks would make a second fetch into the same
 * repository fail rather than wait.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const done = Promise.withResolvers<undefined>();
    const tail = previous.then(() => done.promise);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      done.resolve(undefined);
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
