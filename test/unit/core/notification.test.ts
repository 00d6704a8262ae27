import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  applicationEvents,
  genericBody,
  pipelineRunEvent,
  promotionEvent,
  signature,
  slackBody,
  verifySignature,
  wants,
  type ApplicationState,
  type NotificationEvent,
} from '../../../src/core/notification.ts';

const NOW = new Date('2026-12-07T04:00:00Z');
const app = (status: ApplicationState['status']): ApplicationState => ({
  metadata: { namespace: 'shop', name: 'web', labels: { team: 'a' } },
  ...(status === undefined ? {} : { status }),
});
const failed = (startedAt: string) => ({
  phase: 'Failed',
  type: 'sync',
  revision: 'abc',
  startedAt,
  message: 'the plan failed',
});

describe('applicationEvents', () => {
  it('a sync that became Failed is one event; the same failure written again is none', () => {
    const before = app({ operation: { phase: 'Running', type: 'sync', startedAt: 't1' } });
    const after = app({ operation: failed('t1') });
    const events = applicationEvents(before, after, NOW);
    assert.deepEqual(
      events.map((e) => [e.type, e.revision, e.message, e.path]),
      [['ApplicationSyncFailed', 'abc', 'the plan failed', '/applications/shop/web']],
    );
    assert.deepEqual(applicationEvents(after, app({ operation: failed('t1'), health: {} }), NOW), []);
    // Another failed sync (a new start) is a new event, with another id.
    const again = applicationEvents(after, app({ operation: failed('t2') }), NOW);
    assert.equal(again.length, 1);
    assert.notEqual(again[0]?.id, events[0]?.id);
  });

  it('a refresh that failed is not a sync failure', () => {
    const after = app({ operation: { ...failed('t1'), type: 'refresh' } });
    assert.deepEqual(applicationEvents(app({}), after, NOW), []);
  });

  it('Degraded once per transition', () => {
    const degraded = app({ health: { status: 'Degraded', message: 'crash loop' } });
    assert.deepEqual(
      applicationEvents(app({ health: { status: 'Healthy' } }), degraded, NOW).map((e) => [
        e.type,
        e.message,
      ]),
      [['ApplicationDegraded', 'crash loop']],
    );
    assert.deepEqual(applicationEvents(degraded, degraded, NOW), []);
  });

  it('a new revision live is ApplicationSynced; a re-sync of the same revision or a failure is not', () => {
    const one = { id: 1, revision: 'r1', result: 'Succeeded' };
    const two = { id: 2, revision: 'r2', result: 'Succeeded', message: 'bump' };
    const events = applicationEvents(app({ history: [one] }), app({ history: [one, two] }), NOW);
    assert.deepEqual(
      events.map((e) => [e.type, e.revision, e.message]),
      [['ApplicationSynced', 'r2', 'r2 is live: bump']],
    );
    const same = { id: 2, revision: 'r1', result: 'Succeeded' };
    assert.deepEqual(applicationEvents(app({ history: [one] }), app({ history: [one, same] }), NOW), []);
    const bad = { id: 2, revision: 'r2', result: 'Failed' };
    assert.deepEqual(applicationEvents(app({ history: [one] }), app({ history: [one, bad] }), NOW), []);
    assert.deepEqual(applicationEvents(app({ history: [one, two] }), app({ history: [one, two] }), NOW), []);
  });

  it('the first sight and a deletion are no transition', () => {
    const degraded = app({ health: { status: 'Degraded' }, operation: failed('t1') });
    assert.deepEqual(applicationEvents(undefined, degraded, NOW), []);
    assert.deepEqual(applicationEvents(degraded, undefined, NOW), []);
  });
});

describe('promotionEvent and pipelineRunEvent', () => {
  it('a promotion waiting, failed or verified; other states none', () => {
    const promotion = { id: 'p1', namespace: 'shop', environment: 'prod', image: 'img@sha256:1' };
    const waiting = promotionEvent({ ...promotion, state: 'WaitingForApproval' }, { tier: 'prod' }, NOW);
    assert.equal(waiting?.type, 'PromotionWaitingForApproval');
    assert.equal(waiting.path, '/promotions/p1');
    assert.deepEqual(waiting.labels, { tier: 'prod' });
    const failure = promotionEvent(
      { ...promotion, state: 'Failed', reason: 'Degraded', message: 'x' },
      {},
      NOW,
    );
    assert.match(failure?.message ?? '', /Failed \(Degraded: x\)/);
    assert.equal(promotionEvent({ ...promotion, state: 'Committed' }, {}, NOW), undefined);
  });

  it("a Pipeline's latest run that ended, once", () => {
    const meta = { namespace: 'shop', name: 'hello' };
    const running = { metadata: meta, status: { lastRun: { id: 'r1', phase: 'Running', revision: 'c' } } };
    const failedRun = { metadata: meta, status: { lastRun: { id: 'r1', phase: 'Failed', revision: 'c' } } };
    const event = pipelineRunEvent(running, failedRun, NOW);
    assert.deepEqual([event?.type, event?.path, event?.revision], ['PipelineRunFailed', '/runs/r1', 'c']);
    assert.equal(pipelineRunEvent(failedRun, failedRun, NOW), undefined);
    assert.equal(pipelineRunEvent(undefined, failedRun, NOW), undefined);
    const next = { metadata: meta, status: { lastRun: { id: 'r2', phase: 'Succeeded', revision: 'd' } } };
    assert.equal(pipelineRunEvent(failedRun, next, NOW)?.type, 'PipelineRunSucceeded');
  });
});

const event: NotificationEvent = {
  type: 'ApplicationSyncFailed',
  kind: 'Application',
  namespace: 'shop',
  name: 'web',
  labels: { team: 'a' },
  revision: 'abc',
  message: 'the plan failed: <ConfigMap> & more',
  path: '/applications/shop/web',
  time: NOW.toISOString(),
  id: 'ApplicationSyncFailed/shop/web/t1',
};

describe('wants', () => {
  const interest = { namespace: 'shop', events: ['ApplicationSyncFailed'] };
  it('its namespace only, its events, its selector', () => {
    assert.ok(wants(interest, event));
    assert.ok(!wants({ ...interest, namespace: 'other' }, event));
    assert.ok(!wants({ ...interest, events: ['ApplicationDegraded'] }, event));
    assert.ok(wants({ ...interest, selector: { names: ['web'] } }, event));
    assert.ok(!wants({ ...interest, selector: { names: ['api'] } }, event));
    assert.ok(wants({ ...interest, selector: { matchLabels: { team: 'a' } } }, event));
    assert.ok(!wants({ ...interest, selector: { matchLabels: { team: 'b' } } }, event));
    assert.ok(!wants({ ...interest, suspend: true }, event));
  });
});

describe('bodies and signature', () => {
  it('the generic body names the event, the object, the revision and links to the UI', () => {
    assert.deepEqual(JSON.parse(genericBody(event, 'https://capstan.test/')), {
      event: 'ApplicationSyncFailed',
      severity: 'error',
      object: { kind: 'Application', namespace: 'shop', name: 'web' },
      revision: 'abc',
      message: 'the plan failed: <ConfigMap> & more',
      url: 'https://capstan.test/applications/shop/web',
      time: NOW.toISOString(),
      id: 'ApplicationSyncFailed/shop/web/t1',
    });
    assert.equal((JSON.parse(genericBody(event, undefined)) as { url?: string }).url, undefined);
  });

  it("Slack's body: text, blocks, mrkdwn escaped, a link", () => {
    const body = JSON.parse(slackBody(event, 'https://capstan.test')) as {
      text: string;
      blocks: { type: string; text?: { text: string }; elements?: { text: string }[] }[];
    };
    assert.match(body.text, /ApplicationSyncFailed: Application\/shop\/web: the plan failed/);
    assert.equal(body.blocks[0]?.text?.text.includes('&lt;ConfigMap&gt; &amp; more'), true);
    assert.equal(
      body.blocks.at(-1)?.elements?.[0]?.text,
      '<https://capstan.test/applications/shop/web|Open in Capstan>',
    );
  });

  it("sha256=<HMAC-SHA256 of the body>, as GitHub's; verified in constant time", () => {
    const body = genericBody(event, undefined);
    const expected = `sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`;
    assert.equal(signature(body, 'k'), expected);
    assert.ok(verifySignature(body, 'k', expected));
    assert.ok(!verifySignature(body, 'other', expected));
    assert.ok(!verifySignature(`${body} `, 'k', expected));
    assert.ok(!verifySignature(body, 'k', undefined));
    assert.ok(!verifySignature(body, 'k', 'sha256=short'));
  });
});
