/**
 * Charts from Helm repositories, downloaded by Capstan itself (never by helm, which renders without
 * a network): an HTTP chart repository (its `index.yaml`) or an OCI registry (`oci://host/path`).
 *   1. The version: the newest that satisfies the dependency's range (`12.x.x`, `^1.2`; empty: newest).
 *   2. The archive, checked against the digest the repository gives for it (index.yaml's `digest`, the
 *      OCI layer's digest); a mismatch is refused.
 *   3. Kept in a cache by digest: the same chart is downloaded once.
 * Credentials (`basic` or `token`, as in typed repository Secrets) are sent only to URLs they are bound
 * to, and never to a host a download is redirected to. Every response is bounded in size and time.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CapstanError, messageOf } from '../../core/errors.ts';
import { compareVersions, maxSatisfying, parseRange, parseVersion, type SemVer } from '../../core/semver.ts';
import type { GitCredentials } from '../../ports/source.ts';
import { evictLeastRecentlyUsed, touch } from '../cache/least-recently-used.ts';
import { checkHostName, type HostPolicy } from '../git/hosts.ts';

/** How charts are downloaded; one per renderer. */
export interface ChartRepositoryOptions {
  /** Where archives are kept by digest (`<cacheDir>/charts/`). Default: none (every render downloads). */
  readonly cacheDir?: string;
  /**
   * Bounds on the archives kept: after one is written, the least recently used go while more than
   * `maxArchives` are kept or they add up to more than `maxBytes`; none read or written in the last
   * `minIdleMs`. Use is the file's modification time, touched at each read. Default 512 archives,
   * 1 GiB, 10 minutes.
   */
  readonly bounds?: {
    readonly maxArchives?: number;
    readonly maxBytes?: number;
    readonly minIdleMs?: number;
  };
  /** PEM certificates trusted besides the system's (a private registry's CA). */
  readonly ca?: string;
  /**
   * The hosts charts may come from, as for git repositories (src/adapters/git/hosts.ts): every URL
   * asked, redirects and token services included, is checked. Default: none (the CLI, which runs
   * for its user).
   */
  readonly hosts?: HostPolicy;
  /** Time limit of one request. Default 30 s. */
  readonly timeoutMs?: number;
}

export interface ChartRequest {
  /** `https://charts.example.com/stable` or `oci://registry.example.com/charts`. */
  readonly repository: string;
  readonly name: string;
  /** A version or a semver range; empty or `*`: the newest release. */
  readonly version: string;
  /** Credentials for this repository, if any (each bound by its urlPrefix). */
  readonly credentials: readonly GitCredentials[];
  /** Allow a plain http:// repository (a loopback test server). Default false. */
  readonly allowHttp?: boolean;
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
}

export interface PulledChart {
  readonly name: string;
  readonly version: string;
  /** `sha256:<hex>` of the archive. */
  readonly digest: string;
  readonly archive: Buffer;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_INDEX_BYTES = 32 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const HELM_CHART_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export class ChartRepository {
  readonly #options: ChartRepositoryOptions;

  constructor(options: ChartRepositoryOptions = {}) {
    this.#options = options;
  }

  /** The chart's archive, from the cache or the repository, checked against its digest. */
  async pull(chart: ChartRequest): Promise<PulledChart> {
    const url = parseRepository(chart.repository, chart.allowHttp === true);
    return url.protocol === 'oci:' ? this.#pullOci(url, chart) : this.#pullHttp(url, chart);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP chart repositories

  async #pullHttp(repository: URL, chart: ChartRequest): Promise<PulledChart> {
    // 1. The index, and the entry for the version asked.
    const base = repository.href.endsWith('/') ? repository.href : `${repository.href}/`;
    const index = await this.#get(new URL('index.yaml', base), chart, { maxBytes: MAX_INDEX_BYTES });
    const entries = indexEntries(index.body, chart);
    const entry = pickVersion(entries, chart);
    // 2. The archive (its URL may be relative to the repository), from the cache when its digest is there.
    const digest = entry.digest === undefined ? undefined : `sha256:${entry.digest}`;
    const cached = digest === undefined ? undefined : await this.#cached(digest);
    if (cached)
      return { name: chart.name, version: entry.text, digest: cached.digest, archive: cached.archive };
    const link = entry.urls[0];
    if (link === undefined) throw notFound(chart, `its entry for ${entry.text} in index.yaml has no urls`);
    const download = await this.#get(new URL(link, base), chart, { maxBytes: chart.maxBytes });
    // 3. Checked against the index's digest, then kept.
    const actual = sha256(download.body);
    if (digest !== undefined && actual !== digest) throw digestError(chart, entry.text, digest, actual);
    await this.#keep(actual, download.body);
    return { name: chart.name, version: entry.text, digest: actual, archive: download.body };
  }

  // -------------------------------------------------------------------------------------------
  // OCI registries

  async #pullOci(repository: URL, chart: ChartRequest): Promise<PulledChart> {
    const host = repository.host;
    const path = `${repository.pathname.replace(/^\/+|\/+$/g, '')}/${chart.name}`.replace(/^\//, '');
    const registry = `https://${host}`;
    const session = new OciSession(this, registry, path, chart);
    // 1. The version: a tag as it is, or the newest tag in the range (helm writes `+` as `_` in tags).
    const exact = parseVersion(chart.version);
    let tag = exact ? chart.version.replaceAll('+', '_') : undefined;
    if (tag === undefined) {
      const tags = JSON.parse(
        (await session.get(`/v2/${path}/tags/list`, MAX_MANIFEST_BYTES)).toString(),
      ) as {
        tags?: unknown;
      };
      const candidates = (Array.isArray(tags.tags) ? tags.tags : [])
        .filter((t): t is string => typeof t === 'string')
        .map((t) => ({ text: t, version: parseVersion(t.replaceAll('_', '+')) }))
        .filter((t): t is { text: string; version: SemVer } => t.version !== undefined);
      tag = pickVersion(candidates, chart).text;
    }
    // 2. The manifest and its chart layer.
    const manifest = JSON.parse(
      (await session.get(`/v2/${path}/manifests/${tag}`, MAX_MANIFEST_BYTES, OCI_MANIFEST)).toString(),
    ) as { layers?: { mediaType?: string; digest?: string }[] };
    const layer = (manifest.layers ?? []).find((l) => l.mediaType === HELM_CHART_LAYER);
    if (layer?.digest === undefined || !/^sha256:[0-9a-f]{64}$/.test(layer.digest))
      throw notFound(chart, `${tag} is not a Helm chart (no layer of type ${HELM_CHART_LAYER})`);
    // 3. The archive, from the cache or the registry, checked against the layer's digest.
    const cached = await this.#cached(layer.digest);
    if (cached) return { name: chart.name, version: tag, digest: layer.digest, archive: cached.archive };
    const archive = await session.get(`/v2/${path}/blobs/${layer.digest}`, chart.maxBytes);
    const actual = sha256(archive);
    if (actual !== layer.digest) throw digestError(chart, tag, layer.digest, actual);
    await this.#keep(actual, archive);
    return { name: chart.name, version: tag.replaceAll('_', '+'), digest: actual, archive };
  }

  // -------------------------------------------------------------------------------------------
  // The cache

  async #cached(digest: string): Promise<{ digest: string; archive: Buffer } | undefined> {
    if (this.#options.cacheDir === undefined) return undefined;
    const archive = await readFile(cacheFile(this.#options.cacheDir, digest)).catch(() => undefined);
    // A cached file that does not match its name (a torn write, a changed disk) is downloaded again.
    if (archive === undefined || sha256(archive) !== digest) return undefined;
    await touch(cacheFile(this.#options.cacheDir, digest), new Date());
    return { digest, archive };
  }

  async #keep(digest: string, archive: Buffer): Promise<void> {
    if (this.#options.cacheDir === undefined) return;
    const folder = join(this.#options.cacheDir, 'charts');
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const file = cacheFile(this.#options.cacheDir, digest);
    const partial = `${file}.${process.pid}.partial`;
    await writeFile(partial, archive, { mode: 0o600 });
    await rename(partial, file);
    // The least recently used archives past the bounds go (a removed one is downloaded again).
    const bounds = this.#options.bounds ?? {};
    await evictLeastRecentlyUsed(
      folder,
      {
        maxEntries: bounds.maxArchives ?? 512,
        maxBytes: bounds.maxBytes ?? 1024 ** 3,
        minIdleMs: bounds.minIdleMs ?? 10 * 60_000,
      },
      Date.now(),
      async (name) => (await lstat(join(folder, name)).catch(() => undefined))?.size ?? 0,
    );
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  /** A GET that must answer 200, with the credentials bound to the URL. */
  async #get(
    url: URL,
    chart: ChartRequest,
    options: { maxBytes: number; headers?: Record<string, string> },
  ): Promise<{ body: Buffer }> {
    const sent = authorization(url, chart.credentials);
    const response = await this.fetch(url, chart, {
      maxBytes: options.maxBytes,
      headers: { ...sent, ...options.headers },
    });
    if (response.status !== 200)
      throw statusError(chart, url, { status: response.status, sent: sent['authorization'] !== undefined });
    return response;
  }

  /** One GET, following redirects (credentials dropped when the origin changes), bounded in size and time. */
  async fetch(
    url: URL,
    chart: ChartRequest,
    options: { maxBytes: number; headers: Record<string, string> },
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    let current = url;
    let headers = options.headers;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      if (current.protocol === 'http:' && chart.allowHttp !== true)
        throw new CapstanError(
          'RENDER_CHART_UNREACHABLE',
          `${chart.name}: ${redact(current)} is plain http; use https (or allow http: --insecure-http, spec.source.insecureHttp)`,
          { subject: chart.repository },
        );
      if (this.#options.hosts !== undefined)
        await checkHostName(
          current.hostname.replace(/^\[|\]$/g, '').toLowerCase(),
          redact(current),
          this.#options.hosts,
        );
      const response = await this.#once(current, chart, { maxBytes: options.maxBytes, headers });
      const location = response.headers.location;
      if (response.status >= 300 && response.status < 400 && location !== undefined) {
        const next = new URL(location, current);
        if (next.origin !== current.origin) headers = withoutAuthorization(headers);
        current = next;
        continue;
      }
      return response;
    }
    throw new CapstanError(
      'RENDER_CHART_UNREACHABLE',
      `${chart.name}: more than ${MAX_REDIRECTS} redirects from ${redact(url)}`,
      {
        subject: chart.repository,
      },
    );
  }

  #once(
    url: URL,
    chart: ChartRequest,
    options: { maxBytes: number; headers: Record<string, string> },
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const fail = (why: string, cause?: unknown): void => {
        reject(
          new CapstanError('RENDER_CHART_UNREACHABLE', `${chart.name}: ${redact(url)}: ${why}`, {
            subject: chart.repository,
            retryable: true,
            cause,
          }),
        );
      };
      const req = send(
        url,
        {
          method: 'GET',
          headers: { 'user-agent': 'capstan', ...options.headers },
          timeout: timeoutMs,
          ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
          ...(chart.signal ? { signal: chart.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let length = 0;
          res.on('data', (chunk: Buffer) => {
            length += chunk.length;
            if (length > options.maxBytes) {
              res.destroy();
              req.destroy();
              reject(
                new CapstanError(
                  'RENDER_TOO_LARGE',
                  `${chart.name}: ${redact(url)} is more than ${options.maxBytes} bytes; it was not read`,
                  { subject: chart.repository },
                ),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks, length),
            });
          });
          res.on('error', (error) => {
            fail(messageOf(error), error);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error) => {
        fail(messageOf(error), error);
      });
      req.end();
    });
  }
}

/**
 * Requests to one repository of an OCI registry: Basic credentials where the registry asks for them,
 * or a Bearer token from the realm its challenge names (with the credentials, scoped to pulling it).
 */
class OciSession {
  #authorization: Record<string, string> = {};
  readonly #client: ChartRepository;
  readonly #registry: string;
  readonly #path: string;
  readonly #chart: ChartRequest;

  constructor(client: ChartRepository, registry: string, path: string, chart: ChartRequest) {
    this.#client = client;
    this.#registry = registry;
    this.#path = path;
    this.#chart = chart;
  }

  async get(path: string, maxBytes: number, accept?: string): Promise<Buffer> {
    const url = new URL(path, this.#registry);
    const headers = { ...(accept ? { accept } : {}) };
    let response = await this.#client.fetch(url, this.#chart, {
      maxBytes,
      headers: { ...headers, ...this.#authorization },
    });
    if (response.status === 401) {
      this.#authorization = await this.#authorize(url, response.headers['www-authenticate'] ?? '');
      response = await this.#client.fetch(url, this.#chart, {
        maxBytes,
        headers: { ...headers, ...this.#authorization },
      });
    }
    if (response.status !== 200)
      throw statusError(this.#chart, url, {
        status: response.status,
        sent: this.#authorization['authorization'] !== undefined,
      });
    return response.body;
  }

  async #authorize(url: URL, challenge: string): Promise<Record<string, string>> {
    // Credentials are bound to charts as users name them (`oci://host/charts`), not to the API's /v2/ paths.
    const bound = authorization(
      new URL(`oci://${new URL(this.#registry).host}/${this.#path}`),
      this.#chart.credentials,
    );
    if (/^basic\b/i.test(challenge)) {
      if (bound['authorization'] === undefined) throw credentialsError(this.#chart, url, { sent: false });
      return bound;
    }
    const realm = /realm="([^"]+)"/i.exec(challenge)?.[1];
    if (!/^bearer\b/i.test(challenge) || realm === undefined)
      throw credentialsError(this.#chart, url, { sent: false });
    const service = /service="([^"]+)"/i.exec(challenge)?.[1];
    const tokenUrl = new URL(realm);
    if (service !== undefined) tokenUrl.searchParams.set('service', service);
    tokenUrl.searchParams.set('scope', `repository:${this.#path}:pull`);
    // The token service gets the credentials only when they are bound to it too.
    const answer = await this.#client.fetch(tokenUrl, this.#chart, {
      maxBytes: MAX_MANIFEST_BYTES,
      headers: authorization(tokenUrl, this.#chart.credentials),
    });
    if (answer.status !== 200)
      throw credentialsError(this.#chart, url, { sent: bound['authorization'] !== undefined });
    const body = JSON.parse(answer.body.toString()) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string') throw credentialsError(this.#chart, url, { sent: true });
    return { authorization: `Bearer ${token}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Steps

interface Candidate {
  readonly text: string;
  readonly version: SemVer;
}

interface IndexEntry extends Candidate {
  readonly urls: readonly string[];
  readonly digest: string | undefined;
}

function parseRepository(repository: string, allowHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(repository);
  } catch {
    throw new CapstanError(
      'RENDER_HELM_DEPENDENCIES',
      `the chart repository '${repository}' is not a URL: use https://…, oci://… or file://<folder in the repository>`,
      { subject: repository },
    );
  }
  if (url.username !== '' || url.password !== '')
    throw new CapstanError(
      'RENDER_HELM_DEPENDENCIES',
      `the chart repository ${redact(url)} has credentials in its URL: put them in a repository credentials Secret bound to its URL`,
      { subject: redact(url) },
    );
  const allowed = ['https:', 'oci:', ...(allowHttp ? ['http:'] : [])];
  if (!allowed.includes(url.protocol))
    throw new CapstanError(
      'RENDER_HELM_DEPENDENCIES',
      `the chart repository ${redact(url)} is neither https:// nor oci://${url.protocol === 'http:' ? ' (plain http needs --insecure-http, or spec.source.insecureHttp)' : ''}`,
      { subject: redact(url) },
    );
  return url;
}

function indexEntries(body: Buffer, chart: ChartRequest): IndexEntry[] {
  let index: unknown;
  try {
    index = parse(body.toString('utf8'), { maxAliasCount: 100 });
  } catch (error) {
    throw new CapstanError(
      'RENDER_CHART_NOT_FOUND',
      `${chart.repository}/index.yaml is not a chart repository index: ${messageOf(error)}`,
      { subject: chart.repository },
    );
  }
  const entries = isRecord(index) && isRecord(index['entries']) ? index['entries'][chart.name] : undefined;
  if (!Array.isArray(entries)) throw notFound(chart, 'the repository has no chart of that name');
  const found: IndexEntry[] = [];
  for (const entry of entries as unknown[]) {
    if (!isRecord(entry) || typeof entry['version'] !== 'string') continue;
    const version = parseVersion(entry['version']);
    if (version === undefined) continue;
    const urls = Array.isArray(entry['urls']) ? entry['urls'].filter((u) => typeof u === 'string') : [];
    const digest =
      typeof entry['digest'] === 'string' && /^[0-9a-f]{64}$/.test(entry['digest'])
        ? entry['digest']
        : undefined;
    found.push({ text: entry['version'], version, urls, digest });
  }
  return found;
}

/** The newest candidate in the range (an exact version is a range of one). */
function pickVersion<T extends Candidate>(candidates: readonly T[], chart: ChartRequest): T {
  const wanted = chart.version.trim() === '' ? '*' : chart.version;
  const range = parseRange(wanted);
  if (range === undefined)
    throw new CapstanError(
      'RENDER_HELM_DEPENDENCIES',
      `${chart.name}: version '${chart.version}' is neither a version nor a range (1.2.3, ^1.2, 12.x.x)`,
      { subject: chart.repository },
    );
  const best = maxSatisfying(candidates, range);
  if (best !== undefined) return best;
  const known = [...candidates]
    .sort((a, b) => compareVersions(b.version, a.version))
    .slice(0, 5)
    .map((c) => c.text);
  throw notFound(
    chart,
    `no version in ${wanted}${known.length > 0 ? ` (it has ${known.join(', ')}${candidates.length > 5 ? ', …' : ''})` : ''}`,
  );
}

/** An Authorization header for the URL, from the first credentials bound to it. */
function authorization(url: URL, credentials: readonly GitCredentials[]): Record<string, string> {
  for (const c of credentials) {
    if (c.urlPrefix !== undefined && !covers(c.urlPrefix, url)) continue;
    if (c.kind === 'basic')
      return { authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` };
    if (c.kind === 'token') return { authorization: `Bearer ${c.token}` };
  }
  return {};
}

/** Whether credentials bound to a prefix may go to a URL: same scheme (oci counts as https), host and a path below. */
function covers(prefix: string, url: URL): boolean {
  let bound: URL;
  try {
    bound = new URL(prefix.trim().replace(/^oci:\/\//i, 'https://'));
  } catch {
    return false;
  }
  const target = url.protocol === 'oci:' ? new URL(url.href.replace(/^oci:/, 'https:')) : url;
  if (bound.protocol !== target.protocol || bound.host !== target.host) return false;
  const path = bound.pathname.replace(/\/+$/, '');
  return path === '' || target.pathname === path || target.pathname.startsWith(`${path}/`);
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([key]) => key.toLowerCase() !== 'authorization'));
}

function cacheFile(cacheDir: string, digest: string): string {
  return join(cacheDir, 'charts', `${digest.replace(':', '-')}.tgz`);
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A URL without credentials or query (tokens sometimes ride there). */
function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function notFound(chart: ChartRequest, why: string): CapstanError {
  return new CapstanError(
    'RENDER_CHART_NOT_FOUND',
    `chart ${chart.name} ${chart.version || '(newest)'} from ${chart.repository}: ${why}`,
    { subject: chart.repository },
  );
}

function digestError(chart: ChartRequest, version: string, expected: string, actual: string): CapstanError {
  return new CapstanError(
    'RENDER_CHART_DIGEST',
    `chart ${chart.name} ${version} from ${chart.repository} has the digest ${actual}, not ${expected} as the repository says; it was not used (a changed or corrupted archive)`,
    { subject: chart.repository },
  );
}

function statusError(chart: ChartRequest, url: URL, answer: { status: number; sent: boolean }): CapstanError {
  const { status } = answer;
  if (status === 401 || status === 403) return credentialsError(chart, url, { sent: answer.sent });
  if (status === 404) return notFound(chart, `${redact(url)} answered 404`);
  return new CapstanError('RENDER_CHART_UNREACHABLE', `${chart.name}: ${redact(url)} answered ${status}`, {
    subject: chart.repository,
    retryable: status >= 500 || status === 429,
  });
}

/** Refused: with the credentials sent (wrong ones), or without any (none given, or none bound to it). */
function credentialsError(chart: ChartRequest, url: URL, attempt: { sent: boolean }): CapstanError {
  const where = `(a repository credentials Secret in spec.source.helm.repositorySecretRefs, or CAPSTAN_HELM_USERNAME and CAPSTAN_HELM_PASSWORD for the CLI)`;
  const why = attempt.sent
    ? `refused the credentials; check them ${where}`
    : chart.credentials.length > 0
      ? `refused access without credentials: none of those given is bound to ${chart.repository} (their url must cover it) ${where}`
      : `refused access without credentials; give credentials bound to ${chart.repository} ${where}`;
  return new CapstanError('RENDER_CHART_UNREACHABLE', `${chart.name}: ${redact(url)} ${why}`, {
    subject: chart.repository,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
