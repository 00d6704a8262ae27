/**
 * An OCI distribution client (the registry HTTP API v2) for what making an attestation reproducible
 * needs: read a manifest and a blob, upload a blob (POST then PUT with its digest), put a manifest by
 * digest and by tag. Credentials are a docker config's `auths` entry for the registry (Basic, or a
 * Bearer token from the registry's realm when it asks for one); a registry CA may be given. Transient
 * failures (connection errors, 429, 5xx) are retried a bounded number of times; every error names the
 * registry and the reference, never the credentials.
 */
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { CapstanError, messageOf } from '../../core/errors.ts';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

export interface OciRegistryOptions {
  /** `host[:port]`, as image references name the registry. */
  readonly registry: string;
  /**
   * `host[:port]` to connect to instead (capstan server --registry-endpoint): the registry as it answers
   * from here, as containerd's hosts.toml `host` for a `server`. The certificate is checked against this
   * address; credentials, references and messages name `registry`; addresses the registry gives back
   * (an upload's location, a token realm) on either are reached here.
   */
  readonly endpoint?: string;
  readonly credentials?: RegistryCredentials;
  /** PEM of the CA that signs the registry's certificate (default: the system's). */
  readonly ca?: string;
  /** Attempts per request (default 4) and the first delay between them (default 500 ms, doubled). */
  readonly attempts?: number;
  readonly retryDelayMs?: number;
  readonly timeoutMs?: number;
}

interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** The `auths` entry of a docker config (`{"auths": {"host": {"auth": base64(user:password)}}}`) for `registry`. */
export function credentialsFromDockerConfig(text: string, registry: string): RegistryCredentials | undefined {
  const config = JSON.parse(text) as {
    auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  };
  const entry = config.auths?.[registry] ?? config.auths?.[`https://${registry}`];
  if (entry === undefined) return undefined;
  if (entry.username !== undefined && entry.password !== undefined)
    return { username: entry.username, password: entry.password };
  if (entry.auth === undefined) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export class OciRegistry {
  readonly #options: OciRegistryOptions;
  #authorization: string | undefined;

  constructor(options: OciRegistryOptions) {
    this.#options = options;
  }

  /** A manifest's bytes and media type; its digest is checked when `reference` is a digest. */
  async manifest(repository: string, reference: string): Promise<{ bytes: Buffer; mediaType: string }> {
    const what = `${this.#options.registry}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    const response = await this.#call('GET', `/v2/${repository}/manifests/${reference}`, what, {
      headers: { accept: ACCEPT },
    });
    if (reference.startsWith('sha256:') && sha256(response.body) !== reference)
      throw this.#error(`${what}: the registry returned a manifest of another digest`, false);
    const type = response.headers['content-type'];
    return { bytes: response.body, mediaType: typeof type === 'string' ? type : '' };
  }

  /**
   * Every tag of a repository (`GET /v2/<name>/tags/list`), page by page as the registry's `Link`
   * headers lead (`pageSize` a page, default 1000), at most `maxTags` (default 50 000: more is an error).
   */
  async tags(
    repository: string,
    options: { readonly pageSize?: number; readonly maxTags?: number } = {},
  ): Promise<string[]> {
    const what = `${this.#options.registry}/${repository} (its tags)`;
    const maxTags = options.maxTags ?? 50_000;
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=${String(options.pageSize ?? 1000)}`;
    while (path !== undefined) {
      const response = await this.#call('GET', path, what, { maxBytes: 8 * 1024 * 1024 });
      let page: { tags?: unknown };
      try {
        page = JSON.parse(response.body.toString('utf8')) as { tags?: unknown };
      } catch {
        throw this.#error(`${what}: the registry's answer is not JSON`, false);
      }
      if (page.tags !== null && page.tags !== undefined && !Array.isArray(page.tags))
        throw this.#error(`${what}: the registry's answer has no list of tags`, false);
      for (const tag of (page.tags ?? []) as unknown[]) if (typeof tag === 'string') tags.push(tag);
      if (tags.length > maxTags)
        throw this.#error(`${what}: more than ${String(maxTags)} tags; filter them in the registry`, false);
      path = this.#nextPage(response.headers['link'], repository);
    }
    return tags;
  }

  /** The digest of the manifest a tag names now (the bytes the registry serves, hashed). */
  async digest(repository: string, tag: string): Promise<string> {
    return sha256((await this.manifest(repository, tag)).bytes);
  }

  /** The next page a `Link: <…>; rel="next"` header names, on this registry and repository only. */
  #nextPage(link: string | string[] | undefined, repository: string): string | undefined {
    const header = Array.isArray(link) ? link.join(', ') : link;
    const next = header === undefined ? undefined : /<([^>]+)>\s*;\s*rel="?next"?/i.exec(header)?.[1];
    if (next === undefined) return undefined;
    const url = new URL(next, `https://${this.#options.registry}`);
    if (url.host !== this.#options.registry || url.pathname !== `/v2/${repository}/tags/list`)
      throw this.#error(`${this.#options.registry}/${repository}: the next page of tags is elsewhere`, false);
    return `${url.pathname}${url.search}`;
  }

  /** A blob's bytes, checked against its digest. */
  async blob(repository: string, digest: string): Promise<Buffer> {
    const what = `${this.#options.registry}/${repository}@${digest}`;
    const response = await this.#call('GET', `/v2/${repository}/blobs/${digest}`, what, {});
    if (sha256(response.body) !== digest)
      throw this.#error(`${what}: the blob read has another digest`, false);
    return response.body;
  }

  /** Uploads a blob unless the registry has it (monolithic upload: POST, then PUT with the digest). */
  async putBlob(repository: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const what = `${this.#options.registry}/${repository}@${digest}`;
    const head = await this.#call('HEAD', `/v2/${repository}/blobs/${digest}`, what, { allow: [404] });
    if (head.status === 200) return digest;
    const start = await this.#call('POST', `/v2/${repository}/blobs/uploads/`, what, {});
    const location = start.headers['location'];
    if (typeof location !== 'string')
      throw this.#error(`${what}: the registry gave no upload location`, false);
    const url = new URL(location, `https://${this.#options.registry}`);
    url.searchParams.set('digest', digest);
    await this.#call('PUT', `${url.pathname}${url.search}`, what, {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    return digest;
  }

  /** Puts a manifest under `reference` (its digest, or a tag). */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const what = `${this.#options.registry}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    await this.#call('PUT', `/v2/${repository}/manifests/${reference}`, what, {
      headers: { 'content-type': mediaType },
      body: bytes,
    });
  }

  #error(message: string, retryable: boolean, cause?: unknown, unreachable = false): CapstanError {
    return new CapstanError(
      unreachable ? 'PIPELINE_REGISTRY_UNREACHABLE' : 'PIPELINE_REGISTRY_FAILED',
      message,
      {
        subject: this.#options.registry,
        retryable,
        ...(cause === undefined ? {} : { cause }),
      },
    );
  }

  /** One call with bounded retries of transient failures, and the registry's auth challenge answered once. */
  async #call(
    method: string,
    path: string,
    what: string,
    options: {
      headers?: Record<string, string>;
      body?: Buffer;
      allow?: readonly number[];
      maxBytes?: number;
    },
  ): Promise<HttpResponse> {
    const attempts = this.#options.attempts ?? 4;
    let delay = this.#options.retryDelayMs ?? 500;
    let challenged = false;
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse;
      try {
        response = await this.#send(method, path, options.headers ?? {}, options.body, options.maxBytes);
      } catch (error) {
        if (attempt >= attempts)
          // No answer at all: the registry is not reachable from here (unlike a refusal).
          throw this.#error(
            `${method} ${what}${this.#through()}: ${messageOf(error)} (after ${attempt} attempts)`,
            true,
            error,
            true,
          );
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay *= 2;
        continue;
      }
      if (response.status === 401 && !challenged) {
        challenged = true;
        await this.#authorize(response, what);
        attempt--;
        continue;
      }
      if (response.status < 300 || (options.allow ?? []).includes(response.status)) return response;
      const transient = response.status === 429 || response.status >= 500;
      if (!transient || attempt >= attempts)
        throw this.#error(
          `${method} ${what}: the registry answered ${response.status}${reasonOf(response.body)}${transient ? ` (after ${attempt} attempts)` : ''}`,
          transient,
        );
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
    }
  }

  /** Answers a 401's challenge: Basic credentials, or a Bearer token from the realm it names. */
  async #authorize(response: HttpResponse, what: string): Promise<void> {
    const credentials = this.#options.credentials;
    const challenge = String(response.headers['www-authenticate'] ?? '');
    const basic =
      credentials &&
      `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    if (/^bearer /i.test(challenge)) {
      const params = Object.fromEntries(
        [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
      );
      const realm = new URL(params['realm'] ?? '');
      for (const key of ['service', 'scope']) if (params[key]) realm.searchParams.set(key, params[key]);
      const token = await this.#send(
        'GET',
        realm.toString(),
        basic ? { authorization: basic } : {},
        undefined,
      );
      if (token.status !== 200)
        throw this.#error(`${what}: the registry's token service answered ${token.status}`, false);
      const body = JSON.parse(token.body.toString('utf8')) as { token?: string; access_token?: string };
      this.#authorization = `Bearer ${body.token ?? body.access_token ?? ''}`;
      return;
    }
    if (basic === undefined)
      throw this.#error(`${what}: the registry asks for credentials and none were given`, false);
    this.#authorization = basic;
  }

  /** ` (through <endpoint>)` when the registry is reached at another address, for messages. */
  #through(): string {
    const endpoint = this.#options.endpoint;
    return endpoint === undefined || endpoint === this.#options.registry ? '' : ` (through ${endpoint})`;
  }

  #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    maxBytes = 256 * 1024 * 1024,
  ): Promise<HttpResponse> {
    const connectTo = this.#options.endpoint ?? this.#options.registry;
    const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(path, `https://${connectTo}`);
    // The registry names itself as it was asked (the Host header: the endpoint), or by its own name.
    const sameRegistry = url.host === this.#options.registry || url.host === connectTo;
    if (sameRegistry) url.host = connectTo;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method,
          ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
          timeout: this.#options.timeoutMs ?? 60_000,
          headers: {
            ...headers,
            ...(sameRegistry && this.#authorization !== undefined
              ? { authorization: this.#authorization }
              : {}),
            ...(body === undefined ? {} : { 'content-length': String(body.length) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes)
              req.destroy(new Error(`the answer is larger than ${String(maxBytes)} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** `: <the registry's first error message>`, from its JSON errors, or nothing. */
function reasonOf(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    return first === undefined ? '' : `: ${[first.code, first.message].filter(Boolean).join(' ')}`;
  } catch {
    return '';
  }
}
