/**
 * Listings of a commit's paths, batched per commit: a request that arrives while a listing of the same
 * commit runs waits for it to end, and is then listed together with every other request that arrived
 * meanwhile, with one `git ls-tree` for all their paths (readContentIds). A cold start of a thousand
 * applications of one monorepo lists their folders in a few dozen git runs, not a thousand.
 *
 * The answer for a path does not depend on the other paths listed with it: its id is made only of the
 * entries under it and of the `.gitattributes` files above it, which its own pathspecs ask for.
 */

/** Content ids by path, as readContentIds answers. */
export type ContentIds = ReadonlyMap<string, string | undefined>;

/** Paths of one listing at most, so that a listing (and its command line) stays small. */
export const MAX_PATHS_PER_LISTING = 256;

interface Batch {
  readonly paths: Set<string>;
  result: Promise<ContentIds>;
}

interface Lane {
  /** The batch that takes new paths: not started yet. */
  open: Batch | undefined;
  /** The end of the last batch started or queued (never rejects). */
  tail: Promise<void>;
}

export class ListingBatches {
  readonly #lanes = new Map<string, Lane>();

  /**
   * The content ids of `paths` in the commit `key` names, listed with `list` together with those of
   * the other requests for the same key that wait with it. `list` is that of the request that opened
   * the batch: every request of one key must list the same commit of the same repository.
   */
  request(
    key: string,
    paths: readonly string[],
    list: (paths: readonly string[]) => Promise<ContentIds>,
  ): Promise<ContentIds> {
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { open: undefined, tail: Promise.resolve() };
      this.#lanes.set(key, lane);
    }
    let batch = lane.open;
    if (batch === undefined || batch.paths.size + paths.length > MAX_PATHS_PER_LISTING) {
      batch = this.#queue(key, lane, list);
    }
    for (const path of paths) batch.paths.add(path);
    return batch.result;
  }

  /** Opens a batch that starts when the lane's previous one has ended. */
  #queue(key: string, lane: Lane, list: (paths: readonly string[]) => Promise<ContentIds>): Batch {
    const batch: Batch = { paths: new Set(), result: Promise.resolve(new Map()) };
    lane.open = batch;
    batch.result = lane.tail.then(() => {
      // From here on the batch takes no more paths: later requests open the next one.
      if (lane.open === batch) lane.open = undefined;
      return list([...batch.paths].sort());
    });
    const ended = batch.result.then(
      () => undefined,
      () => undefined,
    );
    lane.tail = ended;
    void ended.then(() => {
      // Nothing queued after it: the lane goes (a new request starts a new one).
      if (lane.tail === ended && lane.open === undefined && this.#lanes.get(key) === lane)
        this.#lanes.delete(key);
    });
    return batch;
  }
}
