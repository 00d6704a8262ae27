// Notifications end to end (docs/notifications.md) against the real API server, `capstan server` (its
// own least-privilege identity, its Lease capstan-notifications) and a real HTTP receiver (a loopback
// server in this test). The real agent (`capstan agent`, a process) fails the sync of an Application
// whose ConfigMap the API server refuses: one ApplicationSyncFailed, signed with the Secret's key. The
// other cases write the Applications' status as the agent writes it (the server's side is under test,
// from the watch to the receiver): a status written again without a new transition sends nothing; a
// receiver answering 500 gets the delivery again until it answers 200; a 400 is not retried and shows
// in the Notification's status; a Notification of another namespace hears nothing of this one's
// objects; a promotion waiting for its approval notifies (Slack's format); /metrics counts by result.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { APPLICATION_API_VERSION } from '../../src/contracts/application.ts';
import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND } from '../../src/contracts/environment.ts';
import {
  NOTIFICATION_API_VERSION,
  NOTIFICATION_KIND,
  type Notification,
} from '../../src/contracts/notification.ts';
import { verifySignature } from '../../src/core/notification.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startAgentProcess } from '../../src/testing/agent-process.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installEnvironmentCrd,
  installNotificationCrd,
  testCluster,
  untilApplicationsGone,
} from '../../src/testing/cluster.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { eventually } from '../../src/testing/eventually.ts';
import {
  adminHeaders,
  serverIdentity,
  serverTestKube,
  startTestServer,
  type ServerTestKube,
} from '../../src/testing/server.ts';

const PUBLIC_URL = 'https://capstan.test';
const SIGNING_KEY = 'notification-signing-key';

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly answered: number;
}

/** The receiver: every request kept, answered with the next status scripted for its path, else 200. */
const received: Received[] = [];
const script = new Map<string, number[]>();
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const path = request.url ?? '/';
    const answered = script.get(path)?.shift() ?? 200;
    received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
    response.writeHead(answered).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
after(
  () =>
    new Promise<void>((resolve) => {
      receiver.close(() => {
        resolve();
      });
    }),
);
const receiverUrl = `http://127.0.0.1:${String((receiver.address() as AddressInfo).port)}`;

interface Body {
  event: string;
  severity: string;
  object: { kind: string; namespace: string; name: string };
  revision?: string;
  message: string;
  url?: string;
  id: string;
}
const bodyOf = (r: Received) => JSON.parse(r.body) as Body;
const at = (path: string) => received.filter((r) => r.path === path);

let test: ServerTestKube;
let notificationType: ResourceType;
let envType: ResourceType;
let home: string;
let base: string;
/** The Applications' and the Notifications' namespace, and another one. */
let apps: string;
let other: string;
const cleanups: (() => Promise<void>)[] = [];
const context = {
  name: 'notifications',
  after: (fn: () => Promise<void>) => {
    cleanups.push(fn);
  },
};

before(async () => {
  test = await serverTestKube();
  notificationType = await installNotificationCrd(test.admin);
  envType = await installEnvironmentCrd(test.admin);
  home = await freshNamespace(context, test.kube);
  apps = await freshNamespace(context, test.kube);
  other = await freshNamespace(context, test.kube);
  const kubeconfig = await serverIdentity(test.admin, home);
  const dir = await mkdtemp(join(tmpdir(), 'capstan-notify-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const server = await startTestServer((fn) => cleanups.push(fn), {
    kubeconfig,
    namespace: home,
    database: join(dir, 'server.db'),
    promotions: {},
    // Retries soon (the receiver's 500s), so that the test waits little.
    notifications: { publicUrl: PUBLIC_URL, notifier: { retry: { baseDelayMs: 100, maxDelayMs: 1_000 } } },
  });
  base = server.base;
  await test.kube.core.createNamespacedSecret({
    namespace: apps,
    body: { metadata: { name: 'hook' }, stringData: { secret: SIGNING_KEY } },
  });
  await notification(apps, 'team', {
    events: ['ApplicationSyncFailed', 'ApplicationDegraded'],
    selector: { names: ['web', 'probe'] },
    webhook: { url: `${receiverUrl}/team`, secretRef: { name: 'hook' } },
  });
  await notification(apps, 'flaky', {
    events: ['ApplicationSyncFailed'],
    selector: { names: ['flaky'] },
    webhook: { url: `${receiverUrl}/flaky` },
  });
  await notification(apps, 'refused', {
    events: ['ApplicationSyncFailed'],
    selector: { names: ['refused'] },
    webhook: { url: `${receiverUrl}/refused` },
  });
  await notification(apps, 'approvals', {
    events: ['PromotionWaitingForApproval'],
    webhook: { url: `${receiverUrl}/approvals`, format: 'slack' },
  });
  await notification(other, 'elsewhere', {
    events: [
      'ApplicationSyncFailed',
      'ApplicationDegraded',
      'ApplicationSynced',
      'PromotionWaitingForApproval',
    ],
    webhook: { url: `${receiverUrl}/elsewhere` },
  });
  for (const name of ['web', 'probe', 'flaky', 'refused']) await application(apps, name);
  await application(other, 'theirs');
  // Ready when the leader delivers: the probe degrades (again, after a Healthy) until /team hears of it.
  // The Notifications were created before: the leader's watch has them all by then.
  let round = 0;
  await eventually(
    async () => {
      round += 1;
      await writeStatus(apps, 'probe', { health: { status: 'Healthy' } });
      await writeStatus(apps, 'probe', { health: { status: 'Degraded', message: `round ${String(round)}` } });
      return at('/team').some((r) => bodyOf(r).object.name === 'probe');
    },
    { what: 'the leader delivering notifications', timeoutMs: 120_000, intervalMs: 1_000 },
  );
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  test.admin.close();
});

async function notification(namespace: string, name: string, spec: Notification['spec']): Promise<void> {
  await test.admin.apply(
    notificationType,
    { apiVersion: NOTIFICATION_API_VERSION, kind: NOTIFICATION_KIND, metadata: { name, namespace }, spec },
    { fieldManager: 'capstan-test' },
  );
}

async function application(namespace: string, name: string): Promise<void> {
  await test.admin.apply(
    test.appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name, namespace, labels: { team: 'a' } },
      spec: { source: { repoURL: 'https://git.capstan.invalid/apps.git', path: name } },
    },
    { fieldManager: 'capstan-test' },
  );
}

/** Merge-patches the Application's status, as the agent writes it. */
async function writeStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
  const res = await test.admin.client.call(
    'PATCH',
    `/apis/${APPLICATION_API_VERSION}/namespaces/${namespace}/applications/${name}/status`,
    { body: { status }, contentType: 'application/merge-patch+json' },
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

const failedSync = (startedAt: string, message: string) => ({
  operation: {
    phase: 'Failed',
    type: 'sync',
    revision: 'a'.repeat(40),
    startedAt,
    finishedAt: startedAt,
    message,
  },
});

async function statusOf(namespace: string, name: string): Promise<Notification['status']> {
  return ((await test.admin.get(notificationType, namespace, name)) as Notification | undefined)?.status;
}

describe('notifications', () => {
  it('the real agent failing a sync: one ApplicationSyncFailed with its message', async (t) => {
    const git = await startGitServer((fn) => cleanups.push(fn));
    // A ConfigMap whose data is not a string: the API server's dry-run refuses it, the sync fails.
    await git.createRepository(`broken-${apps}`, {
      files: {
        'broken/settings.yaml':
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  count: [1, 2]\n',
      },
      message: 'a ConfigMap the API server refuses',
    });
    await test.kube.core.createNamespacedSecret({ namespace: apps, body: gitSecretBody(git) });
    await notification(apps, 'agent', {
      events: ['ApplicationSyncFailed'],
      selector: { names: ['broken'] },
      webhook: { url: `${receiverUrl}/agent`, secretRef: { name: 'hook' } },
    });
    const label = `notify-${apps.slice(-6)}`;
    // Before the agent stops (after-hooks run in order): its finalizer removed by the agent itself.
    t.after(() => untilApplicationsGone(test.admin, test.appType, `capstan.dev/test-notify=${label}`));
    const agent = await startAgentProcess(t.after.bind(t), {
      kubeconfig: await agentKubeconfig(await testCluster()),
      selector: `capstan.dev/test-notify=${label}`,
    });
    await agent.started();
    await test.admin.apply(
      test.appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: 'Application',
        metadata: { name: 'broken', namespace: apps, labels: { 'capstan.dev/test-notify': label } },
        spec: {
          source: {
            repoURL: git.url(`broken-${apps}`),
            path: 'broken',
            insecureHttp: true,
            secretRef: { name: 'git' },
          },
          syncPolicy: { automated: {} },
        },
      },
      { fieldManager: 'capstan-test' },
    );
    const [delivery] = await eventually(() => at('/agent').length >= 1 && at('/agent'), {
      what: 'the agent’s failed sync notified',
      timeoutMs: 120_000,
    });
    assert.ok(delivery);
    const body = bodyOf(delivery);
    assert.equal(body.event, 'ApplicationSyncFailed');
    assert.deepEqual(body.object, { kind: 'Application', namespace: apps, name: 'broken' });
    assert.match(body.revision ?? '', /^[0-9a-f]{40}$/);
    assert.ok(verifySignature(delivery.body, SIGNING_KEY, delivery.headers['x-capstan-signature'] as string));
    const app = await test.admin.get(test.appType, apps, 'broken');
    const operation = (app?.['status'] as { operation?: { phase: string; message?: string } }).operation;
    assert.equal(operation?.phase, 'Failed');
    assert.equal(body.message, operation.message);
  });

  it('a failed sync is sent once, signed; a status written again without a new transition sends nothing', async () => {
    await writeStatus(apps, 'web', failedSync('2026-01-01T10:00:00Z', 'the plan failed for 1 object(s)'));
    // The same failed operation written again (the agent's next status write): no transition.
    await writeStatus(apps, 'web', {
      ...failedSync('2026-01-01T10:00:00Z', 'the plan failed for 1 object(s)'),
      health: { status: 'Healthy' },
    });
    // Then a second failed sync: the positive signal that the write before it was seen and sent nothing.
    await writeStatus(apps, 'web', failedSync('2026-01-01T10:05:00Z', 'the second failure'));
    const failures = await eventually(
      () => {
        const mine = at('/team').filter((r) => bodyOf(r).object.name === 'web');
        return mine.length >= 2 && mine;
      },
      { what: 'two ApplicationSyncFailed of web' },
    );
    // Deliveries go out several at a time: the two may arrive in either order.
    assert.deepEqual(failures.map((r) => bodyOf(r).message).sort(), [
      'the plan failed for 1 object(s)',
      'the second failure',
    ]);
    const first = failures.find((r) => bodyOf(r).message === 'the plan failed for 1 object(s)');
    assert.ok(first);
    const body = bodyOf(first);
    assert.equal(body.event, 'ApplicationSyncFailed');
    assert.equal(body.severity, 'error');
    assert.deepEqual(body.object, { kind: 'Application', namespace: apps, name: 'web' });
    assert.equal(body.revision, 'a'.repeat(40));
    assert.equal(body.url, `${PUBLIC_URL}/applications/${apps}/web`);
    assert.equal(first.headers['x-capstan-event'], 'ApplicationSyncFailed');
    const header = first.headers['x-capstan-signature'];
    assert.equal(typeof header, 'string');
    assert.ok(verifySignature(first.body, SIGNING_KEY, header as string), 'the signature is the body’s HMAC');
    assert.ok(!verifySignature(first.body, 'another key', header as string));
    const status = await eventually(async () => {
      const s = await statusOf(apps, 'team');
      return s?.lastDelivery?.object === `Application/${apps}/web` && s;
    });
    assert.equal(status.lastDelivery?.result, 'Delivered');
    assert.equal(status.lastDelivery.httpStatus, 200);
  });

  it('a receiver answering 500 gets the delivery again until it answers 200', async () => {
    script.set('/flaky', [500]);
    await writeStatus(apps, 'flaky', failedSync('2026-01-01T11:00:00Z', 'flaky failure'));
    const tries = await eventually(() => at('/flaky').length >= 2 && at('/flaky'));
    assert.deepEqual(
      tries.map((r) => r.answered),
      [500, 200],
    );
    assert.equal(bodyOf(tries[0] as Received).id, bodyOf(tries[1] as Received).id, 'the same event again');
    const status = await eventually(async () => {
      const s = await statusOf(apps, 'flaky');
      return s?.lastDelivery?.result === 'Delivered' && s;
    });
    assert.equal(status.lastDelivery?.attempts, 2);
    assert.equal(status.lastFailure?.httpStatus, 500);
    assert.equal(status.lastFailure.result, 'Retrying');
  });

  it('a 400 is not retried and shows in the status', async () => {
    script.set('/refused', [400]);
    await writeStatus(apps, 'refused', failedSync('2026-01-01T12:00:00Z', 'refused failure'));
    const status = await eventually(async () => {
      const s = await statusOf(apps, 'refused');
      return s?.lastDelivery?.result === 'Failed' && s;
    });
    assert.equal(status.lastDelivery?.httpStatus, 400);
    assert.equal(status.lastDelivery.attempts, 1);
    assert.match(status.lastDelivery.error ?? '', /answered 400/);
    assert.doesNotMatch(JSON.stringify(status), /127\.0\.0\.1/, 'the URL is never in the status');
    // A second event: the receiver then has it and only it after the 400 (the first was not sent again).
    await writeStatus(apps, 'refused', failedSync('2026-01-01T12:05:00Z', 'second refused failure'));
    const sent = await eventually(() => at('/refused').length >= 2 && at('/refused'));
    assert.deepEqual(
      sent.map((r) => [r.answered, bodyOf(r).message]),
      [
        [400, 'refused failure'],
        [200, 'second refused failure'],
      ],
    );
  });

  it('a Notification of another namespace hears nothing of this one’s objects', async () => {
    await writeStatus(other, 'theirs', { health: { status: 'Degraded', message: 'theirs degraded' } });
    const theirs = await eventually(() => at('/elsewhere').length >= 1 && at('/elsewhere'));
    // Everything of apps happened before (the tests above): /elsewhere has only its own namespace's.
    assert.deepEqual(
      theirs.map((r) => bodyOf(r).object),
      [{ kind: 'Application', namespace: other, name: 'theirs' }],
    );
  });

  it('a promotion waiting for its approval notifies (Slack format)', async () => {
    await test.admin.apply(
      envType,
      {
        apiVersion: ENVIRONMENT_API_VERSION,
        kind: ENVIRONMENT_KIND,
        metadata: { name: 'staging', namespace: apps },
        spec: {
          application: 'web',
          config: {
            repoURL: 'https://git.capstan.invalid/config.git',
            file: 'staging/kustomization.yaml',
            kustomizeImage: 'hello',
          },
          gates: { approval: 'Required' },
        },
      },
      { fieldManager: 'capstan-test' },
    );
    const headers = await adminHeaders(test.admin, base, home);
    const image = `127.0.0.1:5000/capstan/hello@sha256:${'4'.repeat(64)}`;
    const promoted = await eventually(async () => {
      const res = await fetch(`${base}/api/v1/environments/${apps}/staging/promote`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ image }),
      });
      return res.status === 200 || res.status === 201 ? ((await res.json()) as { id: string }) : false;
    });
    const [message] = await eventually(() => at('/approvals').length >= 1 && at('/approvals'));
    assert.ok(message);
    const slack = JSON.parse(message.body) as { text: string; blocks: { type: string }[] };
    assert.match(slack.text, /PromotionWaitingForApproval: Environment\/.*\/staging/);
    assert.ok(slack.blocks.length >= 2);
    assert.ok(
      message.body.includes(`${PUBLIC_URL}/promotions/${promoted.id}`),
      'the message links to the promotion',
    );
    assert.equal(message.headers['x-capstan-signature'], undefined, 'no Secret: not signed');
    assert.equal(at('/elsewhere').length, 1, 'the other namespace heard nothing of it');
  });

  it('counts deliveries by result in /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const count = (result: string) =>
      Number(
        new RegExp(`^capstan_notification_deliveries_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(
          text,
        )?.[1],
      );
    assert.ok(count('Delivered') >= 6, text);
    assert.ok(count('Retrying') >= 1);
    assert.ok(count('Failed') >= 1);
    assert.equal(count('Dropped'), 0);
  });
});
