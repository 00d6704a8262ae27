/**
 * Delivers notifications (docs/notifications.md): each event to every Notification of its namespace
 * that wants it, one HTTP POST each, in the background, never in anyone's way. Deliveries wait in a
 * bounded queue (the oldest dropped, and counted, when it is full) and go out `concurrency` at a time;
 * one that got no answer, a 408, a 429 or a 5xx is queued again after a backoff (core/backoff.ts, as
 * the pipelines' status writes: 1 s doubling, 5 retries), one refused otherwise (a 4xx) is not retried.
 * The Notification's status records the last delivery and the last failure; no object per event. The
 * webhook's URL and signing key are never logged, nor written in a status or an error.
 */
import { backoffDelay } from '../core/backoff.ts';
import { messageOf } from '../core/errors.ts';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  genericBody,
  signature,
  slackBody,
  wants,
  type NotificationEvent,
} from '../core/notification.ts';
import {
  NOTIFICATION_KIND,
  NOTIFICATION_SECRET_KEYS,
  validateNotification,
  webhookUrlProblem,
  type DeliveryResult,
  type LastDelivery,
  type Notification,
} from '../contracts/notification.ts';
import type { Logger } from '../ports/logger.ts';
import type { WebhookAnswer, WebhookPoster } from '../ports/notification.ts';
import { STATUS_RETRY, unrefSleep, type StatusRetryOptions } from '../pipelines/status-writer.ts';

export const DEFAULT_NOTIFY_CONCURRENCY = 4;
export const DEFAULT_NOTIFY_QUEUE = 1_000;
/** Events already queued, per Notification, remembered so that one seen twice is sent once. */
const REMEMBERED_EVENTS = 10_000;

export interface NotifierOptions {
  readonly poster: WebhookPoster;
  /** A key of a Secret of the namespace; undefined when the Secret or the key is absent. */
  readonly readSecret: (namespace: string, name: string, key: string) => Promise<string | undefined>;
  /** Merge-patches the Notification's status. */
  readonly writeStatus: (
    namespace: string,
    name: string,
    status: { lastDelivery: LastDelivery; lastFailure?: LastDelivery },
  ) => Promise<void>;
  /** The UI's address (--public-url): bodies link to the object's page there. */
  readonly publicUrl?: string;
  readonly concurrency?: number;
  readonly queueLimit?: number;
  readonly retry?: StatusRetryOptions;
  /** Counts each outcome: Delivered, Failed (not retried or given up), Retrying, Dropped (queue full). */
  readonly onResult?: (result: DeliveryResult) => void;
  readonly log?: Logger;
  readonly now?: () => Date;
}

interface Delivery {
  readonly notification: string;
  readonly event: NotificationEvent;
  /** Attempts made. */
  readonly attempts: number;
}

type Outcome =
  | { readonly result: 'Delivered'; readonly httpStatus: number }
  | { readonly result: 'Failed' | 'Retrying'; readonly httpStatus?: number; readonly error: string };

/** A 408, a 429, a 5xx or no answer: a later attempt may succeed. */
const retryable = (answer: WebhookAnswer) =>
  'error' in answer || answer.status === 408 || answer.status === 429 || answer.status >= 500;

export class Notifier {
  readonly #options: NotifierOptions;
  readonly #retry: Required<StatusRetryOptions>;
  readonly #notifications = new Map<string, Notification>();
  readonly #queue: Delivery[] = [];
  readonly #sent = new Map<string, true>();
  readonly #active = new Set<Promise<void>>();
  readonly #waits = new Set<Promise<void>>();
  readonly #statusWrites = new Map<string, Promise<void>>();
  readonly #stop = new AbortController();

  constructor(options: NotifierOptions) {
    this.#options = options;
    this.#retry = { ...STATUS_RETRY, ...options.retry };
  }

  /** A Notification added or changed (from its watch); an invalid one is logged and wants nothing. */
  set(object: unknown): void {
    const checked = validateNotification(object);
    const meta = (object as { metadata?: { namespace?: string; name?: string } }).metadata;
    const key = `${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
    if (!checked.ok) {
      this.#notifications.delete(key);
      this.#options.log?.({
        level: 'warn',
        msg: 'invalid Notification sends nothing',
        errors: checked.errors,
      });
      return;
    }
    this.#notifications.set(key, checked.value);
  }

  delete(namespace: string, name: string): void {
    this.#notifications.delete(`${namespace}/${name}`);
  }

  /** Queues the event for every Notification that wants it (each event once per Notification). */
  emit(event: NotificationEvent): void {
    if (this.#stop.signal.aborted) return;
    for (const [key, notification] of this.#notifications) {
      const interest = { namespace: notification.metadata.namespace ?? '', ...notification.spec };
      if (!wants(interest, event)) continue;
      const sent = `${key}\u0000${event.id}`;
      if (this.#sent.has(sent)) continue;
      this.#sent.set(sent, true);
      for (const old of this.#sent.keys()) {
        if (this.#sent.size <= REMEMBERED_EVENTS) break;
        this.#sent.delete(old);
      }
      this.#enqueue({ notification: key, event, attempts: 0 });
    }
  }

  /** Deliveries queued, sent now, or waiting for a retry. */
  get pending(): number {
    return this.#queue.length + this.#active.size + this.#waits.size;
  }

  /** Drops what waits; returns when nothing is being sent nor its status written. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#queue.length = 0;
    await Promise.allSettled([...this.#active, ...this.#waits]);
    await Promise.allSettled([...this.#statusWrites.values()]);
  }

  #enqueue(delivery: Delivery): void {
    this.#queue.push(delivery);
    const limit = this.#options.queueLimit ?? DEFAULT_NOTIFY_QUEUE;
    while (this.#queue.length > limit) {
      const dropped = this.#queue.shift();
      this.#options.onResult?.('Dropped');
      if (dropped)
        this.#options.log?.({
          level: 'warn',
          msg: 'notification dropped: the queue is full',
          notification: dropped.notification,
          event: dropped.event.type,
        });
    }
    this.#pump();
  }

  #pump(): void {
    const concurrency = this.#options.concurrency ?? DEFAULT_NOTIFY_CONCURRENCY;
    while (this.#active.size < concurrency && !this.#stop.signal.aborted) {
      const next = this.#queue.shift();
      if (next === undefined) return;
      const work = this.#deliver(next)
        .catch((error: unknown) => {
          this.#options.log?.({ level: 'error', msg: 'notification not delivered', error: messageOf(error) });
        })
        .finally(() => {
          this.#active.delete(work);
          this.#pump();
        });
      this.#active.add(work);
    }
  }

  /** One attempt; its outcome in the status, a retry queued after its backoff. */
  async #deliver(delivery: Delivery): Promise<void> {
    const notification = this.#notifications.get(delivery.notification);
    if (notification === undefined) return; // deleted meanwhile
    const attempts = delivery.attempts + 1;
    const outcome = await this.#attempt(notification, delivery.event, attempts);
    const final = outcome.result === 'Retrying' && attempts > this.#retry.retries;
    const settled: Outcome = final ? { ...outcome, result: 'Failed' } : outcome;
    this.#options.onResult?.(settled.result);
    this.#logOutcome(delivery, settled, attempts);
    this.#record(notification, delivery.event, settled, attempts);
    if (settled.result !== 'Retrying') return;
    const wait = unrefSleep(backoffDelay(attempts - 1, this.#retry), this.#stop.signal).then(() => {
      this.#waits.delete(wait);
      if (!this.#stop.signal.aborted) this.#enqueue({ ...delivery, attempts });
    });
    this.#waits.add(wait);
  }

  async #attempt(notification: Notification, event: NotificationEvent, attempts: number): Promise<Outcome> {
    const namespace = notification.metadata.namespace ?? '';
    const { webhook } = notification.spec;
    const secret = webhook.secretRef?.name;
    let url = webhook.url;
    let key: string | undefined;
    try {
      if (secret !== undefined) {
        key = await this.#options.readSecret(namespace, secret, NOTIFICATION_SECRET_KEYS.signingKey);
        url ??= (await this.#options.readSecret(namespace, secret, NOTIFICATION_SECRET_KEYS.url))?.trim();
      }
    } catch (error) {
      return { result: 'Retrying', error: `Secret ${namespace}/${secret ?? ''}: ${messageOf(error)}` };
    }
    if (url === undefined)
      return {
        result: 'Failed',
        error: `no URL: neither spec.webhook.url nor the key ${NOTIFICATION_SECRET_KEYS.url} of Secret ${namespace}/${secret ?? ''}`,
      };
    const problem = webhookUrlProblem(url);
    if (problem !== undefined) return { result: 'Failed', error: `the webhook URL is unusable: ${problem}` };
    const format = webhook.format ?? 'generic';
    const body = (format === 'slack' ? slackBody : genericBody)(event, this.#options.publicUrl);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'capstan-notifications',
      [EVENT_HEADER]: event.type,
      [DELIVERY_HEADER]: `${event.id}#${String(attempts)}`,
      ...(key === undefined ? {} : { [SIGNATURE_HEADER]: signature(body, key) }),
    };
    const answer = await this.#options.poster.post({ url, headers, body }, this.#stop.signal);
    if ('status' in answer && answer.status >= 200 && answer.status < 300)
      return { result: 'Delivered', httpStatus: answer.status };
    const error = 'error' in answer ? answer.error : `the receiver answered ${String(answer.status)}`;
    return {
      result: retryable(answer) ? 'Retrying' : 'Failed',
      ...('status' in answer ? { httpStatus: answer.status } : {}),
      error,
    };
  }

  /** The status: this delivery, and it as the last failure when it failed; one write at a time per Notification. */
  #record(notification: Notification, event: NotificationEvent, outcome: Outcome, attempts: number): void {
    const namespace = notification.metadata.namespace ?? '';
    const { name } = notification.metadata;
    const delivery: LastDelivery = {
      time: (this.#options.now?.() ?? new Date()).toISOString(),
      event: event.type,
      object: `${event.kind}/${event.namespace}/${event.name}`,
      result: outcome.result,
      attempts,
      ...(outcome.httpStatus === undefined ? {} : { httpStatus: outcome.httpStatus }),
      ...('error' in outcome ? { error: outcome.error.slice(0, 1024) } : {}),
    };
    const status = {
      lastDelivery: delivery,
      ...(outcome.result === 'Delivered' ? {} : { lastFailure: delivery }),
    };
    const key = `${namespace}/${name}`;
    const previous = this.#statusWrites.get(key) ?? Promise.resolve();
    const write = previous
      .then(() => this.#options.writeStatus(namespace, name, status))
      .catch((error: unknown) => {
        this.#options.log?.({
          level: 'warn',
          msg: `${NOTIFICATION_KIND} status not written`,
          notification: key,
          error: messageOf(error),
        });
      })
      .finally(() => {
        if (this.#statusWrites.get(key) === write) this.#statusWrites.delete(key);
      });
    this.#statusWrites.set(key, write);
  }

  #logOutcome(delivery: Delivery, outcome: Outcome, attempts: number): void {
    this.#options.log?.({
      level: outcome.result === 'Delivered' ? 'info' : outcome.result === 'Retrying' ? 'warn' : 'error',
      msg: `notification ${outcome.result.toLowerCase()}`,
      notification: delivery.notification,
      event: delivery.event.type,
      object: `${delivery.event.kind}/${delivery.event.namespace}/${delivery.event.name}`,
      attempts,
      ...(outcome.httpStatus === undefined ? {} : { httpStatus: outcome.httpStatus }),
      ...('error' in outcome ? { error: outcome.error } : {}),
    });
  }
}
