// Environments and promotions in the server's event stream (GET /api/v1/stream, docs/promotions.md):
// a watch of Environments records each change of one (what GET /environments shows of it), and, when
// its status names another latest promotion or another state of it, that promotion's record read from
// the Store. The status is written by the replica that drives promotions and by the API after a
// promotion by hand, an approval or a rejection, so every replica's stream hears of each step.
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import type { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { infoOf } from '../api/server/promotions.ts';
import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND, resolveEnvironment } from '../contracts/environment.ts';
import { messageOf } from '../core/errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { PromotionStore } from '../ports/store.ts';
import type { WatchEvent } from '../ports/watch.ts';
import type { ApplicationIndex, ChangeType } from '../server/application-index.ts';

export interface PromotionStreamOptions {
  readonly cluster: KubeCluster;
  readonly watchClient: RestClient;
  readonly promotions: PromotionStore;
  /** Where the changes are numbered, with the Applications'. */
  readonly index: ApplicationIndex;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

const TYPES: Readonly<Record<string, ChangeType>> = {
  ADDED: 'added',
  MODIFIED: 'modified',
  DELETED: 'deleted',
};

/** Feeds the stream until `signal` aborts; nothing on a cluster without the Environment CRD. */
export async function streamPromotions(options: PromotionStreamOptions): Promise<void> {
  const { index, log } = options;
  const type = await options.cluster.resourceType(ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND);
  if (type === undefined) return;
  /** Per Environment, the latest promotion its status named, and its state. */
  const named = new Map<string, string>();
  let synced = false;
  // Promotions are read one after the other, so that they are recorded in the order of the events.
  let reading = Promise.resolve();
  const promotion = (id: string, type: ChangeType) => {
    reading = reading.then(async () => {
      try {
        const record = await options.promotions.get(id);
        if (record !== undefined)
          index.recordOther({ kind: 'promotion', type, project: record.project, data: record });
      } catch (error) {
        log({ level: 'warn', msg: 'promotion not streamed', promotion: id, error: messageOf(error) });
      }
    });
  };
  const handle = (event: WatchEvent) => {
    if (event.type === 'SYNCED') {
      synced = true;
      return;
    }
    const resolved = resolveEnvironment(event.object);
    const change = TYPES[event.type];
    if (!resolved.ok || change === undefined) return;
    const env = resolved.value;
    const key = `${env.namespace}/${env.name}`;
    index.recordOther({ kind: 'environment', type: change, project: env.project, data: infoOf(env) });
    const last = env.status?.lastPromotion;
    if (event.type === 'DELETED' || last === undefined) {
      named.delete(key);
      return;
    }
    const version = `${last.id}|${last.state}`;
    const before = named.get(key);
    named.set(key, version);
    // At start, the promotions are in the lists a client reads first; afterwards, each step is news.
    if (before === version || (!synced && before === undefined)) return;
    promotion(last.id, before?.startsWith(`${last.id}|`) === true ? 'modified' : 'added');
  };
  await new KubeWatcher(options.watchClient).watch(type, '', handle, {
    signal: options.signal,
    onError: (error) => {
      log({ level: 'warn', msg: 'environments watch', code: error.code, error: error.message });
    },
  });
  await reading;
}
