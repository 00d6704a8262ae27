/**
 * Page cursors: opaque to clients, checked by the server. A cursor carries the key of the last item of
 * the page, a digest of the query it belongs to, and when it was issued, signed with HMAC-SHA256 under
 * the server's key (shared by replicas through a Secret, so any replica takes any replica's cursor).
 * A forged, altered, foreign or expired cursor is refused with a stable code (the API answers 400).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { CapstanError } from '../core/errors.ts';

/** How long a cursor is taken after it was issued. */
export const CURSOR_LIFETIME_MS = 60 * 60 * 1000;

export interface CursorOptions {
  /** The signing key (at least 32 bytes). */
  readonly key: Buffer;
  readonly now: () => number;
  readonly lifetimeMs?: number;
}

interface Payload {
  /** The last key of the page. */
  readonly k: readonly string[];
  /** Digest of the query. */
  readonly q: string;
  /** Issued at, ms. */
  readonly t: number;
}

/** A stable digest of a query's filters (the order of the keys does not matter). */
export function queryDigest(query: Readonly<Record<string, unknown>>): string {
  const canonical = JSON.stringify(
    Object.keys(query)
      .sort()
      .map((k) => [k, query[k] ?? null]),
  );
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

export class CursorCodec {
  readonly #key: Buffer;
  readonly #now: () => number;
  readonly #lifetimeMs: number;

  constructor(options: CursorOptions) {
    if (options.key.length < 32) throw new Error('the cursor key must have at least 32 bytes');
    this.#key = options.key;
    this.#now = options.now;
    this.#lifetimeMs = options.lifetimeMs ?? CURSOR_LIFETIME_MS;
  }

  encode(key: readonly string[], digest: string): string {
    const body = Buffer.from(
      JSON.stringify({ k: key, q: digest, t: this.#now() } satisfies Payload),
    ).toString('base64url');
    return `${body}.${this.#sign(body)}`;
  }

  /** The key after which the next page starts; CURSOR_INVALID, CURSOR_MISMATCH or CURSOR_EXPIRED. */
  decode(cursor: string, digest: string): readonly string[] {
    const [body, signature, ...rest] = cursor.split('.');
    if (body === undefined || signature === undefined || rest.length > 0 || !this.#valid(body, signature))
      throw new CapstanError(
        'CURSOR_INVALID',
        'the page cursor is not one this server issued: start again without a cursor',
      );
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    if (payload.q !== digest)
      throw new CapstanError(
        'CURSOR_MISMATCH',
        'the page cursor belongs to another query (the filters changed): start again without a cursor',
      );
    if (this.#now() - payload.t > this.#lifetimeMs)
      throw new CapstanError('CURSOR_EXPIRED', 'the page cursor has expired: start again without a cursor');
    return payload.k;
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }

  #valid(body: string, signature: string): boolean {
    const expected = Buffer.from(this.#sign(body));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}
