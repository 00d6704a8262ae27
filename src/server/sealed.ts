/**
 * Sealed values: small JSON records the server hands a browser or the CLI and reads back later (a
 * login's pending OIDC checks, the one-time code the CLI exchanges for its session), encrypted and
 * authenticated with AES-256-GCM under a key every replica shares, bound to a purpose and an expiry.
 * A value altered, sealed for another purpose or by another key, or expired is refused, never read.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export type Unsealed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: 'invalid' | 'expired' };

export interface SealerOptions {
  /** The shared secret (32 bytes or more); each purpose gets its own key derived from it. */
  readonly key: Buffer;
  readonly now: () => number;
}

export class Sealer {
  readonly #key: Buffer;
  readonly #now: () => number;

  constructor(options: SealerOptions) {
    this.#key = options.key;
    this.#now = options.now;
  }

  /** `value` sealed for `purpose`, readable until `ttlMs` from now. */
  seal(purpose: string, value: unknown, ttlMs: number): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keyFor(purpose), iv);
    const plain = JSON.stringify({ exp: this.#now() + ttlMs, value });
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  unseal<T>(purpose: string, text: string): Unsealed<T> {
    const raw = Buffer.from(text, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES || raw.toString('base64url') !== text)
      return { ok: false, reason: 'invalid' };
    let plain: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#keyFor(purpose), raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    const record = JSON.parse(plain) as { exp: number; value: T };
    if (record.exp <= this.#now()) return { ok: false, reason: 'expired' };
    return { ok: true, value: record.value };
  }

  #keyFor(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `capstan-sealed:${purpose}`, 32));
  }
}
