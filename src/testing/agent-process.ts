import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinaries } from '../devcluster/binaries.ts';
import { CLI, pidAlive } from './cli.ts';
import { eventually } from './eventually.ts';

/** `capstan agent` running as its own process, as in a pod: its JSON log lines, and ways to end it. */
export interface AgentProcess {
  readonly pid: number;
  /** Its leader-election identity (the agent's default: host name and pid). */
  readonly identity: string;
  /** The JSON log lines it wrote on stdout, in order. */
  readonly logs: readonly Record<string, unknown>[];
  /** Everything it wrote on stderr (and stdout lines that are not JSON). */
  readonly stderr: () => string;
  /** Resolves when the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** SIGKILL: no graceful stop, no release of the Lease — as when a node dies. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not ended after `timeoutMs` (default 40 s). */
  stop(timeoutMs?: number): Promise<void>;
  /**
   * Waits until it has started (its `capstan agent listening` line) and returns its addresses. Until
   * then it is Node.js loading the agent, not the agent at work: on a loaded machine that alone takes
   * tens of seconds, which a test's wait for what the agent does should not include.
   */
  started(options?: { timeoutMs?: number }): Promise<string[]>;
  /** Waits for a log line that `match` accepts, and returns it. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    options?: { what?: string; timeoutMs?: number },
  ): Promise<Record<string, unknown>>;
}

let binaries: Promise<string> | undefined;

/**
 * How long `started()` waits by default: from its spawn to its listening line, the agent (Node.js
 * loading its TypeScript sources) took 30-40 s with this 2-core machine at load 15-21, 70 s at load 28.
 */
const STARTED_TIMEOUT_MS = 180_000;

/** What a test's `capstan agent` process is given; every test's agent has the same flags besides. */
export interface AgentProcessOptions {
  /** Its identity: agentKubeconfig(cluster) or a narrower ServiceAccount's (`--kubeconfig`). */
  readonly kubeconfig: string;
  /** The test's own Applications, `KEY=VALUE` (`--selector`): several agents share a cluster. */
  readonly selector: string;
  /**
   * Leader election on a Lease of the test's own (`--lease-namespace`, `--lease-name`,
   * `--lease-duration`); absent, `--no-leader-election` (the one agent of its Applications).
   */
  readonly lease?: { readonly namespace: string; readonly name: string; readonly seconds: number };
  /** The test's further flags (`--render-timeout 2s`, `--namespace NS`, …); one given above again wins. */
  readonly extraArgs?: readonly string[];
}

/** The command line of a test's agent (after `capstan agent`). */
export function agentProcessArgs(options: AgentProcessOptions): string[] {
  const { lease } = options;
  return [
    // The tests' git server is on loopback, which the agent refuses unless allowed.
    '--allow-repository-host',
    '127.0.0.1',
    '--kubeconfig',
    options.kubeconfig,
    '--selector',
    options.selector,
    ...(lease === undefined
      ? ['--no-leader-election']
      : [
          '--lease-namespace',
          lease.namespace,
          '--lease-name',
          lease.name,
          '--lease-duration',
          `${String(lease.seconds)}s`,
        ]),
    // Its HTTP servers on loopback, on free ports (several agents run at once).
    '--bind-address',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--webhook-port',
    '0',
    // Last: a flag given again here wins.
    ...(options.extraArgs ?? []),
  ];
}

/**
 * Starts `capstan agent` with the flags of agentProcessArgs, a git cache of its own (each replica has
 * its own in a cluster) and the Kubernetes binaries already built (CAPSTAN_BIN_DIR), and stops it
 * (SIGTERM, then SIGKILL) when `after` runs, removing the cache.
 */
export async function startAgentProcess(
  after: (fn: () => Promise<void>) => void,
  options: AgentProcessOptions,
): Promise<AgentProcess> {
  binaries ??= ensureBinaries();
  const bin = await binaries;
  const cache = await mkdtemp(join(tmpdir(), 'capstan-agent-cache-'));
  const child = spawn(process.execPath, [CLI, 'agent', ...agentProcessArgs(options)], {
    env: { ...process.env, NO_COLOR: '1', CAPSTAN_BIN_DIR: bin, CAPSTAN_CACHE_DIR: cache },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('capstan agent did not start');
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        stderr += `${line}\n`;
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  const waitForLog: AgentProcess['waitForLog'] = (match, options = {}) =>
    eventually(
      () => {
        const found = logs.find(match);
        if (found) return found;
        if (ended()) throw new Error(`the agent ended; stderr: ${stderr.slice(-2000)}`);
        return false;
      },
      { what: options.what ?? 'a log line of the agent', timeoutMs: options.timeoutMs ?? 30_000 },
    );
  const stop = async (timeoutMs = 40_000) => {
    if (ended()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  };
  after(async () => {
    await stop();
    await rm(cache, { recursive: true, force: true });
  });
  return {
    pid,
    identity: `${hostname()}-${pid}`,
    logs,
    stderr: () => stderr,
    exited,
    alive: () => !ended() && pidAlive(pid),
    kill: async () => {
      if (ended()) return;
      child.kill('SIGKILL');
      await exited;
    },
    stop,
    waitForLog,
    started: (options) => started(waitForLog, options),
  };
}

async function started(
  waitForLog: AgentProcess['waitForLog'],
  options: { timeoutMs?: number } = {},
): Promise<string[]> {
  const line = await waitForLog((l) => l['msg'] === 'capstan agent listening', {
    what: 'the agent to start (its listening line)',
    timeoutMs: options.timeoutMs ?? STARTED_TIMEOUT_MS,
  });
  return Array.isArray(line['addresses']) ? line['addresses'].map(String) : [];
}
