// The agent's HTTP surface through Fastify's inject() (no sockets): probes, and the webhook receivers
// of every provider with payloads shaped as the providers document them (test/fixtures/webhooks/).
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import {
  buildAgentApi,
  MAX_CHANGED_PATHS,
  type AgentApiOptions,
  type PullRequestEvent,
  type RefreshEvent,
  type WebhookOutcome,
  type WebhookSecrets,
} from '../../../src/api/agent-api.ts';
import { DeliveryCache } from '../../../src/api/delivery-cache.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/webhooks');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

const SECRETS = {
  github: 'gh-hmac-5ecret-value',
  gitlab: 'gl-token-5ecret-value',
  gitea: 'gitea-hmac-5ecret-value',
  bitbucket: 'bb-hmac-5ecret-value',
  generic: 'generic-bearer-5ecret-value',
} as const satisfies WebhookSecrets;

const hmac = (secret: string, body: Buffer | string): string =>
  createHmac('sha256', secret).update(body).digest('hex');

interface Harness {
  readonly app: FastifyInstance;
  readonly events: RefreshEvent[];
  readonly logs: Record<string, unknown>[];
  readonly outcomes: WebhookOutcome[];
  readonly responses: LightMyRequestResponse[];
  advance(ms: number): void;
  post(url: string, headers: Record<string, string>, body: Buffer | string): Promise<LightMyRequestResponse>;
}

const open: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((app) => app.close()));
});

function harness(overrides: Partial<AgentApiOptions> = {}): Harness {
  const events: RefreshEvent[] = [];
  const logs: Record<string, unknown>[] = [];
  const outcomes: WebhookOutcome[] = [];
  const responses: LightMyRequestResponse[] = [];
  let now = 1_700_000_000_000;
  const app = buildAgentApi({
    metrics: () => '# HELP capstan_up Up.\n# TYPE capstan_up gauge\ncapstan_up 1\n',
    ready: () => ({ ready: true }),
    refresh: (event) => {
      events.push(event);
      return Promise.resolve({ applications: ['web', 'api'] });
    },
    webhookSecrets: () => Promise.resolve(SECRETS),
    logger: (line) => logs.push(line),
    now: () => now,
    onWebhook: (outcome) => outcomes.push(outcome),
    ...overrides,
  });
  open.push(app);
  return {
    app,
    events,
    logs,
    outcomes,
    responses,
    advance: (ms) => {
      now += ms;
    },
    post: async (url, headers, body) => {
      const response = await app.inject({ method: 'POST', url, headers, payload: body });
      responses.push(response);
      return response;
    },
  };
}

/** No secret, token or signature in any log line or response body. */
function assertNothingLeaked(h: Harness, ...extra: string[]): void {
  const text = JSON.stringify(h.logs) + h.responses.map((r) => r.body).join('\n');
  for (const secret of [...Object.values(SECRETS), ...extra]) {
    assert.ok(!text.includes(secret), `'${secret.slice(0, 12)}…' leaked`);
  }
}

const githubHeaders = (
  body: Buffer | string,
  event = 'push',
  delivery = 'f1e2d3c4-0000-11ef-8a3b-0242ac120002',
) => ({
  'content-type': 'application/json',
  'x-github-event': event,
  'x-github-delivery': delivery,
  'x-hub-signature-256': `sha256=${hmac(SECRETS.github, body)}`,
});
const gitlabHeaders = (event = 'Push Hook', token: string = SECRETS.gitlab) => ({
  'content-type': 'application/json',
  'x-gitlab-event': event,
  'x-gitlab-token': token,
  'x-gitlab-event-uuid': '7b1c2f0a-3f5e-4f4e-9d62-1c2b3a4d5e6f',
});
const giteaHeaders = (body: Buffer | string, event = 'push') => ({
  'content-type': 'application/json',
  'x-gitea-event': event,
  'x-gitea-delivery': 'a5c3f7d2-9b8e-4c1d-8f6a-2b3c4d5e6f70',
  'x-gitea-signature': hmac(SECRETS.gitea, body),
  // Gitea also sends GitHub's headers: the receiver must still see Gitea.
  'x-github-event': event,
});
const bitbucketHeaders = (body: Buffer | string, event = 'repo:push') => ({
  'content-type': 'application/json',
  'x-event-key': event,
  'x-request-uuid': '2d1f0e9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f',
  'x-hub-signature': `sha256=${hmac(SECRETS.bitbucket, body)}`,
});
const genericHeaders = (token: string = SECRETS.generic) => ({
  'content-type': 'application/json',
  authorization: `Bearer ${token}`,
});

const GITHUB_REPO = 'github.com/capstan-demo/platform-config';
const sorted = (list: readonly string[] | undefined) => (list === undefined ? undefined : [...list].sort());

describe('probes', () => {
  it('GET /healthz answers 200 while the event loop runs', async () => {
    const h = harness();
    const response = await h.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'ok' });
  });

  it('GET /readyz answers 200, or 503 with the reason', async () => {
    let state: { ready: boolean; reason?: string } = { ready: true };
    const h = harness({ ready: () => state });
    assert.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    state = { ready: false, reason: 'the Application cache has not synced yet' };
    const response = await h.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), {
      status: 'not ready',
      reason: 'the Application cache has not synced yet',
    });
  });

  it('GET /readyz answers 503 when the check throws', async () => {
    const h = harness({
      ready: () => {
        throw new Error('boom');
      },
    });
    const response = await h.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 503);
    assert.equal(response.json<{ reason: string }>().reason, 'the readiness check failed');
  });

  it('GET /metrics serves the Prometheus text format 0.0.4', async () => {
    const h = harness();
    const response = await h.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(response.body, '# HELP capstan_up Up.\n# TYPE capstan_up gauge\ncapstan_up 1\n');
  });

  it('GET /metrics answers 500 in JSON when the registry throws, without the cause', async () => {
    const h = harness({
      metrics: () => {
        throw new Error('registry exploded');
      },
    });
    const response = await h.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 500);
    assert.equal(response.json<{ error: string }>().error, 'METRICS_FAILED');
    assert.ok(!response.body.includes('exploded'));
  });

  it('answers 404 in JSON for an unknown route, and for GET on a webhook route', async () => {
    const h = harness();
    for (const [method, url] of [
      ['GET', '/nope'],
      ['GET', '/api/v1/webhooks/github'],
      ['POST', '/api/v1/webhooks/svn'],
    ] as const) {
      const response = await h.app.inject({ method, url });
      assert.equal(response.statusCode, 404, `${method} ${url}`);
      assert.deepEqual(response.json(), { error: 'NOT_FOUND', message: 'no such route' });
    }
  });
});

describe('routes per port', () => {
  it('a webhook app serves webhooks only; a probes-and-metrics app serves no webhook', async () => {
    const webhooksOnly = harness({ serve: { probes: false, metrics: false, webhooks: true } });
    for (const url of ['/healthz', '/readyz', '/metrics']) {
      assert.equal((await webhooksOnly.app.inject({ method: 'GET', url })).statusCode, 404, url);
    }
    const body = '{"repoURL": "https://git.example.com/org/config.git"}';
    assert.equal(
      (await webhooksOnly.post('/api/v1/webhooks/generic', genericHeaders(), body)).statusCode,
      200,
    );

    const metricsPort = harness({ serve: { probes: true, metrics: true, webhooks: false } });
    assert.equal((await metricsPort.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
    for (const url of ['/api/v1/webhooks/generic', '/api/v1/webhooks/github', '/api/v1/webhooks']) {
      const response = await metricsPort.post(url, genericHeaders(), body);
      assert.equal(response.statusCode, 404, url);
    }
    assert.equal(metricsPort.events.length, 0);
  });
});

describe('GitHub webhooks', () => {
  const body = fixture('github-push.json');

  it('a signed push refreshes with the normalised URLs, ref, after and changed paths', async () => {
    const h = harness();
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), { status: 'queued', applications: ['web', 'api'], pipelines: [] });
    assert.equal(h.events.length, 1);
    const [event] = h.events;
    assert.deepEqual(
      { ...event, changedPaths: sorted(event?.changedPaths) },
      {
        provider: 'github',
        repoURLs: [GITHUB_REPO],
        ref: 'refs/heads/main',
        after: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
        changedPaths: [
          'apps/api/configmap.yaml',
          'apps/api/kustomization.yaml',
          'apps/api/service-old.yaml',
          'apps/web/deployment.yaml',
        ],
        deliveryId: 'f1e2d3c4-0000-11ef-8a3b-0242ac120002',
      },
    );
    assert.deepEqual(h.outcomes, [{ provider: 'github', result: 'queued', status: 200 }]);
    const line = h.logs.find((l) => l['msg'] === 'webhook');
    assert.equal(line?.['result'], 'queued');
    assert.equal(line['deliveryId'], 'f1e2d3c4-0000-11ef-8a3b-0242ac120002');
    assertNothingLeaked(h, hmac(SECRETS.github, body));
  });

  it('accepts the form-encoded delivery (payload=…), signed over the form bytes', async () => {
    const h = harness();
    const form = Buffer.from(new URLSearchParams({ payload: body.toString('utf8') }).toString());
    const response = await h.post(
      '/api/v1/webhooks/github',
      { ...githubHeaders(form), 'content-type': 'application/x-www-form-urlencoded' },
      form,
    );
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(h.events[0]?.repoURLs, [GITHUB_REPO]);
  });

  it('refuses a wrong signature with 401, and never calls refresh', async () => {
    const h = harness();
    const headers = {
      ...githubHeaders(body),
      'x-hub-signature-256': `sha256=${hmac('not-the-secret', body)}`,
    };
    const response = await h.post('/api/v1/webhooks/github', headers, body);
    assert.equal(response.statusCode, 401);
    assert.equal(response.json<{ error: string }>().error, 'WEBHOOK_BAD_SIGNATURE');
    assert.match(
      response.json<{ message: string }>().message,
      /X-Hub-Signature-256 signature does not match/,
    );
    assert.equal(h.events.length, 0);
    assertNothingLeaked(h, hmac('not-the-secret', body));
  });

  it('checks the signature on the raw bytes: re-serialised JSON does not pass', async () => {
    const h = harness();
    const reserialised = JSON.stringify(JSON.parse(body.toString('utf8')));
    assert.notEqual(reserialised, body.toString('utf8'));
    // Signed over the raw bytes, sent re-serialised…
    let response = await h.post('/api/v1/webhooks/github', githubHeaders(body), reserialised);
    assert.equal(response.statusCode, 401);
    // …and signed over the re-serialised text, sent as the raw bytes.
    response = await h.post('/api/v1/webhooks/github', githubHeaders(reserialised), body);
    assert.equal(response.statusCode, 401);
    assert.equal(h.events.length, 0);
  });

  it('refuses a missing or malformed signature header with 401', async () => {
    const h = harness();
    const { ['x-hub-signature-256']: _dropped, ...unsigned } = githubHeaders(body);
    let response = await h.post('/api/v1/webhooks/github', unsigned, body);
    assert.equal(response.statusCode, 401);
    assert.match(response.json<{ message: string }>().message, /X-Hub-Signature-256 header is missing/);
    response = await h.post(
      '/api/v1/webhooks/github',
      { ...unsigned, 'x-hub-signature-256': `sha1=${hmac(SECRETS.github, body).slice(0, 40)}` },
      body,
    );
    assert.equal(response.statusCode, 401);
    assert.match(response.json<{ message: string }>().message, /not of the form sha256=<hex>/);
    assert.equal(h.events.length, 0);
  });

  it('refuses every delivery with 403 when no GitHub secret is configured (absent or empty)', async () => {
    for (const secrets of [{ gitlab: 'x' }, { github: '' }, { github: [] }] satisfies WebhookSecrets[]) {
      const h = harness({ webhookSecrets: () => Promise.resolve(secrets) });
      const response = await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
      assert.equal(response.statusCode, 403);
      assert.deepEqual(response.json(), {
        error: 'WEBHOOK_NOT_CONFIGURED',
        message: "github webhooks are disabled: no github secret is configured in the agent's webhook Secret",
      });
      // Not even a ping is answered.
      const ping = fixture('github-ping.json');
      assert.equal(
        (await h.post('/api/v1/webhooks/github', githubHeaders(ping, 'ping'), ping)).statusCode,
        403,
      );
      assert.equal(h.events.length, 0);
    }
  });

  it('answers 503 when the secrets cannot be read', async () => {
    const h = harness({
      webhookSecrets: () => Promise.reject(new Error('secrets "capstan-webhooks" not found')),
    });
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
    assert.equal(response.statusCode, 503);
    assert.equal(response.json<{ error: string }>().error, 'WEBHOOK_SECRETS_UNAVAILABLE');
  });

  it('accepts any of several secrets during a rotation', async () => {
    const h = harness({ webhookSecrets: () => Promise.resolve({ github: ['new-secret', SECRETS.github] }) });
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
    assert.equal(response.statusCode, 200);
  });

  it('answers a signed ping with 200 pong, without a refresh', async () => {
    const h = harness();
    const ping = fixture('github-ping.json');
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(ping, 'ping'), ping);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'pong' });
    assert.equal(h.events.length, 0);
  });

  it('acknowledges other events with 202 and the reason', async () => {
    const h = harness();
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(body, 'pull_request'), body);
    assert.equal(response.statusCode, 202);
    assert.deepEqual(response.json(), {
      status: 'ignored',
      reason: "event 'pull_request' is not a push (expected X-GitHub-Event: push); nothing to refresh",
    });
    assert.equal(h.events.length, 0);
  });

  it('ignores a replayed body for 10 minutes (202), whatever its delivery id, then accepts it again', async () => {
    const h = harness();
    const digest = createHash('sha256').update(body).digest('hex').slice(0, 12);
    assert.equal((await h.post('/api/v1/webhooks/github', githubHeaders(body), body)).statusCode, 200);
    h.advance(9 * 60 * 1000);
    const replay = await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
    assert.equal(replay.statusCode, 202);
    assert.deepEqual(replay.json(), {
      status: 'ignored',
      reason: `this body (sha256 ${digest}) was already received (delivery f1e2d3c4-0000-11ef-8a3b-0242ac120002)`,
    });
    // The same signed body under a new delivery id (the id is not signed) is a replay too.
    const other = githubHeaders(body, 'push', 'f1e2d3c4-0000-11ef-8a3b-0242ac120099');
    assert.equal((await h.post('/api/v1/webhooks/github', other, body)).statusCode, 202);
    // Another body is not.
    const next = Buffer.from(
      body.toString('utf8').replace(/"after": ?"[0-9a-f]+"/, `"after":"${'1'.repeat(40)}"`),
    );
    assert.notDeepEqual(next, body);
    assert.equal((await h.post('/api/v1/webhooks/github', githubHeaders(next), next)).statusCode, 200);
    h.advance(2 * 60 * 1000);
    assert.equal((await h.post('/api/v1/webhooks/github', githubHeaders(body), body)).statusCode, 200);
    assert.equal(h.events.length, 3);
    assert.deepEqual(
      h.outcomes.map((o) => o.result),
      ['queued', 'replayed', 'replayed', 'queued', 'queued'],
    );
  });

  it('a replay with a bad signature is refused, not remembered', async () => {
    const h = harness();
    const forged = { ...githubHeaders(body), 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` };
    assert.equal((await h.post('/api/v1/webhooks/github', forged, body)).statusCode, 401);
    assert.equal((await h.post('/api/v1/webhooks/github', githubHeaders(body), body)).statusCode, 200);
  });

  it('answers 500 when refresh fails, without the cause, and lets the provider retry the delivery', async () => {
    let fail = true;
    const h = harness({
      refresh: () =>
        fail ? Promise.reject(new Error('queue closed')) : Promise.resolve({ applications: ['web'] }),
    });
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
    assert.equal(response.statusCode, 500);
    assert.equal(response.json<{ error: string }>().error, 'WEBHOOK_REFRESH_FAILED');
    assert.ok(!response.body.includes('queue closed'));
    assert.ok(h.logs.some((l) => l['cause'] === 'queue closed'));
    fail = false;
    const retry = await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
    assert.equal(retry.statusCode, 200);
  });

  const variant = (change: (payload: Record<string, unknown>) => void): Buffer => {
    const payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    change(payload);
    return Buffer.from(JSON.stringify(payload, null, 2));
  };

  it('leaves the changed paths unknown when the push was forced, created the ref, or may be truncated', async () => {
    const commits = (JSON.parse(body.toString('utf8')) as { commits: unknown[] }).commits;
    const cases: [string, Buffer][] = [
      ['forced', variant((p) => (p['forced'] = true))],
      ['created', variant((p) => ((p['created'] = true), (p['before'] = '0'.repeat(40))))],
      ['20 commits', variant((p) => (p['commits'] = Array.from({ length: 20 }, (_, i) => commits[i % 2])))],
      ['no commits', variant((p) => (p['commits'] = []))],
      ['no file lists', variant((p) => (p['commits'] = [{ id: 'abc1234', message: 'x' }]))],
    ];
    for (const [name, payload] of cases) {
      const h = harness();
      const response = await h.post('/api/v1/webhooks/github', githubHeaders(payload), payload);
      assert.equal(response.statusCode, 200, name);
      assert.equal(h.events[0]?.changedPaths, undefined, name);
      assert.equal(h.events[0]?.ref, 'refs/heads/main', name);
    }
  });

  it('a deleted ref refreshes without an `after`', async () => {
    const payload = variant((p) => {
      p['deleted'] = true;
      p['after'] = '0'.repeat(40);
      p['commits'] = [];
    });
    const h = harness();
    assert.equal((await h.post('/api/v1/webhooks/github', githubHeaders(payload), payload)).statusCode, 200);
    assert.deepEqual(h.events[0], {
      provider: 'github',
      repoURLs: [GITHUB_REPO],
      ref: 'refs/heads/main',
      deliveryId: 'f1e2d3c4-0000-11ef-8a3b-0242ac120002',
    });
  });
});

describe('GitLab webhooks', () => {
  const body = fixture('gitlab-push.json');

  it('a Push Hook with the right token refreshes; the path case is kept on a self-hosted GitLab', async () => {
    const h = harness();
    const response = await h.post('/api/v1/webhooks/gitlab', gitlabHeaders(), body);
    assert.equal(response.statusCode, 200, response.body);
    const [event] = h.events;
    assert.deepEqual(
      { ...event, changedPaths: sorted(event?.changedPaths) },
      {
        provider: 'gitlab',
        repoURLs: ['gitlab.example.com/Platform/Team-A/config'],
        ref: 'refs/heads/main',
        after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
        changedPaths: [
          'base/deployment.yaml',
          'overlays/staging/patch.yaml',
          'overlays/worker/kustomization.yaml',
        ],
        deliveryId: '7b1c2f0a-3f5e-4f4e-9d62-1c2b3a4d5e6f',
      },
    );
    assertNothingLeaked(h);
  });

  it('a Tag Push Hook refreshes the tag, with the paths unknown (a new ref)', async () => {
    const h = harness();
    const tag = fixture('gitlab-tag-push.json');
    assert.equal(
      (await h.post('/api/v1/webhooks/gitlab', gitlabHeaders('Tag Push Hook'), tag)).statusCode,
      200,
    );
    assert.equal(h.events[0]?.ref, 'refs/tags/v1.4.0');
    assert.equal(h.events[0].after, '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7');
    assert.equal(h.events[0].changedPaths, undefined);
  });

  it('leaves the paths unknown when GitLab cut the commit list (total_commits_count larger)', async () => {
    const payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    payload['total_commits_count'] = 42;
    const h = harness();
    assert.equal(
      (await h.post('/api/v1/webhooks/gitlab', gitlabHeaders(), JSON.stringify(payload))).statusCode,
      200,
    );
    assert.equal(h.events[0]?.changedPaths, undefined);
  });

  it('refuses a wrong or missing token with 401 (compared before the body is read)', async () => {
    const h = harness();
    let response = await h.post(
      '/api/v1/webhooks/gitlab',
      gitlabHeaders('Push Hook', 'guess'),
      '{not even json',
    );
    assert.equal(response.statusCode, 401);
    assert.equal(
      response.json<{ message: string }>().message,
      'the X-Gitlab-Token header does not match the configured gitlab secret',
    );
    // Refused before the body was read: the connection is closed rather than drained.
    assert.equal(response.headers['connection'], 'close');
    const { ['x-gitlab-token']: _dropped, ...tokenless } = gitlabHeaders();
    response = await h.post('/api/v1/webhooks/gitlab', tokenless, body);
    assert.equal(response.statusCode, 401);
    assert.equal(h.events.length, 0);
    assertNothingLeaked(h, 'guess');
  });

  it('acknowledges other hooks with 202', async () => {
    const h = harness();
    const response = await h.post('/api/v1/webhooks/gitlab', gitlabHeaders('Merge Request Hook'), body);
    assert.equal(response.statusCode, 202);
    assert.match(response.json<{ reason: string }>().reason, /Merge Request Hook/);
  });

  it('de-duplicates on Idempotency-Key, which GitLab keeps across retries', async () => {
    const h = harness();
    const headers = { ...gitlabHeaders(), 'idempotency-key': '908a6d9e-45fd-46c8-97e6-c4f350f219dd' };
    assert.equal((await h.post('/api/v1/webhooks/gitlab', headers, body)).statusCode, 200);
    const retry = { ...headers, 'x-gitlab-event-uuid': 'another-event-uuid' };
    assert.equal((await h.post('/api/v1/webhooks/gitlab', retry, body)).statusCode, 202);
    assert.equal(h.events[0]?.deliveryId, '908a6d9e-45fd-46c8-97e6-c4f350f219dd');
  });
});

describe('Gitea and Forgejo webhooks', () => {
  const body = fixture('gitea-push.json');

  it('a signed push refreshes with every URL form (the ssh port kept)', async () => {
    const h = harness();
    const response = await h.post('/api/v1/webhooks/gitea', giteaHeaders(body), body);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(h.events[0], {
      provider: 'gitea',
      repoURLs: ['gitea.example.com/ops/deploy', 'gitea.example.com:2222/ops/deploy'],
      ref: 'refs/heads/develop',
      after: 'bffeb74224043ba2feb48d137756c8a9331c449a',
      changedPaths: ['charts/shop/values.yaml'],
      deliveryId: 'a5c3f7d2-9b8e-4c1d-8f6a-2b3c4d5e6f70',
    });
  });

  it('refuses a wrong X-Gitea-Signature with 401', async () => {
    const h = harness();
    const headers = { ...giteaHeaders(body), 'x-gitea-signature': hmac(SECRETS.github, body) };
    const response = await h.post('/api/v1/webhooks/gitea', headers, body);
    assert.equal(response.statusCode, 401);
    assert.match(response.json<{ message: string }>().message, /X-Gitea-Signature/);
  });

  it('accepts Forgejo headers on the auto-detecting route', async () => {
    const h = harness();
    const headers = {
      'content-type': 'application/json',
      'x-forgejo-event': 'push',
      'x-forgejo-delivery': 'e4d3c2b1-a098-4765-b432-10fedcba9876',
      'x-forgejo-signature': hmac(SECRETS.gitea, body),
    };
    assert.equal((await h.post('/api/v1/webhooks/git', headers, body)).statusCode, 200);
    assert.equal(h.events[0]?.provider, 'gitea');
  });

  it('acknowledges other events with 202', async () => {
    const h = harness();
    const response = await h.post('/api/v1/webhooks/gitea', giteaHeaders(body, 'issues'), body);
    assert.equal(response.statusCode, 202);
  });

  it('leaves the paths unknown when total_commits says the list was cut', async () => {
    const payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    payload['total_commits'] = 9;
    const text = JSON.stringify(payload);
    const h = harness();
    assert.equal((await h.post('/api/v1/webhooks/gitea', giteaHeaders(text), text)).statusCode, 200);
    assert.equal(h.events[0]?.changedPaths, undefined);
  });
});

describe('Bitbucket webhooks', () => {
  it('a signed Bitbucket Cloud repo:push refreshes the branch (paths unknown: Bitbucket sends none)', async () => {
    const h = harness();
    const body = fixture('bitbucket-push.json');
    const response = await h.post('/api/v1/webhooks/bitbucket', bitbucketHeaders(body), body);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(h.events, [
      {
        provider: 'bitbucket',
        repoURLs: ['bitbucket.org/acme-team/cluster-config'],
        ref: 'refs/heads/main',
        after: '3c2b9a1f0e8d7c6b5a49382716051f4e3d2c1b0a',
        deliveryId: '2d1f0e9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f',
      },
    ]);
  });

  it('a Bitbucket Data Center repo:refs_changed refreshes each ref, and answers the union', async () => {
    let call = 0;
    const h = harness({
      refresh: (event) => {
        h.events.push(event);
        call += 1;
        return Promise.resolve({ applications: call === 1 ? ['web', 'api'] : ['api', 'release'] });
      },
    });
    const body = fixture('bitbucket-server-refs-changed.json');
    const headers = { ...bitbucketHeaders(body, 'repo:refs_changed'), 'x-request-uuid': '' };
    const response = await h.post('/api/v1/webhooks/bitbucket', headers, body);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), {
      status: 'queued',
      applications: ['web', 'api', 'release'],
      pipelines: [],
    });
    // Bitbucket Data Center serves https under /scm/ and ssh on port 7999: both forms are passed on.
    const urls = [
      'bitbucket.example.com:7999/ops/cluster-config',
      'bitbucket.example.com/scm/ops/cluster-config',
    ];
    assert.deepEqual(h.events, [
      {
        provider: 'bitbucket',
        repoURLs: urls,
        ref: 'refs/heads/main',
        after: '178864a7d521b6f5e720b386b2c2b0ef8563e0dc',
      },
      {
        provider: 'bitbucket',
        repoURLs: urls,
        ref: 'refs/tags/v2.0.0',
        after: '178864a7d521b6f5e720b386b2c2b0ef8563e0dc',
      },
    ]);
  });

  it('refuses a wrong X-Hub-Signature with 401, acknowledges other events, answers diagnostics:ping', async () => {
    const h = harness();
    const body = fixture('bitbucket-push.json');
    const forged = { ...bitbucketHeaders(body), 'x-hub-signature': `sha256=${hmac('wrong', body)}` };
    assert.equal((await h.post('/api/v1/webhooks/bitbucket', forged, body)).statusCode, 401);
    const fork = { ...bitbucketHeaders(body, 'repo:fork'), 'x-request-uuid': 'fork-1' };
    assert.equal((await h.post('/api/v1/webhooks/bitbucket', fork, body)).statusCode, 202);
    const ping = { ...bitbucketHeaders('{}', 'diagnostics:ping'), 'x-request-uuid': 'ping-1' };
    const pong = await h.post('/api/v1/webhooks/bitbucket', ping, '{}');
    assert.equal(pong.statusCode, 200);
    assert.deepEqual(pong.json(), { status: 'pong' });
    assert.equal(h.events.length, 0);
  });
});

describe('generic webhooks', () => {
  const body = fixture('generic.json');

  it('a Bearer-authenticated {repoURL, ref, revision, paths} refreshes', async () => {
    const h = harness();
    const response = await h.post(
      '/api/v1/webhooks/generic',
      { ...genericHeaders(), 'x-capstan-delivery': 'ci-run-4711' },
      body,
    );
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(h.events[0], {
      provider: 'generic',
      repoURLs: ['git.example.com/Platform/Config'],
      ref: 'refs/heads/main',
      after: '5f0c6a8e1d2b3c4a5f6e7d8c9b0a1f2e3d4c5b6a',
      changedPaths: ['apps/web/deployment.yaml', 'apps/web/service.yaml'],
      deliveryId: 'ci-run-4711',
    });
    assertNothingLeaked(h);
  });

  it('refuses a wrong or missing bearer token with 401', async () => {
    const h = harness();
    assert.equal((await h.post('/api/v1/webhooks/generic', genericHeaders('nope'), body)).statusCode, 401);
    const response = await h.post('/api/v1/webhooks/generic', { 'content-type': 'application/json' }, body);
    assert.equal(response.statusCode, 401);
    assert.equal(
      response.json<{ message: string }>().message,
      'an Authorization: Bearer <token> header is required',
    );
    assertNothingLeaked(h, 'nope');
  });

  it('refuses a body without repoURL, or with paths that are not strings, with 400', async () => {
    const h = harness();
    for (const [payload, message] of [
      [{ ref: 'main' }, /repoURL must be a repository URL/],
      [{ repoURL: 'https://git.example.com/a/b', paths: 'apps/web' }, /paths must be a list/],
      [{ repoURL: 'https://git.example.com/a/b', paths: [1, 2] }, /paths must be a list/],
      [{ repoURL: 'https://git.example.com/a/b', ref: 7 }, /ref must be a non-empty string/],
      [['https://git.example.com/a/b'], /the JSON body is not an object/],
    ] as const) {
      const response = await h.post('/api/v1/webhooks/generic', genericHeaders(), JSON.stringify(payload));
      assert.equal(response.statusCode, 400, JSON.stringify(payload));
      assert.equal(response.json<{ error: string }>().error, 'WEBHOOK_BAD_PAYLOAD');
      assert.match(response.json<{ message: string }>().message, message);
    }
    assert.equal(h.events.length, 0);
  });

  it(`more than ${MAX_CHANGED_PATHS} paths make the path list unknown`, async () => {
    const h = harness();
    const paths = Array.from({ length: MAX_CHANGED_PATHS + 1 }, (_, i) => `apps/a${i}/x.yaml`);
    const payload = JSON.stringify({ repoURL: 'https://git.example.com/a/b', paths });
    assert.equal((await h.post('/api/v1/webhooks/generic', genericHeaders(), payload)).statusCode, 200);
    assert.equal(h.events[0]?.changedPaths, undefined);
    // Exactly the cap is still a list.
    const atCap = JSON.stringify({ repoURL: 'https://git.example.com/a/b', paths: paths.slice(1) });
    assert.equal((await h.post('/api/v1/webhooks/generic', genericHeaders(), atCap)).statusCode, 200);
    assert.equal(h.events[1]?.changedPaths?.length, MAX_CHANGED_PATHS);
  });
});

describe('the auto-detecting route /api/v1/webhooks/git', () => {
  it('tells each provider from its headers', async () => {
    const h = harness();
    const github = fixture('github-push.json');
    const gitea = fixture('gitea-push.json');
    const bitbucket = fixture('bitbucket-push.json');
    const cases: [Record<string, string>, Buffer, string][] = [
      [githubHeaders(github), github, 'github'],
      [gitlabHeaders(), fixture('gitlab-push.json'), 'gitlab'],
      [giteaHeaders(gitea), gitea, 'gitea'],
      [bitbucketHeaders(bitbucket), bitbucket, 'bitbucket'],
      [genericHeaders(), fixture('generic.json'), 'generic'],
    ];
    for (const [headers, body, provider] of cases) {
      const response = await h.post('/api/v1/webhooks/git', headers, body);
      assert.equal(response.statusCode, 200, `${provider}: ${response.body}`);
      assert.equal(h.events.at(-1)?.provider, provider);
    }
  });

  it('answers 400 when no provider can be told', async () => {
    const h = harness();
    const response = await h.post('/api/v1/webhooks/git', { 'content-type': 'application/json' }, '{}');
    assert.equal(response.statusCode, 400);
    assert.equal(response.json<{ error: string }>().error, 'WEBHOOK_PROVIDER_UNKNOWN');
  });
});

describe('hostile input', () => {
  const body = fixture('github-push.json');

  it('refuses a body over the limit with 413 (by Content-Length, and by the bytes received)', async () => {
    const h = harness({ maxBodyBytes: 4096 });
    const big = Buffer.alloc(4097, 0x20);
    let response = await h.post('/api/v1/webhooks/gitlab', gitlabHeaders(), big);
    assert.equal(response.statusCode, 413);
    assert.deepEqual(response.json(), {
      error: 'REQUEST_BODY_TOO_LARGE',
      message: 'the body is larger than 4096 bytes',
    });
    response = await h.post('/api/v1/webhooks/github', githubHeaders(big), big);
    assert.equal(response.statusCode, 413);
    // Chunked, without Content-Length.
    response = await h.app.inject({
      method: 'POST',
      url: '/api/v1/webhooks/gitlab',
      headers: { ...gitlabHeaders(), 'transfer-encoding': 'chunked' },
      payload: big,
    });
    assert.equal(response.statusCode, 413);
    assert.equal(h.events.length, 0);
  });

  it('the default limit is 1 MiB', async () => {
    const h = harness();
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    assert.equal((await h.post('/api/v1/webhooks/gitlab', gitlabHeaders(), big)).statusCode, 413);
  });

  it('refuses other content types with 415 (form bodies only from GitHub)', async () => {
    const h = harness();
    for (const [url, headers] of [
      ['/api/v1/webhooks/github', { ...githubHeaders(body), 'content-type': 'text/plain' }],
      [
        '/api/v1/webhooks/gitlab',
        { ...gitlabHeaders(), 'content-type': 'application/x-www-form-urlencoded' },
      ],
      ['/api/v1/webhooks/generic', { ...genericHeaders(), 'content-type': 'application/jsonx' }],
    ] as const) {
      const response = await h.post(url, headers, body);
      assert.equal(response.statusCode, 415, url);
      assert.equal(response.json<{ error: string }>().error, 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE');
    }
    const { ['content-type']: _dropped, ...untyped } = gitlabHeaders();
    const response = await h.post('/api/v1/webhooks/gitlab', untyped, body);
    assert.equal(response.statusCode, 415);
    assert.equal(response.json<{ message: string }>().message, 'the Content-Type must be application/json');
    // A charset parameter is fine.
    const charset = { ...gitlabHeaders(), 'content-type': 'application/json; charset=utf-8' };
    assert.equal(
      (await h.post('/api/v1/webhooks/gitlab', charset, fixture('gitlab-push.json'))).statusCode,
      200,
    );
  });

  it('refuses malformed JSON with 400 and a message, without a stack or the content', async () => {
    const h = harness();
    const garbage = '{"ref": "refs/heads/main", "repository": {"clone_url": tru';
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(garbage), garbage);
    assert.equal(response.statusCode, 400);
    const answer = response.json<{ error: string; message: string }>();
    assert.equal(answer.error, 'WEBHOOK_BAD_PAYLOAD');
    assert.match(answer.message, /^the body is not valid JSON/);
    assert.ok(!response.body.includes('clone_url') && !/\bat .*\.(ts|js)/.test(response.body));
    assert.deepEqual(Object.keys(answer).sort(), ['error', 'message']);
  });

  it('verifies before parsing: malformed JSON with a bad signature is 401, with no secret 403', async () => {
    const h = harness();
    const garbage = '{"ref": ';
    const forged = { ...githubHeaders(garbage), 'x-hub-signature-256': `sha256=${'a'.repeat(64)}` };
    assert.equal((await h.post('/api/v1/webhooks/github', forged, garbage)).statusCode, 401);
    const unconfigured = harness({ webhookSecrets: () => Promise.resolve({}) });
    assert.equal(
      (await unconfigured.post('/api/v1/webhooks/github', githubHeaders(garbage), garbage)).statusCode,
      403,
    );
  });

  it('refuses deep nesting with 400 before parsing it', async () => {
    const h = harness();
    const deep = `{"repository": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(deep), deep);
    assert.equal(response.statusCode, 400);
    assert.equal(response.json<{ message: string }>().message, 'the JSON body nests deeper than 64 levels');
    // Brackets inside strings do not count.
    const payload = JSON.parse(body.toString('utf8')) as { commits: { message: string }[] };
    payload.commits[0] = { ...payload.commits[0], message: '[[[[{{{{'.repeat(100) };
    const text = JSON.stringify(payload);
    assert.equal(
      (await h.post('/api/v1/webhooks/github', githubHeaders(text, 'push', 'other'), text)).statusCode,
      200,
    );
  });

  it('bounds crafted huge arrays: too many commits or paths make the paths unknown', async () => {
    const payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const many = { ...payload, commits: Array.from({ length: 100_000 }, () => 0) };
    const paths = Array.from({ length: 12_000 }, (_, i) => `p/${i}`);
    const wide = {
      ...payload,
      commits: [{ id: 'a1b2c3d', added: paths, modified: [], removed: [] }],
    };
    const h = harness();
    for (const [index, crafted] of [many, wide].entries()) {
      const text = JSON.stringify(crafted);
      const response = await h.post(
        '/api/v1/webhooks/github',
        githubHeaders(text, 'push', `d-${index}`),
        text,
      );
      assert.equal(response.statusCode, 200);
      assert.equal(h.events[index]?.changedPaths, undefined);
    }
  });

  it('refuses a payload that names no repository with 400', async () => {
    const h = harness();
    const text = JSON.stringify({ ref: 'refs/heads/main', after: 'abc1234', repository: { name: 'x' } });
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(text), text);
    assert.equal(response.statusCode, 400);
    assert.match(response.json<{ message: string }>().message, /names no repository/);
  });

  it('keeps odd delivery ids out of the logs and the replay cache', async () => {
    const h = harness();
    const headers = githubHeaders(body, 'push', `x${'y'.repeat(300)}`);
    assert.equal((await h.post('/api/v1/webhooks/github', headers, body)).statusCode, 200);
    // The second is a replay by its body; the odd id is in neither answer.
    const again = await h.post('/api/v1/webhooks/github', headers, body);
    assert.equal(again.statusCode, 202);
    assert.ok(!again.body.includes('yyyy'));
    assert.equal(h.events[0]?.deliveryId, undefined);
    assert.ok(!JSON.stringify(h.logs).includes('yyyy'));
  });

  it('never logs secrets, tokens, signatures or bodies, whatever happens', async () => {
    const h = harness();
    const signature = hmac(SECRETS.github, body);
    await h.post('/api/v1/webhooks/github', githubHeaders(body), body);
    await h.post(
      '/api/v1/webhooks/github',
      { ...githubHeaders(body), 'x-hub-signature-256': 'sha256=zz' },
      body,
    );
    await h.post('/api/v1/webhooks/gitlab', gitlabHeaders('Push Hook', `${SECRETS.gitlab}x`), body);
    await h.post('/api/v1/webhooks/generic', genericHeaders(`${SECRETS.generic}x`), '{}');
    await h.post('/api/v1/webhooks/generic', genericHeaders(), '{"repoURL": ');
    assert.ok(h.logs.length >= 5);
    assertNothingLeaked(h, signature, 'Platform-Config/commit');
  });
});

describe('DeliveryCache: the bounded replay memory', () => {
  it('remembers ids for the window, then forgets them', () => {
    const cache = new DeliveryCache({ windowMs: 1000 });
    assert.equal(cache.claim('github:a', 0), true);
    assert.equal(cache.claim('github:a', 999), false);
    assert.equal(cache.claim('gitlab:a', 999), true);
    assert.equal(cache.claim('github:a', 1000), true);
    assert.equal(cache.size, 2);
    assert.equal(cache.claim('github:b', 5000), true);
    assert.equal(cache.size, 1, 'expired entries are dropped');
  });

  it('keeps at most `capacity` ids, forgetting the oldest first', () => {
    const cache = new DeliveryCache({ capacity: 3 });
    for (const id of ['a', 'b', 'c', 'd']) assert.equal(cache.claim(id, 0), true);
    assert.equal(cache.size, 3);
    assert.equal(cache.claim('a', 1), true, 'the oldest was forgotten');
    assert.equal(cache.claim('d', 1), false);
  });

  it('forgets a released id at once', () => {
    const cache = new DeliveryCache();
    assert.equal(cache.claim('x', 0), true);
    cache.release('x');
    assert.equal(cache.claim('x', 1), true);
  });
});

describe('pull request webhooks', () => {
  const prHarness = () => {
    const asked: PullRequestEvent[] = [];
    const h = harness({
      pullRequest: (event) => {
        asked.push(event);
        return Promise.resolve({ pipelines: ['team-a/web'] });
      },
    });
    return { h, asked };
  };

  it('a signed GitHub pull_request asks for runs of its head commit, and refreshes no Application', async () => {
    const body = fixture('github-pull-request.json');
    const { h, asked } = prHarness();
    const response = await h.post('/api/v1/webhooks/github', githubHeaders(body, 'pull_request'), body);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), { status: 'queued', applications: [], pipelines: ['team-a/web'] });
    assert.equal(h.events.length, 0);
    assert.deepEqual(
      asked.map((e) => [e.number, e.headSha, e.ref, e.sourceBranch, e.targetBranch, e.deliveryId]),
      [
        [
          42,
          '3f1c2b4a5d6e7f8091a2b3c4d5e6f708192a3b4c',
          'refs/pull/42/head',
          'faster-start',
          'main',
          'f1e2d3c4-0000-11ef-8a3b-0242ac120002',
        ],
      ],
    );
    assertNothingLeaked(h, hmac(SECRETS.github, body));
  });

  it('a GitLab Merge Request Hook with the token, and a Gitea pull_request signed, ask for runs', async () => {
    const { h, asked } = prHarness();
    const mr = fixture('gitlab-merge-request.json');
    const gl = await h.post('/api/v1/webhooks/gitlab', gitlabHeaders('Merge Request Hook'), mr);
    assert.equal(gl.statusCode, 200, gl.body);
    const pr = fixture('gitea-pull-request.json');
    const gt = await h.post('/api/v1/webhooks/git', giteaHeaders(pr, 'pull_request'), pr);
    assert.equal(gt.statusCode, 200, gt.body);
    assert.deepEqual(
      asked.map((e) => [e.provider, e.ref]),
      [
        ['gitlab', 'refs/merge-requests/7/head'],
        ['gitea', 'refs/pull/3/head'],
      ],
    );
  });

  it('is verified as a push is: a wrong signature or token is refused and asks for nothing', async () => {
    const { h, asked } = prHarness();
    const body = fixture('github-pull-request.json');
    const bad = await h.post(
      '/api/v1/webhooks/github',
      { ...githubHeaders(body, 'pull_request'), 'x-hub-signature-256': `sha256=${hmac('wrong', body)}` },
      body,
    );
    assert.equal(bad.statusCode, 401);
    const mr = fixture('gitlab-merge-request.json');
    const token = await h.post(
      '/api/v1/webhooks/gitlab',
      gitlabHeaders('Merge Request Hook', 'wrong-token'),
      mr,
    );
    assert.equal(token.statusCode, 401);
    assert.equal(asked.length, 0);
  });

  it('a crafted payload is refused with 400 and the field; a close is acknowledged; neither asks for runs', async () => {
    const { h, asked } = prHarness();
    const crafted = JSON.stringify({
      ...JSON.parse(fixture('github-pull-request.json').toString()),
      number: 2 ** 53,
      pull_request: { number: 2 ** 53, head: {}, base: {} },
    });
    const refused = await h.post('/api/v1/webhooks/github', githubHeaders(crafted, 'pull_request'), crafted);
    assert.equal(refused.statusCode, 400);
    assert.deepEqual(refused.json(), {
      error: 'WEBHOOK_BAD_PAYLOAD',
      message: 'pull_request.number must be a whole number from 1 to 2147483647',
    });
    const closed = JSON.stringify({
      ...JSON.parse(fixture('github-pull-request.json').toString()),
      action: 'closed',
    });
    const ignored = await h.post('/api/v1/webhooks/github', githubHeaders(closed, 'pull_request'), closed);
    assert.equal(ignored.statusCode, 202);
    assert.equal(asked.length, 0);
  });

  it("answers the caller's reason (a fork) and 500 when runs cannot be asked, letting the provider retry", async () => {
    const body = fixture('github-pull-request.json');
    let fail = true;
    const h = harness({
      pullRequest: () =>
        fail
          ? Promise.reject(new Error('the API server is away'))
          : Promise.resolve({ pipelines: [], reason: 'a fork' }),
    });
    const failed = await h.post('/api/v1/webhooks/github', githubHeaders(body, 'pull_request'), body);
    assert.equal(failed.statusCode, 500);
    assert.ok(!failed.body.includes('API server is away'));
    fail = false;
    const retried = await h.post('/api/v1/webhooks/github', githubHeaders(body, 'pull_request'), body);
    assert.equal(retried.statusCode, 200, retried.body);
    assert.deepEqual(retried.json(), { status: 'queued', applications: [], pipelines: [], reason: 'a fork' });
  });
});
