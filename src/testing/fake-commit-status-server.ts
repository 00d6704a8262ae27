/**
 * A loopback HTTP server answering the commit status APIs as GitHub, Gitea and GitLab answer them
 * (their answers recorded from their documentation and, for Gitea, from the real server of
 * src/testing/gitea.ts): `POST /repos/{owner}/{repo}/statuses/{sha}` and `GET …/commits/{sha}/statuses`
 * (GitHub, Gitea), `POST /projects/{id}/statuses/{sha}` and `GET /projects/{id}/repository/commits/{sha}/statuses`
 * (GitLab), with their authentication headers, their 401, 404 and 422 answers and GitLab's refusal
 * of a state a status already has. For unit tests only: it passes the same contract
 * (src/testing/commit-status-contract.ts) as the real Gitea. `failNext(n, status)` makes the next n
 * writes fail (503: a provider restarting).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommitStatusProvider } from '../core/commit-status.ts';

export interface FakeStatus {
  readonly state: string;
  readonly context: string;
  readonly description: string;
  readonly targetURL: string;
}

const STATES: Record<'github' | 'gitlab', readonly string[]> = {
  github: ['pending', 'success', 'failure', 'error', 'warning'],
  gitlab: ['pending', 'running', 'success', 'failed', 'canceled', 'skipped'],
};

export class FakeCommitStatusServer {
  readonly provider: CommitStatusProvider;
  readonly token: string;
  /** Repository path (`owner/repo`, GitLab `group/project`) → sha → statuses, newest first. */
  readonly #repos = new Map<string, Map<string, FakeStatus[]>>();
  readonly #server: Server;
  #failures: { left: number; status: number } = { left: 0, status: 503 };
  /** Writes received (refused ones too). */
  writes = 0;

  private constructor(provider: CommitStatusProvider, token: string) {
    this.provider = provider;
    this.token = token;
    this.#server = createServer((req, res) => {
      void this.#handle(req, res);
    });
  }

  static async start(provider: CommitStatusProvider, token: string): Promise<FakeCommitStatusServer> {
    const fake = new FakeCommitStatusServer(provider, token);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** The API root, as `apiURL` names it. */
  get apiURL(): string {
    const { port } = this.#server.address() as AddressInfo;
    const root = `http://127.0.0.1:${String(port)}`;
    return this.provider === 'GitHub' ? root : `${root}${this.provider === 'GitLab' ? '/api/v4' : '/api/v1'}`;
  }

  addRepository(path: string, sha: string): void {
    this.#repos.set(path, new Map([[sha, []]]));
  }

  statuses(path: string, sha: string): readonly FakeStatus[] {
    return this.#repos.get(path)?.get(sha) ?? [];
  }

  failNext(times: number, status = 503): void {
    this.#failures = { left: times, status };
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.#server.close(() => {
        resolve();
      }),
    );
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const gitlab = this.provider === 'GitLab';
    const path = new URL(req.url ?? '/', 'http://fake').pathname.replace(/^\/api\/v[14]/, '');
    const match = gitlab
      ? /^\/projects\/([^/]+)\/(?:repository\/commits\/([0-9a-f]+)\/statuses|statuses\/([0-9a-f]+))$/.exec(
          path,
        )
      : /^\/repos\/([^/]+\/[^/]+)\/(?:commits\/([0-9a-f]+)\/statuses|statuses\/([0-9a-f]+))$/.exec(path);
    if (!this.#authorised(req)) {
      send(401, { message: gitlab ? '401 Unauthorized' : 'Bad credentials' });
      return;
    }
    const repo = match === null ? undefined : this.#repos.get(decodeURIComponent(match[1] ?? ''));
    const sha = match?.[2] ?? match?.[3] ?? '';
    const list = repo?.get(sha);
    if (list === undefined) {
      send(404, { message: gitlab ? '404 Project Not Found' : 'Not Found' });
      return;
    }
    if (req.method === 'GET') {
      send(
        200,
        list.map((s) => ({
          state: s.state,
          context: s.context,
          description: s.description,
          target_url: s.targetURL,
        })),
      );
      return;
    }
    this.writes++;
    if (this.#failures.left > 0) {
      this.#failures.left--;
      send(this.#failures.status, { message: 'the server is restarting' });
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<
      string,
      string | undefined
    >;
    const state = body['state'] ?? '';
    const context = (gitlab ? body['name'] : body['context']) ?? 'default';
    if (!STATES[gitlab ? 'gitlab' : 'github'].includes(state)) {
      send(gitlab ? 400 : 422, {
        message: gitlab ? 'state does not have a valid value' : 'Validation Failed',
      });
      return;
    }
    if (gitlab && list.find((s) => s.context === context)?.state === state) {
      send(400, { message: `Cannot transition status via :${state} from :${state}` });
      return;
    }
    list.unshift({
      state,
      context,
      description: body['description'] ?? '',
      targetURL: body['target_url'] ?? '',
    });
    send(201, {
      state,
      context,
      description: body['description'] ?? '',
      target_url: body['target_url'] ?? '',
    });
  }

  #authorised(req: IncomingMessage): boolean {
    if (this.provider === 'GitLab') return req.headers['private-token'] === this.token;
    const auth = req.headers.authorization ?? '';
    const basic = /^Basic (.+)$/.exec(auth)?.[1];
    if (basic !== undefined)
      return Buffer.from(basic, 'base64').toString('utf8').split(':')[1] === this.token;
    return auth === `${this.provider === 'GitHub' ? 'Bearer' : 'token'} ${this.token}`;
  }
}
