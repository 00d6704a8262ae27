/**
 * Commit statuses over the providers' HTTP APIs (src/ports/commit-status.ts): GitHub, Gitea and
 * Forgejo (`POST /repos/{owner}/{repo}/statuses/{sha}`), GitLab (`POST /projects/{id}/statuses/{sha}`).
 * The API host passes the same rules as repository hosts (hosts.ts: no loopback, private or
 * cluster-internal host unless allowed by name); http:// only when allowed (a dev server); redirects
 * are not followed (the credentials would go with them); the token never appears in an error.
 */
import { commitStatusRequest, type CommitStatusReport } from '../../core/commit-status.ts';
import { CapstanError, messageOf } from '../../core/errors.ts';
import type { CommitStatusCredentials, CommitStatusSink } from '../../ports/commit-status.ts';
import { checkHostName, type HostPolicy } from './hosts.ts';

export interface HttpCommitStatusOptions {
  readonly hosts?: HostPolicy;
  /** Accept an http:// API (a dev server on loopback). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Per request. Default 10 s. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** The provider's reason, from its JSON (`message`, GitLab's `message` or `error`), at most 300 characters. */
function reasonOf(text: string): string {
  let reason = text;
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null) {
      const record = body as Record<string, unknown>;
      const message = record['message'] ?? record['error'];
      reason = typeof message === 'string' ? message : JSON.stringify(message ?? body);
    }
  } catch {
    // Not JSON: the text itself.
  }
  const line = reason.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

function authHeaders(
  report: CommitStatusReport,
  credentials: CommitStatusCredentials,
): Record<string, string> {
  const secret = credentials.token ?? credentials.password;
  if (secret === undefined) return {};
  if (report.provider === 'GitLab') return { 'private-token': secret };
  if (credentials.token === undefined && credentials.username !== undefined) {
    const basic = Buffer.from(`${credentials.username}:${secret}`).toString('base64');
    return { authorization: `Basic ${basic}` };
  }
  return { authorization: report.provider === 'GitHub' ? `Bearer ${secret}` : `token ${secret}` };
}

export class HttpCommitStatusSink implements CommitStatusSink {
  readonly #options: HttpCommitStatusOptions;

  constructor(options: HttpCommitStatusOptions = {}) {
    this.#options = options;
  }

  async set(report: CommitStatusReport, credentials: CommitStatusCredentials): Promise<void> {
    const request = commitStatusRequest(report);
    const url = new URL(request.url);
    const where = `${report.provider} ${url.origin}${url.pathname}`;
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.#options.allowInsecureHttp === true))
      throw new CapstanError(
        'PIPELINE_COMMIT_STATUS_INVALID',
        `commit status API ${url.origin}: only https:// (http:// on a server started with --pipeline-allow-http)`,
        { retryable: false },
      );
    await checkHostName(
      url.hostname.replace(/^\[|\]$/g, '').toLowerCase(),
      url.origin,
      this.#options.hosts ?? {},
    );
    let response: Response;
    try {
      response = await (this.#options.fetch ?? fetch)(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: report.provider === 'GitHub' ? 'application/vnd.github+json' : 'application/json',
          'user-agent': 'capstan',
          ...(report.provider === 'GitHub' ? { 'x-github-api-version': '2022-11-28' } : {}),
          ...authHeaders(report, credentials),
        },
        body: JSON.stringify(request.body),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new CapstanError('PIPELINE_COMMIT_STATUS_FAILED', `${where}: no answer: ${messageOf(error)}`, {
        retryable: true,
        cause: error,
      });
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return;
    // GitLab refuses to set the state a status has already (`Cannot transition status via :run from
    // :running`): what was asked is there.
    if (report.provider === 'GitLab' && response.status === 400 && /cannot transition status/i.test(text))
      return;
    const status = response.status;
    const retryable = status === 408 || status === 429 || status >= 500;
    throw new CapstanError(
      'PIPELINE_COMMIT_STATUS_FAILED',
      `${where}: ${String(status)} ${response.statusText}${text === '' ? '' : `: ${reasonOf(text)}`}`,
      { retryable },
    );
  }
}
