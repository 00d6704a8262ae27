// The agent's HTTP surface on a real socket (127.0.0.1, port 0), driven by a real HTTP client (fetch)
// and by raw sockets for what a client library will not do: a slow-loris that sends its headers and
// never finishes its body.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildAgentApi, type AgentApiOptions, type RefreshEvent } from '../../src/api/agent-api.ts';

const SECRETS = { github: 'integration-github-secret', gitlab: 'integration-gitlab-token' };
const push = readFileSync(join(import.meta.dirname, '../fixtures/webhooks/github-push.json'));
const signature = (body: Buffer) =>
  `sha256=${createHmac('sha256', SECRETS.github).update(body).digest('hex')}`;

interface Server {
  readonly app: FastifyInstance;
  readonly base: string;
  readonly port: number;
  readonly events: RefreshEvent[];
}

async function serve(options: Partial<AgentApiOptions> = {}): Promise<Server> {
  const events: RefreshEvent[] = [];
  const app = buildAgentApi({
    metrics: () => '# HELP capstan_up Up.\n# TYPE capstan_up gauge\ncapstan_up 1\n',
    ready: () => ({ ready: true }),
    refresh: (event) => {
      events.push(event);
      return Promise.resolve({ applications: ['web'] });
    },
    webhookSecrets: () => Promise.resolve(SECRETS),
    ...options,
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base, port: new URL(base).port === '' ? 80 : Number(new URL(base).port), events };
}

/** What a raw connection received until the server closed it. */
function untilClosed(socket: Socket): Promise<{ data: string }> {
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    data += chunk;
  });
  return new Promise((resolve) => {
    socket.on('close', () => {
      resolve({ data });
    });
    socket.on('error', () => {
      // The server may reset the connection; 'close' follows.
    });
  });
}

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

const slowHeaders = (port: number, contentLength: number) =>
  `POST /api/v1/webhooks/gitlab HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
  `Content-Type: application/json\r\nX-Gitlab-Event: Push Hook\r\nX-Gitlab-Token: ${SECRETS.gitlab}\r\n` +
  `Content-Length: ${contentLength}\r\n\r\n`;

describe('agent API over HTTP', () => {
  let server: Server;
  before(async () => {
    server = await serve({ requestTimeoutMs: 600, maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    await server.app.close();
  });

  it('serves /healthz, /readyz and /metrics to fetch', async () => {
    const health = await fetch(`${server.base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${server.base}/readyz`);
    assert.equal(ready.status, 200);
    const metrics = await fetch(`${server.base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(await metrics.text(), /^capstan_up 1$/m);
  });

  it('takes a signed GitHub push and refreshes', async () => {
    const response = await fetch(`${server.base}/api/v1/webhooks/git`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': '5f1d4f1e-integration-1',
        'x-hub-signature-256': signature(push),
      },
      body: push,
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'queued', applications: ['web'], pipelines: [] });
    assert.equal(server.events.at(-1)?.after, '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c');
  });

  it('refuses a streamed (chunked) body past the limit with 413', async () => {
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 10) {
          controller.close();
          return;
        }
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${server.base}/api/v1/webhooks/gitlab`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-gitlab-event': 'Push Hook',
        'x-gitlab-token': SECRETS.gitlab,
      },
      body,
      duplex: 'half',
    });
    assert.equal(response.status, 413);
    assert.deepEqual(await response.json(), {
      error: 'REQUEST_BODY_TOO_LARGE',
      message: `the body is larger than ${64 * 1024} bytes`,
    });
  });

  it('times out a slow-loris request (headers sent, body never finished) with 408, and stays responsive', async () => {
    const socket = await rawConnect(server.port);
    const closed = untilClosed(socket);
    socket.write(slowHeaders(server.port, 1000));
    socket.write('{"ref": "refs/heads/main",');
    // The server answers other clients meanwhile.
    assert.equal((await fetch(`${server.base}/healthz`)).status, 200);
    // Answered by the request timeout (408 REQUEST_TIMEOUT), not by a dropped connection.
    const { data } = await closed;
    assert.match(data, /^HTTP\/1\.1 408 /);
    assert.match(data, /"error":"REQUEST_TIMEOUT"/);
    assert.equal(server.events.length, 1);
  });

  it('times out a client that trickles its body one byte at a time', async () => {
    const socket = await rawConnect(server.port);
    const closed = untilClosed(socket);
    socket.write(slowHeaders(server.port, 1000));
    const trickle = setInterval(() => {
      if (socket.writable) socket.write(' ');
    }, 50);
    try {
      const { data } = await closed;
      assert.match(data, /^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
    }
  });

  it('times out a fetch whose request body never ends', async () => {
    let timer: NodeJS.Timeout | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"ref":'));
        // Keep the stream open (and the client busy) without ever finishing it.
        timer = setInterval(() => {
          controller.enqueue(new TextEncoder().encode(' '));
        }, 100);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    try {
      const response = await fetch(`${server.base}/api/v1/webhooks/gitlab`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-gitlab-event': 'Push Hook',
          'x-gitlab-token': SECRETS.gitlab,
        },
        body,
        duplex: 'half',
      });
      assert.equal(response.status, 408);
      assert.deepEqual(await response.json(), {
        error: 'REQUEST_TIMEOUT',
        message: 'the request was not received within 600 ms',
      });
    } finally {
      clearInterval(timer);
    }
  });
});

describe('agent API connection timeout', () => {
  it('closes a connection that goes silent mid-body, before the request timeout', async () => {
    const server = await serve({ connectionTimeoutMs: 300, requestTimeoutMs: 30_000 });
    try {
      const socket = await rawConnect(server.port);
      const closed = untilClosed(socket);
      socket.write(slowHeaders(server.port, 1000));
      socket.write('{"ref":');
      // Closed by the connection timeout: dropped without an answer (the request timeout, 30 s, would
      // have answered 408), and nothing was handled.
      const { data } = await closed;
      assert.equal(data, '');
      assert.equal(server.events.length, 0);
    } finally {
      await server.app.close();
    }
  });

  it('defaults to 10 s for both limits', async () => {
    const server = await serve();
    try {
      assert.equal(server.app.server.requestTimeout, 10_000);
      assert.equal(server.app.server.timeout, 10_000);
      assert.ok(server.app.server.headersTimeout <= 10_000);
    } finally {
      await server.app.close();
    }
  });
});
