// The local demo's state on disk (the processes it started, their URLs) and its wait for a positive
// signal, shared by demo.ts and the parts it starts.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';
import { clustersRoot } from '../devcluster/layout.ts';
import type { ProcessRecord } from '../devcluster/processes.ts';

/** The demo's cluster by default; `--name` runs another demo beside it (its own cluster and folder). */
export const DEMO_CLUSTER = 'demo';
export interface DemoState {
  readonly gitServer?: ProcessRecord;
  readonly agent?: ProcessRecord;
  readonly agentUrl?: string;
  /** The agent runs as install.yaml's pods on the real node (demo up --real-node). */
  readonly agentPods?: boolean;
  readonly server?: ProcessRecord;
  readonly serverUrl?: string;
  readonly metricsUrl?: string;
  readonly webhookUrl?: string;
  readonly webhookToken?: string;
}

export interface GitServerState {
  readonly url: string;
  readonly username: string;
  readonly password: string;
}

/** The demo's folder: `demo` for the default demo, `demo-<name>` for another. */
export const demoDir = (name: string) =>
  join(dirname(clustersRoot()), name === DEMO_CLUSTER ? 'demo' : `demo-${name}`);
export const statePath = (name: string) => join(demoDir(name), 'state.json');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function readState(name: string): Promise<DemoState> {
  try {
    return JSON.parse(await readFile(statePath(name), 'utf8')) as DemoState;
  } catch {
    return {};
  }
}

export async function writeState(dir: string, state: DemoState): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

/**
 * The server's initial admin password, kept in the demo's folder (mode 0600) when the demo first reads
 * it from the Secret capstan-initial-admin: the server writes that Secret only when it creates the admin,
 * and the cluster's etcd is fresh after `demo down` while the demo's store (server.db) is not, so a
 * later `demo up` finds no Secret but the same admin. `demo down --purge` removes it with the folder.
 */
export const adminPasswordPath = (dir: string) => join(dir, 'admin-password');

/** The password the Secret holds (kept for later), else the one kept; undefined if neither. */
export async function keptAdminPassword(
  dir: string,
  fromSecret: string | undefined,
): Promise<string | undefined> {
  const path = adminPasswordPath(dir);
  if (fromSecret !== undefined) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(path, `${fromSecret}\n`, { mode: 0o600 });
    // writeFile's mode applies to a new file only: an older file keeps its own.
    await chmod(path, 0o600);
    return fromSecret;
  }
  try {
    const kept = (await readFile(path, 'utf8')).trim();
    return kept === '' ? undefined : kept;
  } catch {
    return undefined;
  }
}

export async function until<T>(
  what: string,
  options: { readonly timeoutMs: number; readonly logs: string },
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const { timeoutMs } = options;
  const polled = await pollUntil(async () => (await probe().catch(() => undefined)) ?? false, {
    deadline: Date.now() + timeoutMs,
    intervalMs: 500,
    time: { now: () => new Date(), sleep },
  });
  if (polled.met) return polled.value;
  throw new CapstanError(
    'DEMO_TIMEOUT',
    `${what} did not happen within ${Math.round(timeoutMs / 1000)} s; see the logs in ${options.logs}`,
  );
}
