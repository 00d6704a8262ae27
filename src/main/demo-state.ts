// The local demo's state on disk (the processes it started, their URLs) and its wait for a positive
// signal, shared by demo.ts and the parts it starts.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
