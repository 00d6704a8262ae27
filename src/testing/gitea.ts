/**
 * A real, throw-away Gitea server for tests: the build of scripts/build-gitea.sh (its Go module, in the
 * versioned cache outside the repository), SQLite in a temporary folder, on a free loopback port, an
 * admin user and an access token made by its own CLI. As root it runs with Gitea's
 * GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT (a test server on loopback, thrown away). `after` stops it
 * and deletes the folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, run } from '../devcluster/exec.ts';
import { freePort } from '../devcluster/ports.ts';
import { eventually } from './eventually.ts';

/** Where scripts/build-gitea.sh puts its build (keep the version in step with the script). */
export const GITEA_BUILD_KEY = 'gitea-v1.27.3_r1';

export function giteaBuildDir(env: NodeJS.ProcessEnv = process.env): string {
  const root =
    env['CAPSTAN_CACHE_DIR'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'capstan');
  return join(root, 'gitea', GITEA_BUILD_KEY);
}

/** Undefined when built; else why not, and what to run. */
export function giteaMissing(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = giteaBuildDir(env);
  if (existsSync(join(dir, '.complete'))) return undefined;
  return `Gitea is not built in ${dir}: run scripts/build-gitea.sh once on this machine (about 30 minutes cold)`;
}

export interface TestGitea {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `<url>/api/v1` */
  readonly api: string;
  readonly user: string;
  readonly password: string;
  /** An access token of the admin user, every scope. */
  readonly token: string;
  /** Makes a repository of the admin user with one commit on `main`; returns that commit. */
  createRepository(name: string): Promise<string>;
  /** The commit statuses of a commit, newest first, as Gitea's API lists them. */
  statuses(repository: string, sha: string): Promise<readonly GiteaStatus[]>;
  stop(): Promise<void>;
}

export interface GiteaStatus {
  readonly id: number;
  readonly status: string;
  readonly context: string;
  readonly description: string;
  readonly target_url: string;
}

const USER = 'capstan';

/** Starts a Gitea server of its own; `after` stops it. */
export async function startGitea(after: (fn: () => Promise<void>) => void): Promise<TestGitea> {
  const missing = giteaMissing();
  if (missing !== undefined) throw new Error(missing);
  const build = giteaBuildDir();
  const root = await mkdtemp(join(tmpdir(), 'capstan-gitea-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const config = join(root, 'app.ini');
  await writeFile(config, appIni({ root, build, port, url }), { mode: 0o600 });
  const env = cleanEnv({
    GITEA_WORK_DIR: root,
    ...(process.getuid?.() === 0 ? { GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT: 'true' } : {}),
  });
  const gitea = (args: string[]) =>
    run(join(build, 'gitea'), ['--config', config, ...args], { env, timeoutMs: 180_000 });
  await gitea(['migrate']);
  const password = randomBytes(18).toString('base64url');
  await gitea(
    ['admin', 'user', 'create', '--admin', '--username', USER, '--password', password].concat([
      '--email',
      `${USER}@example.com`,
      '--must-change-password=false',
    ]),
  );
  const made = await gitea([
    'admin',
    'user',
    'generate-access-token',
    '--username',
    USER,
    '--scopes',
    'all',
    '--raw',
  ]);
  const token = made.stdout.trim().split('\n').at(-1) ?? '';
  const child = spawn(join(build, 'gitea'), ['--config', config, 'web'], { env, stdio: 'ignore' });
  child.on('error', () => undefined);
  const stop = async () => {
    await stopChild(child);
    await rm(root, { recursive: true, force: true });
  };
  after(stop);
  const api = `${url}/api/v1`;
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `token ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`Gitea ${method} ${path}: ${String(response.status)} ${text}`);
    return JSON.parse(text) as unknown;
  };
  await eventually(() => call('GET', '/version'), {
    timeoutMs: 120_000,
    what: `Gitea answering on ${url} (its log: ${join(root, 'log')})`,
  });
  return {
    url,
    api,
    user: USER,
    password,
    token,
    createRepository: async (name) => {
      await call('POST', '/user/repos', { name, auto_init: true, default_branch: 'main' });
      const branch = (await call('GET', `/repos/${USER}/${name}/branches/main`)) as {
        commit: { id: string };
      };
      return branch.commit.id;
    },
    statuses: async (repository, sha) => {
      const listed = (await call(
        'GET',
        `/repos/${USER}/${repository}/commits/${sha}/statuses`,
      )) as GiteaStatus[];
      return [...listed].sort((a, b) => b.id - a.id);
    },
    stop,
  };
}

function appIni(options: { root: string; build: string; port: number; url: string }): string {
  const secret = () => randomBytes(32).toString('hex');
  return `APP_NAME = capstan-test
RUN_MODE = prod
WORK_PATH = ${options.root}
[database]
DB_TYPE = sqlite3
PATH = ${join(options.root, 'gitea.db')}
[security]
INSTALL_LOCK = true
SECRET_KEY = ${secret()}
[server]
HTTP_ADDR = 127.0.0.1
HTTP_PORT = ${String(options.port)}
ROOT_URL = ${options.url}/
STATIC_ROOT_PATH = ${options.build}
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
[repository]
ROOT = ${join(options.root, 'repos')}
[log]
MODE = file
ROOT_PATH = ${join(options.root, 'log')}
LEVEL = warn
[oauth2]
ENABLED = false
[service]
DISABLE_REGISTRATION = true
[indexer]
ISSUE_INDEXER_TYPE = db
[cron]
ENABLED = false
`;
}

/** SIGTERM (Gitea shuts down gracefully), SIGKILL after 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
