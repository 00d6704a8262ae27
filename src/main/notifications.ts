// Notifications in `capstan server` (docs/notifications.md): one replica at a time (the Lease
// capstan-notifications) turns the changes the event stream hears of into events and delivers them to
// the Notifications that want them. Applications and promotions come from the stream's own watches
// (the ApplicationIndex's observers and changes); Pipelines' latest runs and the Notifications
// themselves from a watch each. Nothing is polled; nothing is sent for what happened before this
// replica led (the first sight of an object is not a transition).
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { apiError } from '../adapters/kube/errors.ts';
import type { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { FetchWebhookPoster } from '../adapters/notification-webhook.ts';
import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND } from '../contracts/environment.ts';
import { NOTIFICATIONS_LEASE } from '../contracts/install-server.ts';
import {
  DELIVERY_RESULTS,
  NOTIFICATION_API_VERSION,
  NOTIFICATION_KIND,
  NOTIFICATION_PLURAL,
} from '../contracts/notification.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../contracts/pipeline.ts';
import type { Registry } from '../controller/metrics.ts';
import {
  applicationEvents,
  pipelineRunEvent,
  promotionEvent,
  type PipelineState,
  type PromotionState,
} from '../core/notification.ts';
import { secretText } from '../core/secret-data.ts';
import type { ResourceType } from '../ports/cluster.ts';
import type { Logger } from '../ports/logger.ts';
import type { WebhookPoster } from '../ports/notification.ts';
import type { WatchEvent } from '../ports/watch.ts';
import type { ApplicationIndex } from '../server/application-index.ts';
import { Notifier, type NotifierOptions } from '../server/notifier.ts';
import { whileLeading, type LeaseElection } from './lease-driver.ts';

export interface NotificationsOptions {
  readonly cluster: KubeCluster;
  readonly watchClient: RestClient;
  /** The event stream's watch cache: its Applications' changes and its promotions. */
  readonly index: ApplicationIndex;
  /** The server's metrics registry: capstan_notification_deliveries_total{result}. */
  readonly registry: Registry;
  readonly publicUrl?: string;
  readonly leaderElection?: LeaseElection;
  /** Default: fetch. */
  readonly poster?: WebhookPoster;
  readonly notifier?: Partial<Pick<NotifierOptions, 'concurrency' | 'queueLimit' | 'retry'>>;
  readonly log: Logger;
}

/** Delivers notifications until `signal` aborts, while this replica holds the Lease; nothing without the CRD. */
export async function runNotifications(options: NotificationsOptions, signal: AbortSignal): Promise<void> {
  const { cluster, log } = options;
  const type = await cluster.resourceType(NOTIFICATION_API_VERSION, NOTIFICATION_KIND);
  if (type === undefined) {
    log({ level: 'info', msg: 'no Notification CRD: notifications are off' });
    return;
  }
  const deliveries = options.registry.counter<{ result: string }>({
    name: 'capstan_notification_deliveries_total',
    help: 'Notification deliveries by result (Delivered, Retrying: an attempt to be retried, Failed, Dropped: the queue was full).',
    labelNames: ['result'],
  });
  for (const result of DELIVERY_RESULTS) deliveries.inc({ result }, 0);
  await whileLeading(
    {
      config: cluster.config,
      lease: NOTIFICATIONS_LEASE,
      election: options.leaderElection,
      log,
    },
    (term) =>
      deliverWhileLeading(options, type, term, (result) => {
        deliveries.inc({ result });
      }),
    signal,
  );
}

/** One term: a Notifier fed by the stream and the watches until the term ends. */
async function deliverWhileLeading(
  options: NotificationsOptions,
  notificationType: ResourceType,
  term: AbortSignal,
  onResult: NotifierOptions['onResult'],
): Promise<void> {
  const { cluster, index, log } = options;
  const secretType = await cluster.resourceType('v1', 'Secret');
  const environmentType = await cluster.resourceType(ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND);
  const notifier = new Notifier({
    poster: options.poster ?? new FetchWebhookPoster(),
    readSecret: async (namespace, name, key) => {
      if (secretType === undefined) return undefined;
      const secret = await cluster.get(secretType, namespace, name);
      return secret === undefined ? undefined : secretText(secret, key);
    },
    writeStatus: async (namespace, name, status) => {
      const subject = `${NOTIFICATION_KIND}/${namespace}/${name}`;
      const res = await cluster.client.call(
        'PATCH',
        `/apis/${NOTIFICATION_API_VERSION}/namespaces/${namespace}/${NOTIFICATION_PLURAL}/${name}/status`,
        { body: { status }, contentType: 'application/merge-patch+json', subject },
      );
      if (res.status !== 200) throw apiError(res.status, res.body, subject, 'update status');
    },
    ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
    ...options.notifier,
    ...(onResult === undefined ? {} : { onResult }),
    log,
  });
  const now = () => new Date();
  // Applications: each change the stream's watch sees.
  const unobserve = index.observe((before, after) => {
    for (const event of applicationEvents(before, after, now())) notifier.emit(event);
  });
  // Promotions: each new state the stream records (labels from their Environment, for selectors).
  const unsubscribe = index.subscribe((change) => {
    if (change.kind !== 'promotion') return;
    const promotion = change.data as PromotionState;
    void environmentLabels(cluster, environmentType, promotion).then((labels) => {
      const event = promotionEvent(promotion, labels, now());
      if (event) notifier.emit(event);
    });
  });
  const watcher = new KubeWatcher(options.watchClient);
  const onError = (what: string) => (error: { code: string; message: string }) => {
    log({ level: 'warn', msg: `${what} watch`, code: error.code, error: error.message });
  };
  try {
    const pipelineType = await cluster.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND);
    await Promise.all([
      watcher.watch(notificationType, '', notificationsHandler(notifier), {
        signal: term,
        onError: onError('notifications'),
      }),
      pipelineType === undefined
        ? Promise.resolve()
        : watcher.watch(pipelineType, '', pipelinesHandler(notifier, now), {
            signal: term,
            onError: onError('pipelines (notifications)'),
          }),
    ]);
  } finally {
    unobserve();
    unsubscribe();
    await notifier.stop();
  }
}

const notificationsHandler = (notifier: Notifier) => (event: WatchEvent) => {
  if (event.type === 'SYNCED') return;
  const { namespace = '', name = '' } = event.object.metadata;
  if (event.type === 'DELETED') notifier.delete(namespace, name);
  else notifier.set(event.object);
};

/** A Pipeline's latest run that ended since the last sight of it; the first list is the baseline. */
function pipelinesHandler(notifier: Notifier, now: () => Date) {
  const seen = new Map<string, PipelineState>();
  let synced = false;
  return (event: WatchEvent) => {
    if (event.type === 'SYNCED') {
      synced = true;
      return;
    }
    const pipeline = event.object as PipelineState;
    const key = `${pipeline.metadata.namespace ?? ''}/${pipeline.metadata.name ?? ''}`;
    const before = seen.get(key);
    if (event.type === 'DELETED') {
      seen.delete(key);
      return;
    }
    seen.set(key, pipeline);
    if (!synced) return;
    const run = pipelineRunEvent(before ?? { metadata: pipeline.metadata }, pipeline, now());
    if (run) notifier.emit(run);
  };
}

/** The labels of the promotion's Environment ({} when it cannot be read). */
async function environmentLabels(
  cluster: KubeCluster,
  type: ResourceType | undefined,
  promotion: PromotionState,
): Promise<Record<string, string>> {
  if (type === undefined) return {};
  try {
    return (await cluster.get(type, promotion.namespace, promotion.environment))?.metadata.labels ?? {};
  } catch {
    return {};
  }
}
