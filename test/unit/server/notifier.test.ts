import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LastDelivery } from '../../../src/contracts/notification.ts';
import type { NotificationEvent } from '../../../src/core/notification.ts';
import type { WebhookAnswer, WebhookRequest } from '../../../src/ports/notification.ts';
import { Notifier, type NotifierOptions } from '../../../src/server/notifier.ts';
import { eventually } from '../../../src/testing/eventually.ts';

const event = (id: string, name = 'web'): NotificationEvent => ({
  type: 'ApplicationSyncFailed',
  kind: 'Application',
  namespace: 'shop',
  name,
  labels: {},
  message: 'failed',
  path: `/applications/shop/${name}`,
  time: '2026-12-07T04:00:00.000Z',
  id,
});

const notification = (name: string, webhook: Record<string, unknown>) => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Notification',
  metadata: { namespace: 'shop', name },
  spec: { events: ['ApplicationSyncFailed'], webhook },
});

/** A poster answering from a script (then 200), or held until released; what it was sent, kept. */
function harness(options: Partial<NotifierOptions> & { answers?: WebhookAnswer[]; hold?: boolean } = {}) {
  const sent: WebhookRequest[] = [];
  const statuses: { name: string; lastDelivery: LastDelivery; lastFailure?: LastDelivery }[] = [];
  const results: string[] = [];
  const held: (() => void)[] = [];
  const answers = [...(options.answers ?? [])];
  let inFlight = 0;
  let maxInFlight = 0;
  const notifier = new Notifier({
    poster: {
      post: async (request) => {
        sent.push(request);
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (options.hold === true) await new Promise<void>((resolve) => held.push(resolve));
        inFlight -= 1;
        return answers.shift() ?? { status: 200 };
      },
    },
    readSecret: (_ns, name, key) =>
      Promise.resolve(
        name === 'hook'
          ? ({ secret: 'k', url: 'http://receiver.test/from-secret' } as Record<string, string>)[key]
          : undefined,
      ),
    writeStatus: (_ns, name, status) => {
      statuses.push({ name, ...status });
      return Promise.resolve();
    },
    retry: { baseDelayMs: 1, maxDelayMs: 5, retries: 2 },
    onResult: (result) => results.push(result),
    ...options,
  });
  return { notifier, sent, statuses, results, held, maxInFlight: () => maxInFlight };
}

describe('Notifier', () => {
  it('signs with the Secret’s key and takes the URL from it when the spec has none', async () => {
    const h = harness();
    h.notifier.set(notification('n', { secretRef: { name: 'hook' } }));
    h.notifier.emit(event('e1'));
    await eventually(() => h.statuses.length === 1);
    const [first] = h.sent;
    assert.ok(first);
    assert.equal(first.url, 'http://receiver.test/from-secret');
    assert.match(first.headers['X-Capstan-Signature'] ?? '', /^sha256=[0-9a-f]{64}$/);
    assert.deepEqual(h.results, ['Delivered']);
    await h.notifier.stop();
  });

  it('each event once per Notification, though emitted twice', async () => {
    const h = harness();
    h.notifier.set(notification('n', { url: 'http://receiver.test/a' }));
    h.notifier.emit(event('e1'));
    h.notifier.emit(event('e1'));
    h.notifier.emit(event('e2'));
    await eventually(() => h.statuses.length === 2);
    assert.deepEqual(
      h.sent.map((r) => (JSON.parse(r.body) as { id: string }).id),
      ['e1', 'e2'],
    );
    await h.notifier.stop();
  });

  it('retries a 5xx and no answer, not a 4xx; gives up after its retries', async () => {
    const h = harness({ answers: [{ status: 503 }, { error: 'refused (ECONNREFUSED)' }, { status: 200 }] });
    h.notifier.set(notification('n', { url: 'http://receiver.test/a' }));
    h.notifier.emit(event('e1'));
    await eventually(() => h.results.length === 3);
    assert.deepEqual(h.results, ['Retrying', 'Retrying', 'Delivered']);
    assert.equal(h.statuses.at(-1)?.lastDelivery.attempts, 3);

    const refused = harness({ answers: [{ status: 404 }] });
    refused.notifier.set(notification('n', { url: 'http://receiver.test/a' }));
    refused.notifier.emit(event('e1'));
    await eventually(() => refused.statuses.length === 1);
    assert.deepEqual(refused.results, ['Failed']);
    assert.equal(refused.statuses[0]?.lastFailure?.httpStatus, 404);
    assert.equal(refused.notifier.pending, 0, 'nothing waits for a retry');

    const down = harness({ answers: [{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }] });
    down.notifier.set(notification('n', { url: 'http://receiver.test/a' }));
    down.notifier.emit(event('e1'));
    await eventually(() => down.results.at(-1) === 'Failed');
    assert.deepEqual(down.results, ['Retrying', 'Retrying', 'Failed']);
    await Promise.all([h.notifier.stop(), refused.notifier.stop(), down.notifier.stop()]);
  });

  it('at most `concurrency` at a time; a full queue drops its oldest, counted', async () => {
    const h = harness({ hold: true, concurrency: 2, queueLimit: 3 });
    h.notifier.set(notification('n', { url: 'http://receiver.test/a' }));
    for (let i = 0; i < 7; i++) h.notifier.emit(event(`e${String(i)}`, `app${String(i)}`));
    // 2 sent now, 3 queued, 2 dropped (the oldest of the queue: e2 and e3).
    assert.equal(h.sent.length, 2);
    assert.deepEqual(h.results, ['Dropped', 'Dropped']);
    assert.equal(h.notifier.pending, 5);
    const drained = () => h.sent.length >= 5 && h.held.length === 0;
    while (!drained()) {
      h.held.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => h.results.length === 7);
    assert.deepEqual(
      h.sent.map((r) => (JSON.parse(r.body) as { id: string }).id),
      ['e0', 'e1', 'e4', 'e5', 'e6'],
    );
    assert.equal(h.maxInFlight(), 2);
    await h.notifier.stop();
  });

  it('an invalid Notification sends nothing; a URL with a password is refused', async () => {
    const lines: unknown[] = [];
    const h = harness({ log: (line) => lines.push(line) });
    h.notifier.set(notification('bad', { url: 'http://user:secret@receiver.test/a' }));
    h.notifier.emit(event('e1'));
    assert.equal(h.sent.length, 0);
    assert.match(JSON.stringify(lines), /Notification\/shop\/bad: spec.webhook.url/);
    assert.doesNotMatch(JSON.stringify(lines), /user:secret/);
    await h.notifier.stop();
  });
});
