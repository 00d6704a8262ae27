/**
 * A Secret's data, decoded: the one reading of the base64 values the API returns under `data`, for
 * every part that reads a Secret (repository credentials, cluster Secrets, webhook and OIDC secrets,
 * the server's shared key, a pipeline's secretRef). A value that is not base64 is refused naming the
 * Secret and the key, never read as whatever bytes Buffer would make of it.
 */
import { CapstanError } from './errors.ts';

/** The parts of a Secret its data is read from. */
export interface SecretObject {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly labels?: Readonly<Record<string, string>> | undefined;
  };
  /** Base64 values by key, as the API returns them. */
  readonly data?: unknown;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** `Secret/<namespace>/<name>`, as errors name it. */
export function secretSubject(secret: SecretObject): string {
  return `Secret/${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`;
}

/**
 * The bytes under `key` of the Secret's data; undefined when the Secret has no such key. Refuses
 * (SECRET_DATA_INVALID, naming `subject` and the key) a value that is not a base64 string.
 */
export function secretBytes(
  secret: SecretObject | undefined,
  key: string,
  subject: string = secret === undefined ? 'Secret' : secretSubject(secret),
): Buffer | undefined {
  const data = secret?.data;
  if (data === undefined || data === null) return undefined;
  if (typeof data !== 'object')
    throw new CapstanError(
      'SECRET_DATA_INVALID',
      `${subject}: its data is not a map of keys to base64 values`,
      {
        subject,
      },
    );
  const encoded = (data as Record<string, unknown>)[key];
  if (encoded === undefined) return undefined;
  if (typeof encoded !== 'string' || encoded.length % 4 !== 0 || !BASE64.test(encoded))
    throw new CapstanError(
      'SECRET_DATA_INVALID',
      `${subject}: the value of key '${key}' is not base64 (data holds base64 values; write plain text under stringData)`,
      { subject },
    );
  return Buffer.from(encoded, 'base64');
}

/** The value under `key` of the Secret's data as UTF-8 text; undefined when absent (secretBytes). */
export function secretText(
  secret: SecretObject | undefined,
  key: string,
  subject?: string,
): string | undefined {
  return secretBytes(secret, key, subject)?.toString('utf8');
}
