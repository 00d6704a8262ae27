import { spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { run } from './exec.ts';

/**
 * A real git server over smart HTTP: git's own `git http-backend` behind a small CGI bridge, with basic
 * auth, on loopback. Used by the tests and the local demo. It can hang (accept and never answer) and be
 * stopped and started on the same port, for fault tests.
 */
export interface GitServerOptions {
  /** Folder for the bare repositories and work trees. */
  readonly root: string;
  readonly username?: string;
  readonly password?: string;
  /** Default: a free port. */
  readonly port?: number;
  /** The address to listen on. Default 127.0.0.1 (the pipeline tests use the real node's address). */
  readonly host?: string;
  /**
   * Serve fetches (clone, ls-remote: git-upload-pack) without credentials, as a public repository
   * is; pushes still need them. For clients that may not send credentials in clear, such as an agent
   * in a pod that reaches this server over plain http at a non-loopback address. Default false.
   */
  readonly anonymousFetch?: boolean;
}

export interface GitRequest {
  readonly method: string;
  readonly path: string;
  /** git-upload-pack (fetch, clone, ls-remote) or git-receive-pack (push). */
  readonly service: string;
}

export interface CommitOptions {
  readonly message?: string;
  /** Files to write (path → content) or delete (path → null), relative to the repository root. */
  readonly files?: Readonly<Record<string, string | null>>;
  /** Replace the whole tree with a copy of this folder first. */
  readonly fromDir?: string;
  readonly branch?: string;
  readonly author?: { readonly name: string; readonly email: string };
}

const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'Capstan Test',
  GIT_AUTHOR_EMAIL: 'test@capstan.invalid',
  GIT_COMMITTER_NAME: 'Capstan Test',
  GIT_COMMITTER_EMAIL: 'test@capstan.invalid',
};

export class GitServer {
  readonly root: string;
  readonly username: string;
  readonly password: string;
  readonly requests: GitRequest[] = [];
  #server: Server | undefined;
  #port: number;
  readonly #host: string;
  #hanging = false;
  #held = new Set<ServerResponse>();
  #sockets = new Set<Socket>();
  readonly #anonymousFetch: boolean;

  private constructor(options: GitServerOptions) {
    this.root = options.root;
    this.username = options.username ?? 'capstan';
    this.password = options.password ?? 'capstan-test-password';
    this.#port = options.port ?? 0;
    this.#host = options.host ?? '127.0.0.1';
    this.#anonymousFetch = options.anonymousFetch === true;
  }

  static async start(options: GitServerOptions): Promise<GitServer> {
    const server = new GitServer(options);
    await mkdir(join(server.root, 'repos'), { recursive: true });
    await mkdir(join(server.root, 'work'), { recursive: true });
    await server.listen();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** Base URL, without credentials: http://127.0.0.1:PORT */
  get baseUrl(): string {
    return `http://${this.#host}:${this.#port}`;
  }

  /** Clone URL of a repository (no credentials in it). */
  url(repo: string): string {
    return `${this.baseUrl}/${repo}.git`;
  }

  /** Starts listening (again, on the same port after stop()). */
  async listen(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => {
      this.#handle(req, res);
    });
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#host, () => {
        resolve();
      });
    });
    const address = server.address();
    if (typeof address === 'object' && address !== null) this.#port = address.port;
    this.#server = server;
  }

  /** Stops listening and drops every connection: clients see connection refused. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const res of this.#held) res.destroy();
    this.#held.clear();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }

  /** From now on requests are accepted and never answered, until resume(). */
  hang(): void {
    this.#hanging = true;
  }

  /** Requests held unanswered since hang(): a positive signal that a client is waiting on the server. */
  get heldRequests(): number {
    return this.#held.size;
  }

  /** Answer requests again; those held while hanging are dropped. */
  resume(): void {
    this.#hanging = false;
    for (const res of this.#held) res.destroy();
    this.#held.clear();
  }

  /** Requests for upload-pack (fetch, clone, ls-remote) of a repository since the server started. */
  fetchCount(repo: string): number {
    return this.requests.filter((r) => r.path.startsWith(`/${repo}.git/`) && r.service === 'git-upload-pack')
      .length;
  }

  /** Creates a bare repository with a first commit on `branch` (default main); returns its SHA. */
  async createRepository(name: string, first: CommitOptions = {}): Promise<string> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9._/-]*$/.test(name) || name.includes('..')) {
      throw new CapstanError('GITSERVER_BAD_NAME', `repository name '${name}' is not valid`);
    }
    const branch = first.branch ?? 'main';
    const bare = join(this.root, 'repos', `${name}.git`);
    const work = join(this.root, 'work', name);
    await mkdir(dirname(bare), { recursive: true });
    await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, bare]);
    await git(['config', 'http.receivepack', 'true'], bare);
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    await git(['init', '--quiet', `--initial-branch=${branch}`], work);
    await git(['remote', 'add', 'origin', bare], work);
    return this.commit(name, { message: 'initial commit', ...first, branch });
  }

  /** Writes files into the repository's work tree, commits and pushes; returns the new commit's SHA. */
  async commit(name: string, options: CommitOptions): Promise<string> {
    const work = join(this.root, 'work', name);
    const branch = options.branch ?? 'main';
    const current = (await git(['branch', '--show-current'], work)).trim();
    if (current !== branch) {
      const exists = (await git(['branch', '--list', branch], work)).trim() !== '';
      await git(exists ? ['checkout', '--quiet', branch] : ['checkout', '--quiet', '-b', branch], work);
    }
    if (options.fromDir) {
      for (const entry of await readdir(work))
        if (entry !== '.git') await rm(join(work, entry), { recursive: true, force: true });
      await cp(options.fromDir, work, { recursive: true, verbatimSymlinks: true });
    }
    for (const [path, content] of Object.entries(options.files ?? {})) {
      const target = join(work, path);
      if (!target.startsWith(work + '/'))
        throw new CapstanError('GITSERVER_BAD_PATH', `path '${path}' leaves the repository`);
      if (content === null) {
        await rm(target, { recursive: true, force: true });
      } else {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content);
      }
    }
    await git(['add', '--all'], work);
    const author = options.author;
    const env = author ? { GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email } : {};
    await git(['commit', '--quiet', '--allow-empty', '-m', options.message ?? 'update'], work, env);
    await git(['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`], work);
    return (await git(['rev-parse', 'HEAD'], work)).trim();
  }

  /** Creates (or moves, with force) a lightweight tag and pushes it. */
  async tag(name: string, tag: string, revision = 'HEAD', options: { force?: boolean } = {}): Promise<void> {
    const work = join(this.root, 'work', name);
    await git(['tag', ...(options.force === true ? ['-f'] : []), '--', tag, revision], work);
    await git(
      ['push', '--quiet', ...(options.force === true ? ['-f'] : []), 'origin', `refs/tags/${tag}`],
      work,
    );
  }

  #authorised(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return false;
    const given = Buffer.from(header.slice(6), 'base64');
    const expected = Buffer.from(`${this.username}:${this.password}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.#hanging) {
      this.#held.add(res);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const service = url.searchParams.get('service') ?? url.pathname.split('/').pop() ?? '';
    const anonymous = this.#anonymousFetch && service === 'git-upload-pack';
    if (!anonymous && !this.#authorised(req)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="capstan-git"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, service });
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: join(this.root, 'repos'),
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: this.username,
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        ...(req.headers['content-encoding']
          ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }
          : {}),
        ...(typeof req.headers['git-protocol'] === 'string'
          ? { GIT_PROTOCOL: req.headers['git-protocol'] }
          : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let headersSent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      const endLf = head.indexOf('\n\n');
      const [cut, sep] = end >= 0 ? [end, 4] : endLf >= 0 ? [endLf, 2] : [-1, 0];
      if (cut < 0) return;
      let status = 200;
      for (const line of head.subarray(0, cut).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const key = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (key.toLowerCase() === 'status') status = Number(value.split(' ')[0]) || 200;
        else res.setHeader(key, value);
      }
      res.writeHead(status);
      headersSent = true;
      res.write(head.subarray(cut + sep));
    });
    child.on('close', () => {
      if (!headersSent) res.writeHead(500);
      res.end();
    });
    child.on('error', () => {
      if (!headersSent) res.writeHead(500);
      res.end();
    });
  }
}

async function git(args: readonly string[], cwd?: string, env: Record<string, string> = {}): Promise<string> {
  const result = await run('git', args, {
    ...(cwd === undefined ? {} : { cwd }),
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/',
      ...GIT_ENV,
      ...env,
    },
    timeoutMs: 60_000,
  });
  return result.stdout;
}
