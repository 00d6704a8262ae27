import { Agent, request, type RequestOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { CapstanError } from '../../core/errors.ts';
import { connectionError } from './errors.ts';

export interface RestResponse {
  readonly status: number;
  readonly body: unknown;
}

export interface RestClientOptions {
  /** Concurrent connections to the API server. Default 32. */
  readonly maxSockets?: number;
  /** Per-request time limit. Default 30 s. */
  readonly timeoutMs?: number;
  /** Largest response body kept. Default 64 MiB. */
  readonly maxResponseBytes?: number;
}

/**
 * A small JSON client for the Kubernetes API over keep-alive connections, with the kubeconfig's
 * credentials (certificates, tokens, exec plugins through @kubernetes/client-node).
 */
export class RestClient {
  readonly server: string;
  readonly #config: KubeConfig;
  readonly #agent: Agent | HttpAgent;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;

  constructor(config: KubeConfig, options: RestClientOptions = {}) {
    const cluster = config.getCurrentCluster();
    if (!cluster)
      throw new CapstanError(
        'KUBECONFIG_INVALID',
        'the kubeconfig has no current cluster; set a context with a cluster',
      );
    this.server = cluster.server.replace(/\/+$/, '');
    this.#config = config;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 32 };
    this.#agent = this.server.startsWith('https:') ? new Agent(agentOptions) : new HttpAgent(agentOptions);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  }

  close(): void {
    this.#agent.destroy();
  }

  async call(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; subject?: string } = {},
  ): Promise<RestResponse> {
    const url = new URL(this.server + path);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = {
      accept: 'application/json',
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
                { subject },
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
}
