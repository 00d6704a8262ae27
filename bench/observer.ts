// Watches the marker ConfigMaps of a namespace and records when each application's revision first
// appeared: how the harness sees any system's progress, without asking the system.
import { KubeWatcher } from '../src/adapters/kube/watch.ts';
import { RestClient } from '../src/adapters/kube/rest-client.ts';
import { loadKubeConfig } from '../src/adapters/kube/kube-cluster.ts';
import type { ResourceType } from '../src/ports/cluster.ts';
import { MARKER_LABEL } from './fixtures.ts';

const CONFIG_MAPS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};

export class MarkerObserver {
  readonly #client: RestClient;
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;
  /** `app` → revision → first time seen (performance.now()). */
  readonly #seen = new Map<string, Map<string, number>>();
  readonly #current = new Map<string, string>();
  /** Each app's revisions in the order they became live. */
  readonly #history = new Map<string, { revision: string; at: number }[]>();
  #synced = false;
  #waiters: (() => void)[] = [];

  constructor(kubeconfig: string, namespace: string) {
    this.#client = new RestClient(loadKubeConfig({ kubeconfig }));
    this.#done = new KubeWatcher(this.#client).watch(
      CONFIG_MAPS,
      namespace,
      (event) => {
        if (event.type === 'SYNCED') {
          this.#synced = true;
        } else {
          const app = event.object.metadata.labels?.['bench.capstan.dev/app'];
          if (app === undefined) return;
          if (event.type === 'DELETED') {
            this.#current.delete(app);
            this.#history.get(app)?.push({ revision: '', at: performance.now() });
          } else {
            const revision = (event.object['data'] as Record<string, string> | undefined)?.['revision'] ?? '';
            this.#current.set(app, revision);
            let history = this.#history.get(app);
            if (!history) this.#history.set(app, (history = []));
            if (history[history.length - 1]?.revision !== revision)
              history.push({ revision, at: performance.now() });
            let revisions = this.#seen.get(app);
            if (!revisions) this.#seen.set(app, (revisions = new Map<string, number>()));
            if (!revisions.has(revision)) revisions.set(revision, performance.now());
          }
        }
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters) w();
      },
      { signal: this.#stop.signal, labelSelector: MARKER_LABEL },
    );
  }

  /** When `app` first showed `revision` (performance.now()), if it has. */
  seenAt(app: string, revision: string): number | undefined {
    return this.#seen.get(app)?.get(revision);
  }

  current(app: string): string | undefined {
    return this.#current.get(app);
  }

  /**
   * Resolves with the time each app first showed its revision (at or after `since`), or rejects
   * after `timeoutMs` naming the apps still missing.
   */
  async waitFor(
    wanted: ReadonlyMap<string, string>,
    timeoutMs: number,
    since = Number.NEGATIVE_INFINITY,
  ): Promise<Map<string, number>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const times = new Map<string, number>();
      for (const [app, revision] of wanted) {
        // Only the live value counts: a revision seen, then changed by someone, is not applied.
        if (this.#current.get(app) !== revision) break;
        const at = this.#history.get(app)?.find((h) => h.revision === revision && h.at >= since)?.at;
        if (at !== undefined) times.set(app, at);
      }
      if (this.#synced && times.size === wanted.size) return times;
      const left = deadline - performance.now();
      if (left <= 0) {
        const missing = [...wanted].filter(([app, revision]) => this.#current.get(app) !== revision);
        throw new Error(
          `timed out after ${String(Math.round(timeoutMs / 1000))} s: ${String(missing.length)} of ${String(wanted.size)} applications not at their revision (${missing
            .slice(0, 5)
            .map(([a, r]) => `${a}: ${this.#current.get(a) ?? 'absent'} ≠ ${r}`)
            .join(', ')}${missing.length > 5 ? ', …' : ''})`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#done;
    this.#client.close();
  }
}
