/**
 * The WebhookPoster of notifications: a POST with fetch, at most `timeoutMs`, redirects not followed
 * (a 3xx is the answer), the answer's body not read. An error never names the URL (it may be a
 * credential, as Slack's are): only what failed (refused, timed out, a name not resolved).
 */
import type { WebhookAnswer, WebhookPoster, WebhookRequest } from '../ports/notification.ts';

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

export class FetchWebhookPoster implements WebhookPoster {
  readonly #timeoutMs: number;

  constructor(options: { readonly timeoutMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  }

  async post(request: WebhookRequest, signal: AbortSignal): Promise<WebhookAnswer> {
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
      });
      await response.body?.cancel();
      return { status: response.status };
    } catch (error) {
      return { error: withoutUrl(describe(error), request.url) };
    }
  }
}

/** The error and its cause's code (ECONNREFUSED, ENOTFOUND), without addresses. */
function describe(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  if (error instanceof Error && error.name === 'AbortError') return 'stopped';
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return code === undefined ? message : `${message} (${code})`;
}

const withoutUrl = (message: string, url: string) => message.replaceAll(url, '<url>');
