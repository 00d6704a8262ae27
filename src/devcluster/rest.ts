import { request, type RequestOptions } from 'node:https';
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

/** An answer of the API server: its status, headers, and body (parsed JSON, or the text where it is not JSON). */
export interface RestResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

/**
 * One HTTPS request with a JSON body (if any) and a JSON answer (or plain text, e.g. /readyz). `options`
 * carries the credentials (client certificate, CA, token headers); `timeoutMs` bounds it where given.
 */
export function requestJson(
  url: URL,
  options: RequestOptions & { readonly body?: unknown; readonly timeoutMs?: number },
): Promise<RestResponse> {
  const { body, timeoutMs, ...rest } = options;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = {
    accept: 'application/json',
    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
    ...(rest.headers as Record<string, string> | undefined),
  };
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ...rest, headers, ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsedBody(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(
        new CapstanError('DEVCLUSTER_TIMEOUT', `${options.method ?? 'GET'} ${url.pathname} timed out`, {
          retryable: true,
        }),
      ),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function parsedBody(chunks: Buffer[]): unknown {
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function adminClient(server: string, files: { ca: string; cert: string; key: string }): AdminClient {
  const ca = readFileSync(files.ca);
  const cert = readFileSync(files.cert);
  const key = readFileSync(files.key);
  return {
    server,
    async call(method: string, path: string, body?: unknown, options: { timeoutMs?: number } = {}) {
      const url = new URL(path, server);
      const res = await requestJson(url, {
        method,
        ca,
        cert,
        key,
        body,
        timeoutMs: options.timeoutMs ?? 10_000,
      });
      return { status: res.status, body: res.body };
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

/**
 * One watch request of the API server (`path` with `watch=1`), its events handed to `onEvent` one
 * line (one JSON object) at a time; resolves when the server ends it (its `timeoutSeconds`), rejects
 * on an answer other than 200 or a lost connection. The caller watches again (a reflector's loop).
 */
export function watchOnce(
  server: string,
  files: { ca: string; cert: string; key: string },
  path: string,
  onEvent: (event: { type?: string; object?: unknown }) => void,
): Promise<void> {
  const url = new URL(path, server);
  const tls = { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', ...tls, headers: { accept: 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new CapstanError('DEVCLUSTER_WATCH', `GET ${url.pathname}: HTTP ${String(res.statusCode)}`));
        return;
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        try {
          for (const line of lines) if (line.trim() !== '') onEvent(JSON.parse(line) as { type?: string });
        } catch (error) {
          req.destroy(error as Error);
        }
      });
      res.on('end', () => {
        resolve();
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
