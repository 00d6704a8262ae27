import { Agent, request, type RequestOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { CapstanError } from '../../core/errors.ts';
import { connectionError } from './errors.ts';

export interface RestResponse {
  readonly status: number;
  readonly body: unknown;
}

/** Whom requests are made as (Kubernetes impersonation): the API server authorizes them as this user. */
export interface Impersonation {
  /** `system:serviceaccount:<namespace>:<name>` for a ServiceAccount. */
  readonly user: string;
  readonly groups?: readonly string[];
}

/** The connections a client and its impersonating copies share. */
interface Connections {
  readonly agent: Agent | HttpAgent;
  readonly streamAgent: Agent | HttpAgent;
}

export interface RestClientOptions {
  /** Concurrent connections to the API server. Default 32. */
  readonly maxSockets?: number;
  /** Per-request time limit. Default 30 s. */
  readonly timeoutMs?: number;
  /** Largest response body kept. Default 64 MiB. */
  readonly maxResponseBytes?: number;
  /** Make every request as this identity (the credentials must be allowed to `impersonate` it). */
  readonly impersonate?: Impersonation;
}

/**
 * A small JSON client for the Kubernetes API over keep-alive connections, with the kubeconfig's
 * credentials (certificates, tokens, exec plugins through @kubernetes/client-node).
 */
export class RestClient {
  readonly server: string;
  readonly #config: KubeConfig;
  readonly #agent: Agent | HttpAgent;
  readonly #streamAgent: Agent | HttpAgent;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #options: RestClientOptions;
  /** Whether close() ends the connections (not for a copy made by `as`, which borrows them). */
  readonly #ownsConnections: boolean;
  readonly #impersonation: Record<string, string | string[]>;

  constructor(config: KubeConfig, options: RestClientOptions = {}, connections?: Connections) {
    const cluster = config.getCurrentCluster();
    if (!cluster)
      throw new CapstanError(
        'KUBECONFIG_INVALID',
        'the kubeconfig has no current cluster; set a context with a cluster',
      );
    this.server = cluster.server.replace(/\/+$/, '');
    this.#config = config;
    this.#options = options;
    this.#ownsConnections = connections === undefined;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 32 };
    this.#agent =
      connections?.agent ??
      (this.server.startsWith('https:') ? new Agent(agentOptions) : new HttpAgent(agentOptions));
    this.#streamAgent =
      connections?.streamAgent ??
      (this.server.startsWith('https:')
        ? new Agent({ keepAlive: true })
        : new HttpAgent({ keepAlive: true }));
    const impersonate = options.impersonate;
    this.#impersonation = impersonate
      ? {
          'impersonate-user': impersonate.user,
          ...(impersonate.groups?.length ? { 'impersonate-group': [...impersonate.groups] } : {}),
        }
      : {};
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  }

  close(): void {
    if (!this.#ownsConnections) return;
    this.#agent.destroy();
    this.#streamAgent.destroy();
  }

  /** A client over the same connections whose requests are made as `identity`; closing it closes nothing. */
  as(identity: Impersonation): RestClient {
    return new RestClient(
      this.#config,
      { ...this.#options, impersonate: identity },
      { agent: this.#agent, streamAgent: this.#streamAgent },
    );
  }

  async call(
    method: string,
    path: string,
    options: {
      body?: unknown;
      contentType?: string;
      subject?: string;
      /** Default application/json; e.g. `application/json;as=Table;v=v1;g=meta.k8s.io` for kubectl's table view. */
      accept?: string;
    } = {},
  ): Promise<RestResponse> {
    const url = new URL(this.server + path);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | string[]> = {
      ...this.#impersonation,
      accept: options.accept ?? 'application/json',
      'user-agent': 'capstan',
      ...(payload
        ? {
            'content-type': options.contentType ?? 'application/json',
            'content-length': String(payload.length),
          }
        : {}),
    };
    const requestOptions: RequestOptions = { method, headers, agent: this.#agent, timeout: this.#timeoutMs };
    await this.#config.applyToHTTPSOptions(requestOptions);
    // applyToHTTPSOptions may set its own agent; keep ours (keep-alive, bounded sockets) with its TLS material.
    if (requestOptions.agent !== this.#agent) requestOptions.agent = this.#agent;
    const subject = options.subject ?? `${method} ${path}`;
    const send = url.protocol === 'https:' ? request : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, requestOptions, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.#maxBytes) {
            req.destroy(
              new CapstanError(
                'KUBE_RESPONSE_TOO_LARGE',
                `${subject}: the response exceeded ${this.#maxBytes} bytes`,
                { subject, detail: `the response exceeded ${this.#maxBytes} bytes` },
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          if (text !== '') {
            try {
              body = JSON.parse(text);
            } catch {
              /* not JSON: keep the text */
            }
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', (error) => {
          reject(connectionError(error, this.server, subject));
        });
      });
      req.on('timeout', () => {
        req.destroy(
          Object.assign(new Error(`no answer within ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' }),
        );
      });
      req.on('error', (error) => {
        reject(error instanceof CapstanError ? error : connectionError(error, this.server, subject));
      });
      req.end(payload);
    });
  }

  /**
   * A streaming GET, for watches: calls `onLine` with each line of a 2xx response (newline-delimited
   * JSON) until the server ends it or `signal` is aborted, then resolves with the status. A non-2xx
   * response is read whole and returned like `call` does. Rejects when the connection is lost or stays
   * silent for `idleTimeoutMs` (KUBE_UNAVAILABLE), or a line exceeds the response size limit. Streams
   * use connections of their own, so that long watches never hold up the requests of `call`.
   */
  async stream(
    path: string,
    options: {
      onLine: (line: string) => void;
      signal?: AbortSignal;
      idleTimeoutMs?: number;
      subject?: string;
    },
  ): Promise<RestResponse> {
    const url = new URL(this.server + path);
    const requestOptions = await this.#streamRequestOptions(options.idleTimeoutMs ?? 5 * 60_000);
    const subject = options.subject ?? `watch ${path}`;
    const send = url.protocol === 'https:' ? request : httpRequest;
    const signal = options.signal;
    return new Promise((resolve, reject) => {
      let settled = false;
      let status = 0;
      const finish = (outcome: StreamOutcome) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if ('response' in outcome) resolve(outcome.response);
        else reject(outcome.error);
      };
      const onAbort = () => {
        finish({ response: { status, body: undefined } });
        req.destroy();
      };
      const req = send(url, requestOptions, (res) => {
        status = res.statusCode ?? 0;
        readStream(res, {
          subject,
          server: this.server,
          maxBytes: this.#maxBytes,
          onLine: options.onLine,
          settled: () => settled,
          finish,
          destroy: (error) => req.destroy(error),
        });
      });
      req.on('timeout', () => {
        req.destroy(
          Object.assign(new Error(`nothing received for ${requestOptions.timeout ?? 0} ms`), {
            code: 'ETIMEDOUT',
          }),
        );
      });
      req.on('error', (error) => {
        finish({
          error: error instanceof CapstanError ? error : connectionError(error, this.server, subject),
        });
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      req.end();
    });
  }

  /** A GET on the streams' own connections, with the kubeconfig's credentials; `timeout` is the idle limit. */
  async #streamRequestOptions(idleTimeoutMs: number): Promise<RequestOptions> {
    const requestOptions: RequestOptions = {
      method: 'GET',
      headers: { ...this.#impersonation, accept: 'application/json', 'user-agent': 'capstan' },
      agent: this.#streamAgent,
      timeout: idleTimeoutMs,
    };
    await this.#config.applyToHTTPSOptions(requestOptions);
    if (requestOptions.agent !== this.#streamAgent) requestOptions.agent = this.#streamAgent;
    return requestOptions;
  }
}

type StreamOutcome = { response: RestResponse } | { error: Error };

/** What reading a stream's response needs of the request it belongs to. */
interface StreamReader {
  readonly subject: string;
  readonly server: string;
  readonly maxBytes: number;
  readonly onLine: (line: string) => void;
  /** True once the stream's promise is settled (aborted, failed or ended): no more lines are delivered. */
  readonly settled: () => boolean;
  readonly finish: (outcome: StreamOutcome) => void;
  readonly destroy: (error?: Error) => void;
}

/**
 * A 2xx response line by line (each to `onLine`, the last one at its end); any other response read
 * whole, as JSON where it is. A pending line or body past `maxBytes` ends the request.
 */
function readStream(res: IncomingMessage, reader: StreamReader): void {
  const status = res.statusCode ?? 0;
  res.setEncoding('utf8');
  const ok = status >= 200 && status < 300;
  let pending = '';
  res.on('data', (chunk: string) => {
    pending += chunk;
    if (ok) {
      const rest = deliverLines(pending, reader);
      if (rest === undefined) return;
      pending = rest;
    }
    if (pending.length > reader.maxBytes) {
      const detail = `${ok ? 'one event' : 'the response'} exceeded ${reader.maxBytes} bytes`;
      reader.destroy(
        new CapstanError('KUBE_RESPONSE_TOO_LARGE', `${reader.subject}: ${detail}`, {
          subject: reader.subject,
          detail,
        }),
      );
    }
  });
  res.on('end', () => {
    if (!ok) {
      reader.finish({ response: { status, body: jsonOrText(pending) } });
      return;
    }
    const rest = pending.trim();
    try {
      if (rest !== '' && !reader.settled()) reader.onLine(rest);
    } catch (error) {
      reader.finish({ error: error instanceof Error ? error : new Error(String(error)) });
      return;
    }
    reader.finish({ response: { status, body: undefined } });
  });
  res.on('error', (error) => {
    reader.finish({ error: connectionError(error, reader.server, reader.subject) });
  });
  res.on('close', () => {
    const lost = Object.assign(new Error('the connection closed in the middle of the response'), {
      code: 'ECONNRESET',
    });
    reader.finish({ error: connectionError(lost, reader.server, reader.subject) });
  });
}

/** Hands each complete line to `onLine`; returns what is left after the last newline, or undefined when `onLine` threw (the request is then ended). */
function deliverLines(pending: string, reader: StreamReader): string | undefined {
  let rest = pending;
  let newline = rest.indexOf('\n');
  while (newline >= 0) {
    const line = rest.slice(0, newline).trim();
    rest = rest.slice(newline + 1);
    if (line !== '' && !reader.settled()) {
      try {
        reader.onLine(line);
      } catch (error) {
        reader.finish({ error: error instanceof Error ? error : new Error(String(error)) });
        reader.destroy();
        return undefined;
      }
    }
    newline = rest.indexOf('\n');
  }
  return rest;
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON: keep the text
  }
}
