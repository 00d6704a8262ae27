import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  notificationCrd,
  validateNotification,
  webhookUrlProblem,
} from '../../../src/contracts/notification.ts';

/** The errors of a validation that must fail. */
function errorsOf(result: ReturnType<typeof validateNotification>): string[] {
  if (result.ok) throw new Error('accepted');
  return result.errors;
}

const object = (spec: unknown) => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Notification',
  metadata: { name: 'alerts', namespace: 'shop' },
  spec,
});

describe('Notification', () => {
  it('accepts events, a selector and a webhook by URL or by Secret', () => {
    assert.ok(
      validateNotification(
        object({
          events: ['ApplicationSyncFailed', 'PipelineRunFailed'],
          selector: { names: ['web'], matchLabels: { tier: 'prod' } },
          webhook: { url: 'https://hooks.example.com/x', format: 'slack' },
        }),
      ).ok,
    );
    assert.ok(
      validateNotification(
        object({ events: ['ApplicationDegraded'], webhook: { secretRef: { name: 'hook' } } }),
      ).ok,
    );
  });

  it('names the object and the field of each error', () => {
    const result = validateNotification(
      object({
        events: ['SyncFailed'],
        selector: { matchLabels: { tier: 1 } },
        webhook: { url: 'https://user:pw@hooks.example.com/x', format: 'teams' },
      }),
    );
    assert.deepEqual(
      errorsOf(result).map((e) => e.replace(/: must.*/, '')),
      [
        'Notification/shop/alerts: spec.events[0]',
        'Notification/shop/alerts: spec.selector.matchLabels.tier',
        'Notification/shop/alerts: spec.webhook.format',
        'Notification/shop/alerts: spec.webhook.url',
      ],
    );
    const empty = validateNotification(object({ events: [], webhook: {} }));
    assert.match(errorsOf(empty).join('\n'), /spec.events: .*at least 1/);
    const nowhere = validateNotification(object({ events: ['ApplicationDegraded'], webhook: {} }));
    assert.deepEqual(errorsOf(nowhere), [
      'Notification/shop/alerts: spec: webhook needs a url or a secretRef (whose Secret holds the url)',
    ]);
  });

  it('refuses a URL that is not http(s) or that carries a user or password', () => {
    assert.equal(webhookUrlProblem('https://hooks.example.com/x'), undefined);
    assert.equal(webhookUrlProblem('ftp://hooks.example.com/x'), 'not http:// or https://');
    assert.equal(webhookUrlProblem('https://u:p@hooks.example.com/x'), 'a user or password in the URL');
    assert.equal(webhookUrlProblem('not a url'), 'not a URL');
  });

  it('its CRD: namespaced, a status subresource, the same checks in CEL', () => {
    const crd = notificationCrd() as unknown as {
      spec: { scope: string; versions: { subresources: unknown; schema: { openAPIV3Schema: unknown } }[] };
    };
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.deepEqual(crd.spec.versions[0]?.subresources, { status: {} });
    const [version] = crd.spec.versions;
    assert.ok(version);
    const schema = JSON.stringify(version.schema.openAPIV3Schema);
    assert.match(schema, /has\(self.webhook.url\) \|\| has\(self.webhook.secretRef\)/);
    assert.match(
      schema,
      /"matchLabels":\{"type":"object","description":"[^"]*","additionalProperties":\{"type":"string"/,
    );
  });
});
