// Leader election over a real Lease on the API server: one leader among two candidates, a hand-over at
// once on a graceful stop, after the lease expires when the leader dies, and a leader that cannot renew
// steps down.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { KubeLeaseLock } from '../../src/adapters/kube/lease-lock.ts';
import { RestClient } from '../../src/adapters/kube/rest-client.ts';
import { LeaderElector, type LeaderElectionOptions } from '../../src/controller/leader-election.ts';
import type { LeaseLock } from '../../src/ports/lease.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

let config: KubeConfig;
let kube: KubeClients;

before(async () => {
  const path = await agentKubeconfig(await testCluster());
  config = loadKubeConfig({ kubeconfig: path });
  kube = kubeClients(path);
});

// Short durations, as the brief of the test says: lease 3 s, renew deadline 2 s, retry 0.5 s.
const LEASE_SECONDS = 3;
const RENEW_DEADLINE_MS = 2_000;
const RETRY_MS = 500;
const JITTER = 0.2;
/** The lease of the release test: so long that only a release lets another lead within the test. */
const RELEASED_LEASE_SECONDS = 3600;

interface Candidate {
  readonly identity: string;
  readonly elector: LeaderElector;
  readonly stop: AbortController;
  /** Resolves when run() has returned. */
  readonly done: Promise<void>;
  readonly log: string[];
}

/** Who leads right now (work started and not yet stopped), and the most that ever led at once. */
class Leadership {
  readonly current = new Set<string>();
  maxAtOnce = 0;

  started(identity: string): void {
    this.current.add(identity);
    this.maxAtOnce = Math.max(this.maxAtOnce, this.current.size);
  }

  stopped(identity: string): void {
    this.current.delete(identity);
  }

  only(): string {
    assert.equal(this.current.size, 1, `expected one leader, got [${[...this.current].join(', ')}]`);
    return [...this.current][0] ?? '';
  }
}

function lockFor(namespace: string): { lock: KubeLeaseLock; client: RestClient } {
  const client = new RestClient(config, { timeoutMs: 2_000 });
  return { lock: new KubeLeaseLock(client, { namespace, name: 'capstan-agent' }), client };
}

function candidate(
  t: { after(fn: () => Promise<void>): void },
  namespace: string,
  identity: string,
  leadership: Leadership,
  options: Partial<LeaderElectionOptions> & {
    /** Wraps the candidate's lock; `stop` is the controller of its run. */
    wrap?: (lock: LeaseLock, stop: AbortController) => LeaseLock;
  } = {},
): Candidate {
  const { lock, client } = lockFor(namespace);
  const log: string[] = [];
  const stop = new AbortController();
  const { wrap, ...electionOptions } = options;
  const elector = new LeaderElector({
    lock: wrap ? wrap(lock, stop) : lock,
    identity,
    clock: systemClock,
    leaseDurationSeconds: LEASE_SECONDS,
    renewDeadlineMs: RENEW_DEADLINE_MS,
    retryPeriodMs: RETRY_MS,
    jitterFactor: JITTER,
    onStartedLeading: (signal) => {
      leadership.started(identity);
      log.push('started');
      return new Promise<void>((resolve) => {
        const end = () => {
          leadership.stopped(identity);
          resolve();
        };
        if (signal.aborted) end();
        else signal.addEventListener('abort', end, { once: true });
      });
    },
    onStoppedLeading: () => log.push('stopped'),
    ...electionOptions,
  });
  const done = elector.run(stop.signal);
  t.after(async () => {
    stop.abort();
    // A run that does not end is a failure of its own, said at once rather than by the test's timeout.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${identity}: run() did not return within 15 s of its stop`));
      }, 15_000);
    });
    try {
      await Promise.race([done, late]);
    } finally {
      clearTimeout(timer);
      client.close();
    }
  });
  return { identity, elector, stop, done, log };
}

describe('leader election over a Lease', () => {
  it('two candidates: exactly one leads, and keeps leading', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const leadership = new Leadership();
    const a = candidate(t, namespace, 'agent-a', leadership);
    const b = candidate(t, namespace, 'agent-b', leadership);
    const leader = await eventually(() => leadership.only(), { what: 'a leader', timeoutMs: 10_000 });
    // Two lease durations: the positive signal is a renewal written two lease durations after the
    // acquisition (the other candidate would have taken an unrenewed lease by then), seen by the other.
    await eventually(
      async () => {
        const record = (await lockFor(namespace).lock.get())?.record;
        const acquired = record?.acquireTime?.getTime() ?? Infinity;
        return (record?.renewTime?.getTime() ?? 0) >= acquired + 2 * LEASE_SECONDS * 1000;
      },
      { what: 'a renewal two lease durations after the acquisition', timeoutMs: 30_000 },
    );
    await eventually(() => [a, b].every((c) => c.elector.leader === leader), {
      what: 'both candidates to see the leader',
      timeoutMs: 10_000,
    });
    assert.equal(leadership.only(), leader);
    assert.equal(leadership.maxAtOnce, 1, 'never two leaders at once');
    const [leading, waiting] = leader === a.identity ? [a, b] : [b, a];
    assert.equal(leading.elector.isLeader, true);
    assert.equal(waiting.elector.isLeader, false);
    assert.equal(waiting.elector.leader, leader, 'the other candidate sees who leads');
    const lease = await lockFor(namespace).lock.get();
    assert.equal(lease?.record.holderIdentity, leader);
    assert.equal(lease.record.leaseDurationSeconds, LEASE_SECONDS);
    // The leader keeps renewing: a later read shows a later renewTime, still its own.
    const renewed = lease.record.renewTime?.getTime() ?? 0;
    await eventually(
      async () => {
        const later = await lockFor(namespace).lock.get();
        return later?.record.holderIdentity === leader && (later.record.renewTime?.getTime() ?? 0) > renewed;
      },
      { what: 'the leader to renew its lease', timeoutMs: 10_000 },
    );
  });

  it('a graceful stop releases the lease: the other leads long before it would expire', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const leadership = new Leadership();
    // A lease of an hour: b can lead within this test only because a released it (no timing involved).
    const long = { leaseDurationSeconds: RELEASED_LEASE_SECONDS };
    const a = candidate(t, namespace, 'agent-a', leadership, long);
    await eventually(() => a.elector.isLeader, { what: 'a to lead', timeoutMs: 10_000 });
    const b = candidate(t, namespace, 'agent-b', leadership, long);
    // The positive signal that b looked: it has read the lease and knows a leads.
    await eventually(() => b.elector.leader === 'agent-a', { what: 'b to see a lead', timeoutMs: 10_000 });
    assert.equal(leadership.only(), 'agent-a');

    const held = (await lockFor(namespace).lock.get())?.record.renewTime?.getTime() ?? 0;
    a.stop.abort();
    await a.done;
    assert.deepEqual(a.log, ['started', 'stopped']);
    const lease = await lockFor(namespace).lock.get();
    assert.ok(
      lease?.record.holderIdentity === '' || lease?.record.holderIdentity === 'agent-b',
      'the holder was emptied',
    );

    await eventually(() => b.elector.isLeader, { what: 'b to lead', timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(leadership.maxAtOnce, 1);
    const after = await lockFor(namespace).lock.get();
    assert.equal(after?.record.holderIdentity, 'agent-b');
    // Because of the release, not the expiry: b acquired it before a's lease (as last renewed) ran out.
    assert.ok((after.record.acquireTime?.getTime() ?? Infinity) < held + RELEASED_LEASE_SECONDS * 1000);
    assert.equal(after.record.leaseTransitions, 1, 'one transition: a → b');
  });

  it('a killed leader (no release) is replaced once its lease has expired', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const leadership = new Leadership();
    const a = candidate(t, namespace, 'agent-a', leadership, { releaseOnCancel: false });
    await eventually(() => a.elector.isLeader, { what: 'a to lead', timeoutMs: 10_000 });
    const b = candidate(t, namespace, 'agent-b', leadership);
    // b has read the lease (and so times its expiry from a's renewals).
    await eventually(() => b.elector.leader === 'agent-a', { what: 'b to see a lead', timeoutMs: 10_000 });
    assert.equal(leadership.only(), 'agent-a');

    // The leader stops renewing and does not release: as if the process were killed.
    a.stop.abort();
    await a.done;
    const abandoned = (await lockFor(namespace).lock.get())?.record;
    assert.equal(abandoned?.holderIdentity, 'agent-a', 'not released');
    const lastRenew = abandoned.renewTime?.getTime() ?? 0;

    await eventually(() => b.elector.isLeader, { what: 'b to lead', timeoutMs: 15_000, intervalMs: 20 });
    // Not before the lease expired: b acquired it (as its record says) a lease duration or more after
    // a's last renewal.
    const taken = (await lockFor(namespace).lock.get())?.record;
    assert.equal(taken?.holderIdentity, 'agent-b');
    const acquired = taken.acquireTime?.getTime() ?? 0;
    assert.ok(
      acquired >= lastRenew + LEASE_SECONDS * 1000,
      `acquired ${acquired - lastRenew} ms after the last renewal`,
    );
    assert.equal(leadership.maxAtOnce, 1);
  });

  it('a leader that cannot renew steps down within the renew deadline, then campaigns again', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const leadership = new Leadership();
    const a = candidate(t, namespace, 'agent-a', leadership);
    await eventually(() => a.elector.isLeader, { what: 'a to lead', timeoutMs: 10_000 });

    // Someone else takes the lease behind a's back, with a long duration: a's renewals now fail.
    const { lock, client } = lockFor(namespace);
    t.after(() => {
      client.close();
      return Promise.resolve();
    });
    const seen = await lock.get();
    assert.ok(seen);
    const now = new Date();
    const taken = await lock.update(
      {
        holderIdentity: 'intruder',
        leaseDurationSeconds: 60,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: seen.record.leaseTransitions + 1,
      },
      seen.resourceVersion,
    );
    assert.ok(taken, 'the intruder wrote the lease');

    await eventually(() => !a.elector.isLeader, {
      what: 'a to step down',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    // On failing to renew, not on seeing the intruder's lease expire: the intruder still holds it.
    assert.equal((await lock.get())?.record.holderIdentity, 'intruder');
    assert.deepEqual(a.log, ['started', 'stopped']);
    assert.equal(a.elector.leader, 'intruder');

    // Still a candidate: when the intruder releases, a leads again.
    const current = await lock.get();
    assert.ok(current);
    assert.ok(
      await lock.update(
        { ...current.record, holderIdentity: '', leaseDurationSeconds: 1 },
        current.resourceVersion,
      ),
    );
    await eventually(() => a.elector.isLeader, { what: 'a to lead again', timeoutMs: 10_000 });
    assert.deepEqual(a.log, ['started', 'stopped', 'started']);
  });

  it('stopped while it takes the lease: no term starts, and the lease is handed on', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const leadership = new Leadership();
    // The run is stopped after the lease was written and before the elector hears the answer: the
    // window in which a candidate stopped by its owner may win the lease another has just released.
    const a = candidate(t, namespace, 'agent-a', leadership, {
      wrap: (lock, stop) => ({
        describe: () => lock.describe(),
        get: () => lock.get(),
        create: async (record) => {
          const created = await lock.create(record);
          stop.abort();
          return created;
        },
        update: (record, resourceVersion) => lock.update(record, resourceVersion),
      }),
    });
    await a.done;
    assert.deepEqual(a.log, [], 'no term started');
    assert.equal(leadership.maxAtOnce, 0);
    assert.equal(a.elector.isLeader, false);
    const lease = await lockFor(namespace).lock.get();
    assert.equal(lease?.record.holderIdentity, '', 'released for the next candidate');
  });

  it('refuses settings where a leader could outlive its lease', () => {
    const { lock, client } = lockFor('default');
    client.close();
    const base = { lock, identity: 'x', clock: systemClock, onStartedLeading: () => undefined };
    assert.throws(
      () => new LeaderElector({ ...base, leaseDurationSeconds: 3, renewDeadlineMs: 3_000 }),
      RangeError,
    );
    assert.throws(
      () => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }),
      RangeError,
    );
    assert.throws(() => new LeaderElector({ ...base, identity: '' }), RangeError);
    assert.doesNotThrow(() => new LeaderElector(base));
  });
});
