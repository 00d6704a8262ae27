/**
 * Keys due at a time, earliest first: a binary min-heap on the due time with lazy deletion. Each key
 * has at most one due time (`set` keeps the earlier of two); a replaced or removed entry stays in the
 * heap until it reaches the top, where it is recognised (its time is not the key's any more) and dropped.
 *
 * It is what lets a work queue keep one timer for its earliest delayed key instead of one per key (a
 * timer, an AbortController and three promises each: about 3 KB a key, 30 MiB at 10 000 applications
 * polled on an interval; docs/benchmarks.md, twelfth sitting).
 */
export class DueHeap {
  /** key → its due time (ms). */
  readonly #due = new Map<string, number>();
  readonly #heap: { readonly key: string; readonly at: number }[] = [];

  /** Keys with a due time. */
  get size(): number {
    return this.#due.size;
  }

  /** The key's due time, if it has one. */
  get(key: string): number | undefined {
    return this.#due.get(key);
  }

  /** Sets the key due at `at`, unless it is already due at that time or earlier. Whether it changed. */
  set(key: string, at: number): boolean {
    const current = this.#due.get(key);
    if (current !== undefined && current <= at) return false;
    this.#due.set(key, at);
    this.#push({ key, at });
    return true;
  }

  /** The earliest due time, or undefined when no key is due. */
  earliest(): number | undefined {
    this.#dropStale();
    return this.#heap[0]?.at;
  }

  /** Removes and returns the keys due at `now` or before, earliest first. */
  takeDue(now: number): string[] {
    const taken: string[] = [];
    for (;;) {
      this.#dropStale();
      const top = this.#heap[0];
      if (top === undefined || top.at > now) return taken;
      this.#pop();
      this.#due.delete(top.key);
      taken.push(top.key);
    }
  }

  /** Forgets every key. */
  clear(): void {
    this.#due.clear();
    this.#heap.length = 0;
  }

  /** Pops entries at the top that are not their key's due time any more (replaced by an earlier one). */
  #dropStale(): void {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || this.#due.get(top.key) === top.at) return;
      this.#pop();
    }
  }

  #push(entry: { readonly key: string; readonly at: number }): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as (typeof heap)[number];
      if (above.at <= entry.at) break;
      heap[i] = above;
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const l = heap[left] as (typeof heap)[number];
      const r = heap[right];
      const child = r !== undefined && r.at < l.at ? right : left;
      const smaller = heap[child] as (typeof heap)[number];
      if (smaller.at >= last.at) break;
      heap[i] = smaller;
      i = child;
    }
    heap[i] = last;
  }
}
