/**
 * Notifications (docs/notifications.md), the pure part: which transition of an Application, a
 * promotion or a Pipeline's latest run is an event (once per transition, never once per status
 * write), which Notifications want it, and the bodies sent: the generic JSON (signed with HMAC-SHA256,
 * `X-Capstan-Signature: sha256=<hex>`, as GitHub signs its webhooks) and Slack's incoming-webhook JSON.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const NOTIFICATION_EVENTS = [
  'ApplicationSyncFailed',
  'ApplicationDegraded',
  'ApplicationSynced',
  'PromotionWaitingForApproval',
  'PromotionFailed',
  'PromotionVerified',
  'PipelineRunFailed',
  'PipelineRunSucceeded',
] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENTS)[number];

export const SIGNATURE_HEADER = 'X-Capstan-Signature';
export const EVENT_HEADER = 'X-Capstan-Event';
export const DELIVERY_HEADER = 'X-Capstan-Delivery';

/** One event, about one object. */
export interface NotificationEvent {
  readonly type: NotificationEventType;
  /** The object it is about: an Application, an Environment (promotions) or a Pipeline (runs). */
  readonly kind: 'Application' | 'Environment' | 'Pipeline';
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The commit (an Application's, a run's) or the image (a promotion's). */
  readonly revision?: string;
  readonly message: string;
  /** The UI's page of it, from the server's root: `/applications/<ns>/<name>`, `/promotions/<id>`, `/runs/<id>`. */
  readonly path: string;
  /** ISO 8601. */
  readonly time: string;
  /** Unique per event: the same transition seen twice has the same id. */
  readonly id: string;
}

const enc = encodeURIComponent;

// ── Applications ─────────────────────────────────────────────────────────────────────────────────

/** What the transitions of an Application are read from (its status, as the agent writes it). */
export interface ApplicationState {
  readonly metadata: {
    readonly namespace?: string;
    readonly name: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly status?: {
    readonly health?: { readonly status?: string; readonly message?: string };
    readonly sync?: { readonly revision?: string };
    readonly operation?: {
      readonly phase?: string;
      readonly type?: string;
      readonly revision?: string;
      readonly startedAt?: string;
      readonly message?: string;
    };
    readonly history?: readonly {
      readonly id: number;
      readonly revision: string;
      readonly result: string;
      readonly finishedAt?: string;
      readonly message?: string;
    }[];
  };
}

/**
 * The events of one change of an Application, `before` → `after`: its operation became Failed (a sync
 * or rollback that failed: ApplicationSyncFailed), its health became Degraded (ApplicationDegraded),
 * a new successful sync put another revision live (ApplicationSynced). None for an Application seen
 * for the first time (the server's start is not a transition) or deleted.
 */
export function applicationEvents(
  before: ApplicationState | undefined,
  after: ApplicationState | undefined,
  now: Date,
): NotificationEvent[] {
  if (before === undefined || after === undefined) return [];
  const base = (type: NotificationEventType, message: string, revision: string | undefined, key: string) => {
    const namespace = after.metadata.namespace ?? '';
    return {
      type,
      kind: 'Application' as const,
      namespace,
      name: after.metadata.name,
      labels: after.metadata.labels ?? {},
      ...(revision === undefined || revision === '' ? {} : { revision }),
      message,
      path: `/applications/${enc(namespace)}/${enc(after.metadata.name)}`,
      time: now.toISOString(),
      id: `${type}/${namespace}/${after.metadata.name}/${key}`,
    };
  };
  const events: NotificationEvent[] = [];
  const op = after.status?.operation;
  const was = before.status?.operation;
  if (
    op?.phase === 'Failed' &&
    op.type !== 'refresh' &&
    (was?.phase !== 'Failed' || was.startedAt !== op.startedAt)
  )
    events.push(
      base(
        'ApplicationSyncFailed',
        op.message ?? `the ${op.type ?? 'sync'} failed`,
        op.revision ?? after.status?.sync?.revision,
        op.startedAt ?? now.toISOString(),
      ),
    );
  const health = after.status?.health;
  if (health?.status === 'Degraded' && before.status?.health?.status !== 'Degraded')
    events.push(
      base(
        'ApplicationDegraded',
        health.message ?? 'the application is Degraded',
        after.status?.sync?.revision,
        now.toISOString(),
      ),
    );
  const deployed = newlyDeployed(before, after);
  if (deployed !== undefined)
    events.push(
      base(
        'ApplicationSynced',
        deployed.message === undefined
          ? `${deployed.revision} is live`
          : `${deployed.revision} is live: ${deployed.message}`,
        deployed.revision,
        String(deployed.id),
      ),
    );
  return events;
}

/** The newest history entry when it is new, succeeded, and put another revision live than the last success before it. */
function newlyDeployed(before: ApplicationState, after: ApplicationState) {
  const latest = after.status?.history?.at(-1);
  if (latest?.result !== 'Succeeded') return undefined;
  const previous = before.status?.history ?? [];
  if (previous.some((entry) => entry.id >= latest.id)) return undefined;
  const lastSuccess = previous.findLast((entry) => entry.result === 'Succeeded');
  if (lastSuccess?.revision === latest.revision) return undefined;
  return latest;
}

// ── Promotions ───────────────────────────────────────────────────────────────────────────────────

export interface PromotionState {
  readonly id: string;
  readonly namespace: string;
  readonly environment: string;
  readonly image: string;
  readonly state: string;
  readonly reason?: string;
  readonly message?: string;
}

const PROMOTION_EVENTS: Readonly<Record<string, NotificationEventType>> = {
  WaitingForApproval: 'PromotionWaitingForApproval',
  Failed: 'PromotionFailed',
  Verified: 'PromotionVerified',
};

/** The event of a promotion that reached a state (the stream tells each state once). */
export function promotionEvent(
  promotion: PromotionState,
  environmentLabels: Readonly<Record<string, string>>,
  now: Date,
): NotificationEvent | undefined {
  const type = PROMOTION_EVENTS[promotion.state];
  if (type === undefined) return undefined;
  const why = [promotion.reason, promotion.message].filter((part) => part !== undefined && part !== '');
  return {
    type,
    kind: 'Environment',
    namespace: promotion.namespace,
    name: promotion.environment,
    labels: environmentLabels,
    revision: promotion.image,
    message: `promotion of ${promotion.image} to ${promotion.environment}: ${promotion.state}${why.length > 0 ? ` (${why.join(': ')})` : ''}`,
    path: `/promotions/${enc(promotion.id)}`,
    time: now.toISOString(),
    id: `${type}/${promotion.id}`,
  };
}

// ── Pipeline runs ────────────────────────────────────────────────────────────────────────────────

export interface PipelineState {
  readonly metadata: {
    readonly namespace?: string;
    readonly name?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly status?: {
    readonly lastRun?: { readonly id: string; readonly phase: string; readonly revision: string };
  };
}

/** The event of a Pipeline's latest run that ended (Succeeded or Failed) with this change of the Pipeline. */
export function pipelineRunEvent(
  before: PipelineState | undefined,
  after: PipelineState,
  now: Date,
): NotificationEvent | undefined {
  const run = after.status?.lastRun;
  if (before === undefined || run === undefined) return undefined;
  const type =
    run.phase === 'Failed'
      ? 'PipelineRunFailed'
      : run.phase === 'Succeeded'
        ? 'PipelineRunSucceeded'
        : undefined;
  const was = before.status?.lastRun;
  if (type === undefined || (was?.id === run.id && was.phase === run.phase)) return undefined;
  const namespace = after.metadata.namespace ?? '';
  const name = after.metadata.name ?? '';
  return {
    type,
    kind: 'Pipeline',
    namespace,
    name,
    labels: after.metadata.labels ?? {},
    revision: run.revision,
    message: `run ${run.id} of ${name} ${run.phase === 'Failed' ? 'failed' : 'succeeded'}`,
    path: `/runs/${enc(run.id)}`,
    time: now.toISOString(),
    id: `${type}/${run.id}`,
  };
}

// ── Who wants it ─────────────────────────────────────────────────────────────────────────────────

export interface NotificationInterest {
  readonly namespace: string;
  readonly events: readonly string[];
  readonly selector?: {
    readonly names?: readonly string[];
    readonly matchLabels?: Readonly<Record<string, string>>;
  };
  readonly suspend?: boolean;
}

/** Whether a Notification wants the event: of its namespace only, one of its events, its selector's objects. */
export function wants(interest: NotificationInterest, event: NotificationEvent): boolean {
  if (interest.suspend === true || interest.namespace !== event.namespace) return false;
  if (!interest.events.includes(event.type)) return false;
  const names = interest.selector?.names;
  if (names !== undefined && names.length > 0 && !names.includes(event.name)) return false;
  const labels = interest.selector?.matchLabels ?? {};
  return Object.entries(labels).every(([key, value]) => event.labels[key] === value);
}

// ── Bodies ───────────────────────────────────────────────────────────────────────────────────────

const SEVERITY: Readonly<Record<NotificationEventType, 'error' | 'info'>> = {
  ApplicationSyncFailed: 'error',
  ApplicationDegraded: 'error',
  ApplicationSynced: 'info',
  PromotionWaitingForApproval: 'info',
  PromotionFailed: 'error',
  PromotionVerified: 'info',
  PipelineRunFailed: 'error',
  PipelineRunSucceeded: 'info',
};

/** The UI's address of the event's object, when the server knows its public URL. */
export function eventLink(event: NotificationEvent, publicUrl: string | undefined): string | undefined {
  return publicUrl === undefined ? undefined : `${publicUrl.replace(/\/+$/, '')}${event.path}`;
}

/** The generic body: `{event, severity, object: {kind, namespace, name}, revision, message, url, time, id}`. */
export function genericBody(event: NotificationEvent, publicUrl: string | undefined): string {
  const url = eventLink(event, publicUrl);
  return JSON.stringify({
    event: event.type,
    severity: SEVERITY[event.type],
    object: { kind: event.kind, namespace: event.namespace, name: event.name },
    ...(event.revision === undefined ? {} : { revision: event.revision }),
    message: event.message,
    ...(url === undefined ? {} : { url }),
    time: event.time,
    id: event.id,
  });
}

/** Slack's `&`, `<` and `>` escapes (mrkdwn). */
const slackText = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** Slack's incoming-webhook JSON (Mattermost and others take it): `text` for notifications, and blocks. */
export function slackBody(event: NotificationEvent, publicUrl: string | undefined): string {
  const url = eventLink(event, publicUrl);
  const icon = SEVERITY[event.type] === 'error' ? ':red_circle:' : ':large_green_circle:';
  const subject = `${event.kind}/${event.namespace}/${event.name}`;
  const title = `${icon} ${event.type}: ${subject}`;
  const fields = [
    { type: 'mrkdwn', text: `*Object*\n${slackText(subject)}` },
    ...(event.revision === undefined
      ? []
      : [{ type: 'mrkdwn', text: `*Revision*\n\`${slackText(event.revision.slice(0, 80))}\`` }]),
  ];
  return JSON.stringify({
    text: `${title}: ${event.message}`,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `*${slackText(title)}*\n${slackText(event.message)}` },
      },
      { type: 'section', fields },
      ...(url === undefined
        ? []
        : [{ type: 'context', elements: [{ type: 'mrkdwn', text: `<${url}|Open in Capstan>` }] }]),
    ],
  });
}

/** `sha256=<hex HMAC-SHA256 of the body>`, the X-Capstan-Signature header's value. */
export function signature(body: string, key: string): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

/** Whether `header` is the body's signature with `key` (for receivers; compared in constant time). */
export function verifySignature(body: string, key: string, header: string | undefined): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signature(body, key));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
