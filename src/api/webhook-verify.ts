/**
 * Checks a webhook's credential against the configured secrets, in constant time: an HMAC-SHA256 of
 * the raw body bytes (never of a re-serialised payload), or a shared token. Every configured secret
 * is tried, without stopping at the first match, so timing tells nothing about which one matched.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookProvider, WebhookSecrets } from '../contracts/webhook-event.ts';
import type { WebhookCredential } from './webhook-headers.ts';

/** The usable secrets of a provider: non-empty strings only (an empty HMAC key would sign for anyone). */
export function secretsFor(secrets: WebhookSecrets, provider: WebhookProvider): readonly string[] {
  const value = secrets[provider];
  const list: readonly unknown[] = value === undefined ? [] : typeof value === 'string' ? [value] : value;
  return list.filter((secret): secret is string => typeof secret === 'string' && secret !== '');
}

/** True when the token matches one of the secrets. Both sides are hashed first, so lengths leak nothing. */
export function verifyToken(token: string, secrets: readonly string[]): boolean {
  const given = sha256(Buffer.from(token, 'utf8'));
  let matched = false;
  for (const secret of secrets) {
    if (timingSafeEqual(given, sha256(Buffer.from(secret, 'utf8')))) matched = true;
  }
  return matched;
}

/** True when `digest` is the HMAC-SHA256 of `body` under one of the secrets. */
export function verifyHmacSha256(body: Buffer, digest: Buffer, secrets: readonly string[]): boolean {
  if (digest.length !== 32) return false;
  let matched = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest();
    if (timingSafeEqual(expected, digest)) matched = true;
  }
  return matched;
}

/** True when the credential is valid for the body (the body is ignored for tokens). */
export function verifyCredential(
  credential: WebhookCredential,
  body: Buffer,
  secrets: readonly string[],
): boolean {
  return credential.kind === 'hmac'
    ? verifyHmacSha256(body, credential.digest, secrets)
    : verifyToken(credential.token, secrets);
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}
