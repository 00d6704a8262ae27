// The webhook receiver's shared secrets (contracts/webhook-event.ts), from the agent's Secret
// (`capstan-webhooks` unless told otherwise): one key per provider, trimmed; an absent or empty key
// leaves that provider's webhooks refused.
import { secretText } from '../../core/secret-data.ts';
import { WEBHOOK_PROVIDERS, type WebhookSecrets } from '../../contracts/webhook-event.ts';
import type { Cluster } from '../../ports/cluster.ts';

/** Read at most this often: a rotation takes effect within 10 s, and a flood of webhooks costs one read. */
export const WEBHOOK_SECRETS_TTL_MS = 10_000;

export class WebhookSecretsReader {
  readonly #cluster: Pick<Cluster, 'resourceType' | 'get'>;
  readonly #namespace: string;
  readonly #name: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #kept: { readonly at: number; readonly value: Promise<WebhookSecrets> } | undefined;

  constructor(
    cluster: Pick<Cluster, 'resourceType' | 'get'>,
    secret: { readonly namespace: string; readonly name: string },
    options: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.#cluster = cluster;
    this.#namespace = secret.namespace;
    this.#name = secret.name;
    this.#ttlMs = options.ttlMs ?? WEBHOOK_SECRETS_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The secrets, read again once WEBHOOK_SECRETS_TTL_MS have passed; a read that failed is not kept. */
  get(): Promise<WebhookSecrets> {
    const now = this.#now();
    if (this.#kept && now - this.#kept.at < this.#ttlMs) return this.#kept.value;
    const kept = { at: now, value: this.#read() };
    this.#kept = kept;
    kept.value.catch(() => {
      if (this.#kept === kept) this.#kept = undefined;
    });
    return kept.value;
  }

  async #read(): Promise<WebhookSecrets> {
    const type = await this.#cluster.resourceType('v1', 'Secret');
    const secret = type ? await this.#cluster.get(type, this.#namespace, this.#name) : undefined;
    const subject = `Secret/${this.#namespace}/${this.#name}`;
    const result: Record<string, string> = {};
    for (const provider of WEBHOOK_PROVIDERS) {
      const value = secretText(secret, provider, subject)?.trim() ?? '';
      if (value !== '') result[provider] = value;
    }
    return result;
  }
}
