// Repositories made for Argo CD sync with Capstan as they are (test/fixtures/argocd): sync waves with a
// wave-1 hook between wave-0 and wave-2 objects, pre- and post-sync hooks deleted on success, Helm hooks
// with generateName, a SyncFail hook after a failed PreSync migration. Each syncs, diffs clean and re-syncs with its resources unchanged; the order is
// read from the objects' own times (creation, a Job's completion, seen by a watch of the hook Jobs).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { SyncResult } from '../../src/core/sync-result.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import {
  controllersWork,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { fixture } from '../../src/testing/git.ts';

let kubeconfig: string;
let kube: KubeClients;
let batch: k8s.BatchV1Api;

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
  batch = kube.config.makeApiClient(k8s.BatchV1Api);
});

const seconds = (time: Date | string | undefined): number => {
  assert.ok(time !== undefined, 'a time is set');
  return new Date(time).getTime();
};

/** sync, diff, sync again, as a CI job would: the results of both syncs; `afterFirst` reads the cluster in between. */
async function syncTwice(
  source: string,
  target: readonly string[],
  afterFirst: () => Promise<void> = () => Promise.resolve(),
): Promise<{ first: SyncResult; second: SyncResult }> {
  const first = await runCapstan(['sync', source, ...target, '--timeout', '120s', '-o', 'json']);
  assert.equal(first.code, 0, first.stderr);
  await afterFirst();
  const diff = await runCapstan(['diff', source, ...target]);
  assert.equal(diff.code, 0, diff.stdout + diff.stderr);
  const second = await runCapstan(['sync', source, ...target, '--timeout', '120s', '-o', 'json']);
  assert.equal(second.code, 0, second.stderr);
  const again = JSON.parse(second.stdout) as SyncResult;
  for (const entry of again.entries.filter((e) => e.hook === undefined))
    assert.equal(entry.action, 'unchanged', `${entry.id.kind}/${entry.id.name} re-synced unchanged`);
  return { first: JSON.parse(first.stdout) as SyncResult, second: again };
}

/**
 * What a watch saw of the namespace's Jobs while it ran: when each was created and when it succeeded
 * (its SuccessCriteriaMet or Complete condition). A hook deleted on success takes its status with it,
 * and the job controller may not write its "Completed" event for a Job already gone: the watch sees
 * every version up to the deletion.
 */
async function watchJobs(
  namespace: string,
): Promise<{ created: Map<string, number>; succeeded: Map<string, number>; stop: () => void }> {
  const created = new Map<string, number>();
  const succeeded = new Map<string, number>();
  const controller = await new k8s.Watch(kube.config).watch(
    `/apis/batch/v1/namespaces/${namespace}/jobs`,
    {},
    (_phase, job: k8s.V1Job) => {
      const name = job.metadata?.name ?? '';
      if (job.metadata?.creationTimestamp) created.set(name, seconds(job.metadata.creationTimestamp));
      const done = job.status?.conditions?.find(
        (c) => (c.type === 'SuccessCriteriaMet' || c.type === 'Complete') && c.status === 'True',
      );
      if (done?.lastTransitionTime && !succeeded.has(name))
        succeeded.set(name, seconds(done.lastTransitionTime));
    },
    () => undefined,
  );
  return {
    created,
    succeeded,
    stop: () => {
      controller.abort();
    },
  };
}

describe('Argo CD repositories, as they are', () => {
  it('sync waves: wave 0, the wave-1 Sync hook (completed), then wave 2', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await controllersWork(kube, namespace);
    const target = [
      '--app',
      `waves-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    // Read after the first sync: the second one runs the hook again (a new Job, as in Argo CD).
    const { first } = await syncTwice(fixture('argocd', 'sync-waves'), target, async () => {
      const settings = await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' });
      const seed = await batch.readNamespacedJob({ namespace, name: 'seed' });
      const web = await kube.apps.readNamespacedDeployment({ namespace, name: 'web' });
      // Wave 0 before the hook; the hook completed before wave 2 was created.
      assert.ok(seconds(settings.metadata?.creationTimestamp) <= seconds(seed.metadata?.creationTimestamp));
      assert.ok(seconds(seed.status?.completionTime) <= seconds(web.metadata?.creationTimestamp));
    });
    assert.deepEqual(
      first.entries.map((e) => `${e.wave}:${e.id.kind}/${e.id.name}:${e.action}`),
      ['0:ConfigMap/settings:created', '1:Job/seed:created', '2:Deployment/web:created'],
    );
  });

  it('pre- and post-sync hooks: run around the application, deleted once they succeed; Prune=false kept', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await controllersWork(kube, namespace);
    const application = `hooks-${randomBytes(3).toString('hex')}`;
    const target = ['--app', application, '--namespace', namespace, '--kubeconfig', kubeconfig];
    // The order is read after the first sync, from what a watch saw of the hook Jobs (the second sync
    // runs both hooks again, as new Jobs of the same names).
    const hookJobs = await watchJobs(namespace);
    t.after(hookJobs.stop);
    const { first } = await syncTwice(fixture('argocd', 'pre-post-hooks'), target, async () => {
      hookJobs.stop();
      const api = await kube.apps.readNamespacedDeployment({ namespace, name: 'api' });
      const apiCreated = seconds(api.metadata?.creationTimestamp);
      const migrated = hookJobs.succeeded.get('db-migrate');
      const smoke = hookJobs.created.get('smoke-test');
      assert.ok(migrated !== undefined && migrated <= apiCreated, 'PreSync succeeded before the Deployment');
      assert.ok(smoke !== undefined && apiCreated <= smoke, 'PostSync created after the Deployment');
    });
    assert.deepEqual(
      first.entries.map((e) => `${e.hook ?? 'Sync'}:${e.id.kind}/${e.id.name}:${e.action}`),
      [
        'PreSync:Job/db-migrate:created',
        'Sync:Service/api:created',
        'Sync:Deployment/api:created',
        'PostSync:Job/smoke-test:created',
      ],
    );
    const jobs = await batch.listNamespacedJob({ namespace });
    assert.deepEqual(
      jobs.items.map((j) => j.metadata?.name),
      [],
      'both hooks were deleted when they succeeded (HookSucceeded)',
    );

    // Prune=false: the Service stays when it leaves the desired state; the Deployment is pruned.
    const pruned = await runCapstan([
      'sync',
      fixture('argocd', 'sync-waves'),
      ...target,
      '--prune',
      '-o',
      'json',
    ]);
    assert.equal(pruned.code, 0, pruned.stderr);
    const result = JSON.parse(pruned.stdout) as SyncResult;
    const entry = (kind: string, name: string) =>
      result.entries.find((e) => e.id.kind === kind && e.id.name === name);
    assert.equal(entry('Service', 'api')?.action, 'skipped');
    assert.match(entry('Service', 'api')?.message ?? '', /Prune=false: kept/);
    assert.equal(entry('Deployment', 'api')?.action, 'pruned');
    await kube.core.readNamespacedService({ namespace, name: 'api' });
  });

  it('Helm hooks with generateName: a new Job each sync, the pre-install one deleted when it succeeded', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await controllersWork(kube, namespace);
    const target = ['--app', 'shop', '--namespace', namespace, '--kubeconfig', kubeconfig];
    // The pre-install Job is deleted once it succeeds: its times are read from a watch.
    const hookJobs = await watchJobs(namespace);
    t.after(hookJobs.stop);
    const { first, second } = await syncTwice(fixture('argocd', 'helm-hooks'), target, async () => {
      hookJobs.stop();
      const shop = await kube.apps.readNamespacedDeployment({ namespace, name: 'shop-shop' });
      const migrations = [...hookJobs.succeeded].filter(([name]) => name.startsWith('shop-migrate-'));
      assert.equal(migrations.length, 1, JSON.stringify([...hookJobs.succeeded]));
      assert.ok(
        (migrations[0]?.[1] ?? Infinity) <= seconds(shop.metadata?.creationTimestamp),
        'the pre-install hook succeeded before the Deployment was created',
      );
    });
    const hookNames = (result: SyncResult) =>
      result.entries
        .filter((e) => e.hook !== undefined)
        .map((e) => `${e.hook ?? ''}:${e.id.name}:${e.action}`);
    for (const result of [first, second])
      assert.match(
        hookNames(result).join(' '),
        /^PreSync:shop-migrate-[0-9a-f]{5}:created PostSync:shop-notify-[0-9a-f]{5}:created$/,
      );
    assert.notEqual(hookNames(first).join(), hookNames(second).join(), 'new names each sync');
    const jobs = (await batch.listNamespacedJob({ namespace })).items
      .map((j) => j.metadata?.name ?? '')
      .sort();
    // hook-succeeded removed both migrations; before-hook-creation on a generated name removes nothing.
    assert.equal(jobs.length, 2, jobs.join(', '));
    for (const job of jobs) assert.match(job, /^shop-notify-[0-9a-f]{5}$/);
    const shop = await kube.apps.readNamespacedDeployment({ namespace, name: 'shop-shop' });
    const notified = await Promise.all(
      jobs.map(async (name) =>
        seconds((await batch.readNamespacedJob({ namespace, name })).metadata?.creationTimestamp),
      ),
    );
    assert.ok(notified.every((time) => seconds(shop.metadata?.creationTimestamp) <= time));
  });
  it('SyncFail: a failed PreSync migration stops the sync, then the SyncFail hook runs and is deleted once it succeeds', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await controllersWork(kube, namespace);
    const target = [
      '--app',
      `syncfail-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const hookJobs = await watchJobs(namespace);
    t.after(hookJobs.stop);
    const run = await runCapstan([
      'sync',
      fixture('argocd', 'sync-fail'),
      ...target,
      '--timeout',
      '120s',
      '-o',
      'json',
    ]);
    assert.equal(run.code, 4, run.stdout + run.stderr);
    const result = JSON.parse(run.stdout) as SyncResult;
    assert.equal(result.phase, 'Failed');
    assert.match(result.message, /PreSync hook failed/);
    const entries = result.entries.map((e) => `${e.hook ?? 'Sync'}:${e.id.kind}/${e.id.name}:${e.action}`);
    assert.equal(entries[0], 'PreSync:Job/db-migrate:failed', entries.join(' '));
    assert.match(entries.slice(1).join(' '), /^SyncFail:Job\/db-restore-[0-9a-f]{5}:created$/);
    // Nothing of the application was applied after the failed migration.
    await assert.rejects(kube.apps.readNamespacedDeployment({ namespace, name: 'api' }), /404|not ?found/i);

    // The order, from the objects' times: the migration failed, then the restore was created; the
    // restore succeeded and was deleted (HookSucceeded); the failed migration stays for its logs.
    const migration = await batch.readNamespacedJob({ namespace, name: 'db-migrate' });
    const failed = migration.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
    assert.ok(failed, JSON.stringify(migration.status));
    const restores = [...hookJobs.created].filter(([name]) => name.startsWith('db-restore-'));
    assert.equal(restores.length, 1, JSON.stringify([...hookJobs.created]));
    const [restore, created] = restores[0] ?? ['', 0];
    assert.ok(seconds(failed.lastTransitionTime) <= created, 'SyncFail created after the migration failed');
    assert.ok(hookJobs.succeeded.has(restore), 'the SyncFail hook succeeded');
    const left = (await batch.listNamespacedJob({ namespace })).items.map((j) => j.metadata?.name);
    assert.deepEqual(left, ['db-migrate']);
  });
});
