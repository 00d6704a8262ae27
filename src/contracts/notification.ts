/**
 * The `Notification` resource (capstan.dev/v1alpha1): who is told, and how, when something happens to
 * the objects of its namespace (docs/notifications.md). It names the events it wants (a sync failed, an
 * Application degraded, a new revision live, a promotion waiting or ended, a pipeline run ended), which
 * objects (by name or labels; absent: all of its namespace) and a webhook: a generic JSON body signed
 * with HMAC-SHA256, or Slack's incoming-webhook JSON. Its status holds the last delivery only.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { KubeObject } from '../core/resource.ts';
import { NOTIFICATION_EVENTS } from '../core/notification.ts';
import { APPLICATION_GROUP, APPLICATION_VERSION } from './application.ts';
import { customResourceDefinition, type CrdDescription } from './crd.ts';
import { oneOf, validate, withHint, withRules, type Validation } from './validate.ts';

export const NOTIFICATION_GROUP = APPLICATION_GROUP;
export const NOTIFICATION_VERSION = APPLICATION_VERSION;
export const NOTIFICATION_API_VERSION = `${NOTIFICATION_GROUP}/${NOTIFICATION_VERSION}`;
export const NOTIFICATION_KIND = 'Notification';
export const NOTIFICATION_PLURAL = 'notifications';
export const NOTIFICATION_SINGULAR = 'notification';
export const NOTIFICATION_SHORT_NAMES = ['ntf'] as const;

export const NOTIFICATION_FORMATS = ['generic', 'slack'] as const;
export type NotificationFormat = (typeof NOTIFICATION_FORMATS)[number];

/** The keys of the webhook's Secret: the HMAC key, and the URL when it is itself a secret (Slack's). */
export const NOTIFICATION_SECRET_KEYS = { signingKey: 'secret', url: 'url' } as const;

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const webhookUrl = withRules(
  withHint(
    Type.String({
      minLength: 1,
      maxLength: 2048,
      description: `Where to POST (http:// or https://). Absent: the Secret's key ${NOTIFICATION_SECRET_KEYS.url} (a URL that is itself a credential, as Slack's).`,
    }),
    'an http:// or https:// URL',
  ),
  [
    {
      message: 'must be an http:// or https:// URL without user or password',
      cel: "self.startsWith('http://') || self.startsWith('https://')",
      check: (url: string) => webhookUrlProblem(url) === undefined,
    },
  ],
);

const WebhookSchema = Type.Object(
  {
    url: Type.Optional(webhookUrl),
    format: Type.Optional(
      oneOf(NOTIFICATION_FORMATS, { description: 'generic (signed JSON, default) or slack.' }),
    ),
    secretRef: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN }),
        },
        {
          additionalProperties: false,
          description: `A Secret of this namespace: key ${NOTIFICATION_SECRET_KEYS.signingKey} signs the body (X-Capstan-Signature: sha256=<HMAC>), key ${NOTIFICATION_SECRET_KEYS.url} holds the URL when spec.webhook.url is absent.`,
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'The receiver: an HTTP POST per event.' },
);

const SelectorSchema = Type.Object(
  {
    names: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
        maxItems: 100,
        description: 'Only the Applications, Environments or Pipelines of these names.',
      }),
    ),
    matchLabels: Type.Optional(
      // A map: no properties, every value a string (structural: additionalProperties alone).
      Type.Object(
        {},
        {
          additionalProperties: Type.String({ maxLength: 63 }),
          description: 'Only the objects with these labels (promotions: their Environment’s).',
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'Which objects of the namespace; absent: all.' },
);

export const NotificationSpecSchema = withRules(
  Type.Object(
    {
      events: Type.Array(oneOf(NOTIFICATION_EVENTS), {
        minItems: 1,
        maxItems: NOTIFICATION_EVENTS.length,
        description: `The events sent: ${NOTIFICATION_EVENTS.join(', ')}.`,
      }),
      selector: Type.Optional(SelectorSchema),
      webhook: WebhookSchema,
      suspend: Type.Optional(Type.Boolean({ description: 'Send nothing while true.' })),
    },
    { additionalProperties: false },
  ),
  [
    {
      message: 'webhook needs a url or a secretRef (whose Secret holds the url)',
      cel: 'has(self.webhook.url) || has(self.webhook.secretRef)',
      check: (spec: { webhook: { url?: string; secretRef?: unknown } }) =>
        spec.webhook.url !== undefined || spec.webhook.secretRef !== undefined,
    },
  ],
);

export const DELIVERY_RESULTS = ['Delivered', 'Retrying', 'Failed', 'Dropped'] as const;
export type DeliveryResult = (typeof DELIVERY_RESULTS)[number];

export const LastDeliverySchema = Type.Object(
  {
    time: Type.String({ maxLength: 64, description: 'When, ISO 8601.' }),
    event: oneOf(NOTIFICATION_EVENTS),
    object: Type.String({ maxLength: 600, description: 'Kind/namespace/name it was about.' }),
    result: oneOf(DELIVERY_RESULTS),
    attempts: Type.Integer({ minimum: 1, description: 'Attempts so far.' }),
    httpStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
    error: Type.Optional(Type.String({ maxLength: 1024, description: 'Why it failed (never the URL).' })),
  },
  { additionalProperties: false, description: 'The last delivery (one per event, retries included).' },
);

export const NotificationStatusSchema = Type.Object(
  {
    lastDelivery: Type.Optional(LastDeliverySchema),
    lastFailure: Type.Optional(LastDeliverySchema),
  },
  { additionalProperties: false, description: 'Written by the server that delivers.' },
);

export const NotificationSchema = Type.Object(
  {
    apiVersion: Type.Literal(NOTIFICATION_API_VERSION),
    kind: Type.Literal(NOTIFICATION_KIND),
    metadata: Type.Unsafe<{ name: string; namespace?: string; labels?: Record<string, string> }>(
      Type.Object({ name: Type.String({ minLength: 1, maxLength: 253 }) }),
    ),
    spec: NotificationSpecSchema,
    status: Type.Optional(NotificationStatusSchema),
  },
  { additionalProperties: false, description: 'Events of this namespace sent to a webhook.' },
);

export type Notification = Static<typeof NotificationSchema>;
export type NotificationSpec = Static<typeof NotificationSpecSchema>;
export type LastDelivery = Static<typeof LastDeliverySchema>;

/** Why `url` cannot be a webhook's address, or undefined when it can. */
export function webhookUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'not http:// or https://';
  if (parsed.username !== '' || parsed.password !== '') return 'a user or password in the URL';
  return undefined;
}

/** The object checked, with errors `Notification/<namespace>/<name>: spec.events[0]: …`. */
export function validateNotification(object: unknown): Validation<Notification> {
  const result = validate(NotificationSchema, object);
  if (result.ok) return result;
  const meta = (object as KubeObject | undefined)?.metadata;
  const id = `${NOTIFICATION_KIND}/${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
  return { ok: false, errors: result.errors.map((error) => `${id}: ${error}`) };
}

const PRINTER_COLUMNS = [
  { name: 'Events', type: 'string', jsonPath: '.spec.events' },
  { name: 'Last', type: 'string', jsonPath: '.status.lastDelivery.event' },
  { name: 'Result', type: 'string', jsonPath: '.status.lastDelivery.result' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

export const NOTIFICATION_CRD: CrdDescription = {
  group: NOTIFICATION_GROUP,
  version: NOTIFICATION_VERSION,
  kind: NOTIFICATION_KIND,
  plural: NOTIFICATION_PLURAL,
  singular: NOTIFICATION_SINGULAR,
  shortNames: NOTIFICATION_SHORT_NAMES,
  scope: 'Namespaced',
  schema: NotificationSchema,
  printerColumns: PRINTER_COLUMNS,
  statusSubresource: true,
};

export function notificationCrd(): KubeObject {
  return customResourceDefinition(NOTIFICATION_CRD);
}
