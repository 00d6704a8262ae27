/**
 * A real, throw-away PostgreSQL server for tests: Debian's `postgresql` package (scripts/setup.sh
 * installs it), a cluster made by `initdb` in a temporary folder, listening on a free loopback port with
 * password authentication (SCRAM), its socket in that folder. PostgreSQL refuses to run as root: when
 * the tests run as root, initdb and the server run as the `postgres` user (setpriv). `after` stops the
 * server (fast shutdown) and deletes the folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { cleanEnv, run } from '../devcluster/exec.ts';
import { freePort } from '../devcluster/ports.ts';
import { eventually } from './eventually.ts';

export interface TestPostgres {
  readonly host: string;
  readonly port: number;
  /** The superuser the tests connect as. */
  readonly user: string;
  readonly password: string;
  /** `postgres://user@127.0.0.1:port/name`: no password (give it as PGPASSWORD, or use `urlWithPassword`). */
  url(database: string): string;
  urlWithPassword(database: string): string;
  /** Creates an empty database named `database_<n>` (a fresh one per call); returns its name. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

const USER = 'capstan';

/** The folder of initdb and postgres: CAPSTAN_POSTGRES_BIN, else the newest /usr/lib/postgresql/N/bin. */
export function postgresBinaries(env: NodeJS.ProcessEnv = process.env): string {
  const given = env['CAPSTAN_POSTGRES_BIN'];
  if (given !== undefined && given !== '') return given;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined)
    throw new Error(
      "PostgreSQL is not installed: run scripts/setup.sh (it installs Debian's postgresql package), or set CAPSTAN_POSTGRES_BIN to the folder of initdb and postgres",
    );
  return join(root, newest, 'bin');
}

/** The user ids the server runs as: the `postgres` user when we are root (PostgreSQL refuses root). */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined)
    throw new Error(
      "tests run as root and there is no postgres user to run PostgreSQL as: install Debian's postgresql package (scripts/setup.sh)",
    );
  return { uid: Number(uid), gid: Number(gid) };
}

/** The command line that runs `binary` as `ids` (setpriv), or as we are. */
function asUser(ids: { uid: number; gid: number } | undefined, binary: string): [string, string[]] {
  if (ids === undefined) return [binary, []];
  return ['setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', binary]];
}

/** Starts a PostgreSQL server of its own; `after` stops it. */
export async function startPostgres(after: (fn: () => Promise<void>) => void): Promise<TestPostgres> {
  const bin = postgresBinaries();
  const ids = await runAs();
  const root = await mkdtemp(join(tmpdir(), 'capstan-postgres-'));
  if (ids !== undefined) await chown(root, ids.uid, ids.gid);
  const password = randomBytes(18).toString('base64url');
  await initCluster({ bin, ids, root, password });
  const port = await freePort();
  const child = startServer({ bin, ids, root, port });
  let n = 0;
  const stop = async () => {
    await stopServer(child);
    await rm(root, { recursive: true, force: true });
  };
  const pg: TestPostgres = {
    host: '127.0.0.1',
    port,
    user: USER,
    password,
    url: (database) => `postgres://${USER}@127.0.0.1:${port}/${database}`,
    urlWithPassword: (database) => `postgres://${USER}:${password}@127.0.0.1:${port}/${database}`,
    createDatabase: async () => {
      const name = `database_${++n}`;
      await withClient(pg.urlWithPassword('postgres'), (client) => client.query(`CREATE DATABASE ${name}`));
      return name;
    },
    stop,
  };
  after(stop);
  await eventually(() => withClient(pg.urlWithPassword('postgres'), (client) => client.query('SELECT 1')), {
    timeoutMs: 30_000,
    what: `PostgreSQL accepting connections on 127.0.0.1:${port} (log: ${join(root, 'server.log')})`,
  });
  return pg;
}

/** initdb: the superuser `capstan` with the password, SCRAM over TCP, UTF-8. */
async function initCluster(options: {
  bin: string;
  ids: { uid: number; gid: number } | undefined;
  root: string;
  password: string;
}): Promise<void> {
  const pwfile = join(options.root, 'pwfile');
  await writeFile(pwfile, `${options.password}\n`, { mode: 0o600 });
  if (options.ids !== undefined) await chown(pwfile, options.ids.uid, options.ids.gid);
  const [command, prefix] = asUser(options.ids, join(options.bin, 'initdb'));
  await run(
    command,
    [
      ...prefix,
      '--pgdata',
      join(options.root, 'data'),
      '--username',
      USER,
      '--pwfile',
      pwfile,
      '--auth-host=scram-sha-256',
      '--auth-local=peer',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ],
    { env: cleanEnv(), timeoutMs: 120_000 },
  );
  await rm(pwfile);
}

/** The server on loopback, tuned for tests (no fsync: the data is thrown away). */
function startServer(options: {
  bin: string;
  ids: { uid: number; gid: number } | undefined;
  root: string;
  port: number;
}): ChildProcess {
  const [command, prefix] = asUser(options.ids, join(options.bin, 'postgres'));
  const child = spawn(
    command,
    [
      ...prefix,
      '-D',
      join(options.root, 'data'),
      '-k',
      options.root,
      '-h',
      '127.0.0.1',
      '-p',
      String(options.port),
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      `log_directory=${options.root}`,
      '-c',
      'logging_collector=on',
      '-c',
      'log_filename=server.log',
    ],
    { env: cleanEnv(), stdio: 'ignore' },
  );
  child.on('error', () => undefined);
  return child;
}

/** Fast shutdown (SIGINT: sessions ended, no waiting for clients), SIGKILL after 10 s. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Connects, runs `fn`, and disconnects. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
