// The demo's processes on the machine (without a real node): the agent and the API server, each with a
// ServiceAccount identity of its own, started unless they run, and waited for on their health URLs.
import { join, resolve } from 'node:path';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { SERVER_NAME, serverRbac } from '../contracts/install-server.ts';
import type { LocalCluster } from '../devcluster/cluster.ts';
import { freePort } from '../devcluster/ports.ts';
import { isRunning, startProcess, stopProcess } from '../devcluster/processes.ts';
import { applyAsDemo, servedType } from './demo-hello.ts';
import { until, writeState, type DemoState } from './demo-state.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'capstan.js');
const SYSTEM_NAMESPACE = 'capstan-system';

/** With the agent in pods: a process agent of an earlier run stopped (two agents would fight), the state without it. */
export async function agentGone(dir: string, current: DemoState): Promise<DemoState> {
  if (current.agent && isRunning(current.agent)) await stopProcess(current.agent);
  const { agent: _agent, agentUrl: _url, metricsUrl: _metrics, webhookUrl: _webhook, ...rest } = current;
  const state = { ...rest, agentPods: true };
  await writeState(dir, state);
  return state;
}

/**
 * With the API server in a pod (demo up --real-node): a process server of an earlier run stopped (the
 * demo prints one server), the state without it.
 */
export async function serverGone(dir: string, current: DemoState): Promise<DemoState> {
  if (current.server && isRunning(current.server)) await stopProcess(current.server);
  const { server: _server, serverUrl: _url, ...rest } = current;
  await writeState(dir, rest);
  return rest;
}

/** The agent (started unless it runs), answering /healthz; the state with its addresses. */
export async function agent(
  cluster: LocalCluster,
  dir: string,
  current: DemoState,
  say: (line: string) => void,
): Promise<DemoState> {
  let state = current;
  if (!state.agent || !isRunning(state.agent)) {
    say('starting the agent');
    const kubeconfig = await cluster.serviceAccountKubeconfig({
      namespace: 'capstan-system',
      name: 'capstan-agent',
      clusterRole: 'cluster-admin',
    });
    const [port, metricsPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
    const started = startProcess({
      name: 'agent',
      binary: process.execPath,
      args: [
        CLI,
        'agent',
        '--kubeconfig',
        kubeconfig,
        '--no-leader-election',
        // The demo's git server is on loopback, which the agent refuses unless allowed.
        '--allow-repository-host',
        '127.0.0.1',
        '--bind-address',
        '127.0.0.1',
        '--port',
        String(port),
        '--metrics-port',
        String(metricsPort),
        '--webhook-port',
        String(webhookPort),
      ],
      log: join(dir, 'logs', 'agent.log'),
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/',
        POD_NAMESPACE: 'capstan-system',
        ...(process.env['CAPSTAN_CACHE_DIR'] ? { CAPSTAN_CACHE_DIR: process.env['CAPSTAN_CACHE_DIR'] } : {}),
      },
    });
    state = {
      ...state,
      agent: started,
      agentUrl: `http://127.0.0.1:${port}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      webhookUrl: `http://127.0.0.1:${webhookPort}/api/v1/webhooks/generic`,
    };
  }
  await writeState(dir, state);
  const agentUrl = state.agentUrl ?? '';
  await until('the agent answering /healthz', { timeoutMs: 60_000, logs: join(dir, 'logs') }, async () =>
    (await fetch(`${agentUrl}/healthz`)).ok ? true : undefined,
  );
  return state;
}

/** `capstan server` (started unless it runs) with the install's RBAC, answering /readyz; the state with its URL. */
export async function server(
  cluster: LocalCluster,
  admin: KubeCluster,
  dir: string,
  current: DemoState,
  say: (line: string) => void,
): Promise<DemoState> {
  let state = current;
  if (!state.server || !isRunning(state.server)) {
    say('starting the API server (capstan server)');
    for (const object of serverRbac(SYSTEM_NAMESPACE))
      await applyAsDemo(admin, await servedType(admin, object.apiVersion, object.kind), object);
    const kubeconfig = await cluster.serviceAccountKubeconfig({
      namespace: SYSTEM_NAMESPACE,
      name: SERVER_NAME,
      clusterRole: SERVER_NAME,
    });
    const port = await freePort();
    const started = startProcess({
      name: 'server',
      binary: process.execPath,
      args: [
        CLI,
        'server',
        '--kubeconfig',
        kubeconfig,
        '--namespace',
        SYSTEM_NAMESPACE,
        '--database',
        join(dir, 'server.db'),
        // Desired manifests and diffs are rendered from the demo's git server, on loopback.
        '--allow-repository-host',
        '127.0.0.1',
        // It drives the demo Environments' promotions, committing to the demo's git server (http).
        '--promotions',
        '--promotions-allow-http',
        '--bind-address',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      log: join(dir, 'logs', 'server.log'),
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/',
        ...(process.env['CAPSTAN_CACHE_DIR'] ? { CAPSTAN_CACHE_DIR: process.env['CAPSTAN_CACHE_DIR'] } : {}),
      },
    });
    state = { ...state, server: started, serverUrl: `http://127.0.0.1:${port}` };
  }
  await writeState(dir, state);
  const serverUrl = state.serverUrl ?? '';
  await until('the API server answering /readyz', { timeoutMs: 60_000, logs: join(dir, 'logs') }, async () =>
    (await fetch(`${serverUrl}/readyz`)).ok ? true : undefined,
  );
  return state;
}
