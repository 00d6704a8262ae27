// The WHERE clause of a Store query, built from the filters that are set: one definition for SQLite
// (`?` placeholders) and PostgreSQL (`$1`, `$2`, …). A clause is written with `?` for its one value.

/** Placeholders of SQLite: always `?`. */
export const SQLITE_PLACEHOLDER = (): string => '?';
/** Placeholders of PostgreSQL: `$n`, numbered from 1. */
export const POSTGRES_PLACEHOLDER = (n: number): string => `$${n}`;

export class Filters<Value> {
  readonly #clauses: string[] = [];
  readonly params: Value[] = [];
  readonly #placeholder: (n: number) => string;

  constructor(placeholder: (n: number) => string) {
    this.#placeholder = placeholder;
  }

  /** Adds `clause` (its `?` becomes the next parameter) when `value` is set. */
  add(clause: string, value: Value | undefined): void {
    if (value === undefined) return;
    this.params.push(value);
    this.#clauses.push(clause.replace('?', this.#placeholder(this.params.length)));
  }

  /** Adds a clause without a parameter. */
  always(clause: string): void {
    this.#clauses.push(clause);
  }

  /** The next parameter's placeholder, for a value that always comes (LIMIT). */
  next(value: Value): string {
    this.params.push(value);
    return this.#placeholder(this.params.length);
  }

  /** `WHERE a AND b`, or nothing when no filter is set. */
  get where(): string {
    return this.#clauses.length > 0 ? `WHERE ${this.#clauses.join(' AND ')}` : '';
  }
}
