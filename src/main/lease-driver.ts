// One replica at a time: a server's background work (pipelines, promotions) runs while its process holds
// a Lease, and another replica takes over when it stops renewing. The agent elects its leader the same
// way (src/controller/agent.ts), with its own options.
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { systemClock } from '../adapters/clock.ts';
import { KubeLeaseLock } from '../adapters/kube/lease-lock.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { LeaderElector } from '../controller/leader-election.ts';
import { messageOf } from '../core/errors.ts';
import type { Logger } from '../ports/logger.ts';

/** Where the Lease lives and who this process is; false: this process works alone (one replica, tests). */
export type LeaseElection =
  false | { readonly namespace: string; readonly identity?: string; readonly leaseDurationSeconds?: number };

/**
 * Runs `work` until `signal` aborts: at once when `election` is false or absent, otherwise during each term
 * this process holds the Lease `lease` (work's own signal ends with the term).
 */
export async function whileLeading(
  what: {
    readonly config: KubeConfig;
    readonly lease: string;
    readonly election?: LeaseElection | undefined;
    readonly log?: Logger | undefined;
  },
  work: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const { election, log } = what;
  if (election === undefined || election === false) {
    await work(signal);
    return;
  }
  const elector = new LeaderElector({
    lock: new KubeLeaseLock(new RestClient(what.config, { timeoutMs: 2_000 }), {
      namespace: election.namespace,
      name: what.lease,
    }),
    identity: election.identity ?? process.env['POD_NAME'] ?? `${hostname()}-${String(process.pid)}`,
    clock: systemClock,
    ...(election.leaseDurationSeconds === undefined
      ? {}
      : { leaseDurationSeconds: election.leaseDurationSeconds }),
    onStartedLeading: work,
    onError: (error) =>
      log?.({ level: 'warn', msg: `${what.lease} leader election`, error: messageOf(error) }),
  });
  await elector.run(signal);
}
