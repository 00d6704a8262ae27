import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { CapstanError } from '../core/errors.ts';

/** Just enough of an HTTPS client to bootstrap a local cluster with its admin certificate. */
export interface AdminClient {
  readonly server: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    options?: { timeoutMs?: number },
  ): Promise<{ status: number; body: unknown }>;
}

export function adminClient(server: string, files: { ca: string; cert: string; key: string }): AdminClient {
  const ca = readFileSync(files.ca);
  const cert = readFileSync(files.cert);
  const key = readFileSync(files.key);
  return {
    server,
    call(method: string, path: string, body?: unknown, options: { timeoutMs?: number } = {}) {
      const url = new URL(path, server);
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const req = request(
          url,
          {
            method,
            ca,
            cert,
            key,
            timeout: options.timeoutMs ?? 10_000,
            headers: {
              accept: 'application/json',
              ...(payload
                ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
                : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let parsed: unknown = text;
              try {
                parsed = JSON.parse(text);
              } catch {
                /* plain text, e.g. /readyz */
              }
              resolve({ status: res.statusCode ?? 0, body: parsed });
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () =>
          req.destroy(
            new CapstanError('DEVCLUSTER_TIMEOUT', `${method} ${url.pathname} timed out`, {
              retryable: true,
            }),
          ),
        );
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

/** Creates an object in `collection` unless it exists (409); any other answer is an error naming the collection. */
export async function createUnlessExists(api: AdminClient, collection: string, body: unknown): Promise<void> {
  const res = await api.call('POST', collection, body);
  if (res.status !== 201 && res.status !== 409) {
    throw new CapstanError(
      'DEVCLUSTER_BOOTSTRAP',
      `POST ${collection} failed with HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`,
    );
  }
}
