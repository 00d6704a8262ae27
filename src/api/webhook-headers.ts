/**
 * What the headers of a webhook delivery say, per provider: which provider sent it, the event, the
 * delivery id and the credential (signature or token). Nothing here trusts them: the credential is
 * checked by webhook-verify.ts before the body is read as anything but bytes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { WebhookProvider } from '../contracts/webhook-event.ts';

/** The credential a delivery carries: an HMAC-SHA256 digest of the body, or a shared token. */
export type WebhookCredential =
  | { readonly kind: 'hmac'; readonly header: string; readonly digest: Buffer }
  | { readonly kind: 'token'; readonly header: string; readonly token: string };

/** Why a delivery carries no usable credential, for the 401 message (never the header's value). */
export interface MissingCredential {
  readonly kind: 'missing';
  readonly message: string;
}

/** One header's value; a repeated header (joined, or an array) is not one value. */
export function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The provider of a delivery to the auto-detecting route, from the headers each one sets. Gitea and
 * Forgejo also send GitHub's headers, so they are recognised first.
 */
export function detectProvider(headers: IncomingHttpHeaders): WebhookProvider | undefined {
  const has = (name: string) => headers[name] !== undefined;
  if (has('x-gitea-event') || has('x-forgejo-event') || has('x-gogs-event')) return 'gitea';
  if (has('x-github-event')) return 'github';
  if (has('x-gitlab-event')) return 'gitlab';
  if (has('x-event-key')) return 'bitbucket';
  if (/^bearer\s/i.test(headerOf(headers, 'authorization') ?? '')) return 'generic';
  return undefined;
}

/** The event a delivery announces (`push`, `Push Hook`, `repo:push`, …); `push` for generic. */
export function eventOf(provider: WebhookProvider, headers: IncomingHttpHeaders): string | undefined {
  switch (provider) {
    case 'github':
      return headerOf(headers, 'x-github-event');
    case 'gitea':
      return (
        headerOf(headers, 'x-gitea-event') ??
        headerOf(headers, 'x-forgejo-event') ??
        headerOf(headers, 'x-gogs-event') ??
        headerOf(headers, 'x-github-event')
      );
    case 'gitlab':
      return headerOf(headers, 'x-gitlab-event');
    case 'bitbucket':
      return headerOf(headers, 'x-event-key');
    case 'generic':
      return 'push';
  }
}

/** The headers that carry a delivery id, first found wins. GitLab's Idempotency-Key survives its retries. */
const DELIVERY_HEADERS: Readonly<Record<WebhookProvider, readonly string[]>> = {
  github: ['x-github-delivery'],
  gitea: ['x-gitea-delivery', 'x-forgejo-delivery', 'x-gogs-delivery', 'x-github-delivery'],
  gitlab: ['idempotency-key', 'x-gitlab-event-uuid'],
  bitbucket: ['x-request-uuid', 'x-request-id'],
  generic: ['x-capstan-delivery'],
};

/** A delivery id worth keeping: short and plain (a UUID, a GUID in braces, a hex id). */
const DELIVERY_ID = /^[A-Za-z0-9{}._:-]{1,128}$/;

/** The delivery id of a delivery, or undefined when it has none (or one too odd to log or keep). */
export function deliveryIdOf(provider: WebhookProvider, headers: IncomingHttpHeaders): string | undefined {
  for (const name of DELIVERY_HEADERS[provider]) {
    const value = headerOf(headers, name);
    if (value !== undefined) return DELIVERY_ID.test(value) ? value : undefined;
  }
  return undefined;
}

/** `sha256=<64 hex digits>` (GitHub, Bitbucket) or the bare hex digits (Gitea). */
const PREFIXED_SHA256 = /^sha256=([0-9a-fA-F]{64})$/;
const BARE_SHA256 = /^([0-9a-fA-F]{64})$/;

/** The credential a delivery carries for its provider, or why it has none usable. */
export function credentialOf(
  provider: WebhookProvider,
  headers: IncomingHttpHeaders,
): WebhookCredential | MissingCredential {
  switch (provider) {
    case 'github':
      return hmacHeader(headers, ['x-hub-signature-256'], PREFIXED_SHA256, 'sha256=<hex>');
    case 'bitbucket':
      return hmacHeader(headers, ['x-hub-signature'], PREFIXED_SHA256, 'sha256=<hex>');
    case 'gitea':
      return hmacHeader(
        headers,
        ['x-gitea-signature', 'x-forgejo-signature', 'x-gogs-signature'],
        BARE_SHA256,
        '<hex>',
      );
    case 'gitlab': {
      const token = headerOf(headers, 'x-gitlab-token');
      if (token === undefined || token === '') {
        return { kind: 'missing', message: 'the X-Gitlab-Token header is missing: set the secret token' };
      }
      return { kind: 'token', header: 'x-gitlab-token', token };
    }
    case 'generic': {
      const match = /^bearer\s+(\S+)\s*$/i.exec(headerOf(headers, 'authorization') ?? '');
      if (match?.[1] === undefined) {
        return { kind: 'missing', message: 'an Authorization: Bearer <token> header is required' };
      }
      return { kind: 'token', header: 'authorization', token: match[1] };
    }
  }
}

function hmacHeader(
  headers: IncomingHttpHeaders,
  names: readonly string[],
  pattern: RegExp,
  form: string,
): WebhookCredential | MissingCredential {
  const name = names.find((candidate) => headers[candidate] !== undefined);
  if (name === undefined) {
    return {
      kind: 'missing',
      message: `the ${displayHeader(names[0] ?? '')} header is missing: set a secret on the webhook so that deliveries are signed`,
    };
  }
  const hex = pattern.exec(headerOf(headers, name) ?? '')?.[1];
  if (hex === undefined) {
    return { kind: 'missing', message: `the ${displayHeader(name)} header is not of the form ${form}` };
  }
  return { kind: 'hmac', header: name, digest: Buffer.from(hex, 'hex') };
}

/** `x-hub-signature-256` → `X-Hub-Signature-256`, for messages. */
export function displayHeader(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}
