/**
 * Where notifications go (docs/notifications.md): one HTTP POST per delivery. Adapter:
 * src/adapters/notification-webhook.ts (fetch, a time limit, redirects not followed).
 */

export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The receiver's answer (any status), or why there was none (network, time limit: worth a retry). */
export type WebhookAnswer = { readonly status: number } | { readonly error: string };

export interface WebhookPoster {
  post(request: WebhookRequest, signal: AbortSignal): Promise<WebhookAnswer>;
}
