// What the e2e tests stand on: a real cluster, a real git server, `capstan agent` as a process,
// `capstan server` (serving the built UI) and Debian's chromium driven by playwright-core.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { DEFAULT_AGENT_NAMESPACE } from '../../src/adapters/kube/cluster-client.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { openSqliteStore } from '../../src/adapters/store/sqlite-store.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../../src/contracts/project.ts';
import type { ServerOptions } from '../../src/main/server.ts';
import type { Store } from '../../src/ports/store.ts';
import { Authenticator } from '../../src/server/auth.ts';
import { startAgentProcess } from '../../src/testing/agent-process.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  installEnvironmentCrd,
  installPipelineCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
} from '../../src/testing/cluster.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { initialAdminPassword, startTestServer } from '../../src/testing/server.ts';

export const REPOSITORY_ROOT = join(import.meta.dirname, '..', '..');
/**
 * Where the tests save the screenshots of the pages they open: .cache/e2e-screenshots (not tracked).
 * The documentation's come from test/e2e/ui-screenshots.test.ts alone (data shaped like the demo's;
 * `CAPSTAN_E2E_SCREENSHOTS=docs/ui` refreshes them), never from these.
 */
export const SCREENSHOTS = join(REPOSITORY_ROOT, '.cache', 'e2e-screenshots');

/** Debian's chromium, installed by scripts/setup-browser.sh (which prints its path). */
export function chromiumPath(): string {
  return execFileSync('bash', [join(REPOSITORY_ROOT, 'scripts', 'setup-browser.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** The UI built from the current sources (scripts/build-ui.sh does nothing when it is current). */
export function buildUi(): void {
  execFileSync('bash', [join(REPOSITORY_ROOT, 'scripts', 'build-ui.sh')], { stdio: 'inherit' });
}

export async function launchBrowser(after: (fn: () => Promise<void>) => void): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // As root in a container chromium's own sandbox cannot start; the test pages are our own.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  after(() => browser.close());
  return browser;
}

export interface RunningServer {
  readonly url: string;
  readonly adminPassword: string;
  /** Its database (the Store: users, audit, pipeline runs). */
  readonly database: string;
  /** Adds a local user (not an admin) with this password. */
  addUser(name: string, password: string): Promise<void>;
  readonly logs: readonly Record<string, unknown>[];
}

/** `capstan server` in this process, its Secrets in `namespace`, its database in a scratch folder. */
export async function startServer(
  after: (fn: () => Promise<void>) => void,
  options: {
    readonly kubeconfig: string;
    readonly namespace: string;
    /** Default: any free one. */
    readonly port?: number;
    /** Single sign-on through this provider (its client secret in a Secret of `namespace`). */
    readonly oidc?: ServerOptions['oidc'];
    /** Drive pipeline runs in this server (its run Pods on the cluster). */
    readonly pipelines?: ServerOptions['pipelines'];
    /** Drive promotions in this server (docs/promotions.md). */
    readonly promotions?: ServerOptions['promotions'];
  },
): Promise<RunningServer> {
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-e2e-server-'));
  const database = join(scratch, 'server.db');
  const logs: Record<string, unknown>[] = [];
  // Stopped below, before its scratch folder goes (whatever order `after` runs its hooks in).
  const { base, stop } = await startTestServer(() => undefined, {
    kubeconfig: options.kubeconfig,
    namespace: options.namespace,
    database,
    // The tests' git server is on loopback: the desired state and diff are rendered from it.
    repositoryHosts: ['127.0.0.1'],
    // The agent process keeps its inventories in its default namespace, not the server's.
    inventoryNamespace: DEFAULT_AGENT_NAMESPACE,
    port: options.port ?? 0,
    ...(options.oidc ? { oidc: options.oidc } : {}),
    ...(options.pipelines ? { pipelines: options.pipelines } : {}),
    ...(options.promotions ? { promotions: options.promotions } : {}),
    log: (line) => logs.push(line),
  });
  after(async () => {
    await stop();
    await rm(scratch, { recursive: true, force: true });
  });
  const kube = new KubeCluster(loadKubeConfig({ kubeconfig: options.kubeconfig }));
  const password = await initialAdminPassword(kube, options.namespace);
  kube.close();
  assert.ok(password, 'the initial admin password is in its Secret');
  return {
    url: base,
    database,
    adminPassword: password,
    logs,
    addUser: async (name, password) => {
      const store = openSqliteStore({ path: database });
      try {
        await new Authenticator({ store, now: Date.now }).setPassword(name, password, { admin: false });
      } finally {
        await store.close();
      }
    },
  };
}

/** Logs in through the login page as a person does. */
export async function logIn(page: Page, base: string, user: string, password: string): Promise<void> {
  await page.goto(`${base}/applications`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Applications' }).waitFor();
}

/** axe-core on the page as it is; the serious and critical violations, described. */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  const source = await readFile(join(REPOSITORY_ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  // Evaluated over the DevTools protocol, not as an inline <script>: the page's CSP stays as served.
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: () => Promise<AxeResults> } }).axe;
    const results = await axe.run();
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? '',
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.join(', ')})`);
}

interface AxeResults {
  violations: { id: string; impact?: string; help: string; nodes: { target: string[] }[] }[];
}

/** Nothing on the page is wider than the window (a phone's 390 px). */
export async function assertFitsTheScreen(page: Page, what: string): Promise<void> {
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
  const widest = await page.evaluate<string>(
    "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth).map((e) => e.tagName + '.' + e.className).slice(0, 5).join(', ')",
  );
  const width = page.viewportSize()?.width ?? 0;
  assert.ok(
    overflow <= 0,
    `${what} is ${String(overflow)} px wider than a ${String(width)} px screen: ${widest}`,
  );
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** From the top of the page (its skip link), presses Tab until `target` has the focus (at most 60 times). */
export async function tabTo(page: Page, target: Locator): Promise<void> {
  await page.locator('a.skip').focus();
  for (let press = 0; press < 60; press++) {
    if ((await target.and(page.locator(':focus')).count()) === 1) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`60 presses of Tab did not reach ${String(target)}`);
}

/** A person who logs in: a local user of the server. */
export interface E2eUser {
  readonly name: string;
  readonly password: string;
}

type CleanUp = () => Promise<void> | void;
type ServerExtras = Omit<Parameters<typeof startServer>[1], 'kubeconfig' | 'namespace'>;

/**
 * The set-up every e2e file stands on, made once here: the cluster, the CRDs, a fresh namespace with the
 * git server's credentials, a project of that namespace where `viewer` has the role viewer, `capstan
 * agent` as a process selecting the file's Applications by label, `capstan server` with the viewer as a
 * local user, its Store, Debian's chromium, and pages whose Content-Security-Policy violations and
 * JavaScript dialogs are recorded. Clean-ups run in reverse order after the file's tests.
 *
 * Made at the file's top level (it registers the file's `after`); `setUp` in its `before`.
 */
export function e2eFixture(options: {
  /** The fresh namespace's name (a slug of it, with a random suffix). */
  readonly name: string;
  readonly viewer: E2eUser;
  /** The label key by which the file's agent selects its Applications (`label()` is its value). */
  readonly labelKey?: string;
}) {
  const cleanups: CleanUp[] = [];
  const later = (fn: CleanUp) => {
    cleanups.push(fn);
  };
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const cspViolations: string[] = [];
  const alerts: string[] = [];
  let parts: Awaited<ReturnType<typeof setUpParts>> | undefined;
  let running: RunningServer | undefined;
  let browser: Browser | undefined;
  let store: Store | undefined;
  const ready = () => {
    if (parts === undefined) throw new Error('the e2e fixture is used before its setUp()');
    return parts;
  };
  return {
    cspViolations,
    alerts,
    later,
    /** The cluster, the CRDs asked for, the namespace, its git Secret `git`, and the project. */
    async setUp(what: { readonly crds?: readonly ('pipeline' | 'environment')[] } = {}) {
      parts = await setUpParts(options, what, later);
      return parts;
    },
    get parts() {
      return ready();
    },
    /** The label value the agent selects (on `labelKey`). */
    label: () => `e2e-${ready().namespace.slice(-6)}`,
    /** `capstan agent` as a process, selecting `labelKey=label()`. */
    async startAgent(): Promise<void> {
      const { cluster } = ready();
      if (options.labelKey === undefined) throw new Error('the e2e fixture has no labelKey for its agent');
      const agent = await startAgentProcess(later, {
        kubeconfig: await agentKubeconfig(cluster),
        selector: `${options.labelKey}=e2e-${ready().namespace.slice(-6)}`,
      });
      // Its waits start once it runs, not while Node.js loads it (tens of seconds on a busy machine).
      await agent.started();
    },
    /** `capstan server` (its Secrets in the namespace), the viewer added, then the browser. */
    async startServer(extras: ServerExtras = {}): Promise<RunningServer> {
      const { cluster, namespace } = ready();
      running = await startServer(later, { kubeconfig: cluster.adminKubeconfig, namespace, ...extras });
      await running.addUser(options.viewer.name, options.viewer.password);
      browser = await launchBrowser(later);
      return running;
    },
    /** The server's own Store (users, audit, runs, promotions), opened once. */
    store(): Store {
      if (running === undefined) throw new Error('the e2e fixture has no server yet');
      if (store === undefined) {
        const opened = openSqliteStore({ path: running.database });
        later(() => opened.close());
        store = opened;
      }
      return store;
    },
    /** A fresh browser context and page (1360×860 unless told), its CSP violations and dialogs recorded. */
    async newPage(size: { readonly width: number; readonly height: number } = { width: 1360, height: 860 }) {
      if (browser === undefined) throw new Error('the e2e fixture has no browser yet');
      const context = await browser.newContext({ viewport: size });
      const page = await context.newPage();
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
      });
      page.on('dialog', (dialog) => {
        alerts.push(dialog.message());
        void dialog.dismiss();
      });
      return { context, page };
    },
  };
}

async function setUpParts(
  options: { readonly name: string; readonly viewer: E2eUser },
  what: { readonly crds?: readonly ('pipeline' | 'environment')[] },
  later: (fn: CleanUp) => void,
) {
  buildUi();
  const git = await startGitServer(later);
  const cluster = await testCluster();
  const kube = kubeClients(cluster.adminKubeconfig);
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  later(() => {
    admin.close();
  });
  const types = {
    application: await installApplicationCrd(admin),
    project: await installProjectCrd(admin),
    pipeline: what.crds?.includes('pipeline') === true ? await installPipelineCrd(admin) : undefined,
    environment: what.crds?.includes('environment') === true ? await installEnvironmentCrd(admin) : undefined,
  };
  const namespace = await freshNamespace({ name: options.name, after: later }, kube);
  await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
  const project = `e2e-${namespace}`.slice(0, 60);
  await admin.apply(
    types.project,
    {
      apiVersion: PROJECT_API_VERSION,
      kind: PROJECT_KIND,
      metadata: { name: project, labels: { 'capstan.dev/test': 'true' } },
      spec: {
        applicationNamespaces: [namespace],
        destinations: [{ cluster: '*', namespace }],
        roles: [{ name: 'viewer', users: [options.viewer.name] }],
      },
    },
    { fieldManager: 'capstan-test', force: true },
  );
  later(() => admin.delete(types.project, '', project).then(() => undefined));
  return { git, cluster, kube, admin, types, namespace, project };
}

/** A request from the page, as the UI sends it (the session's CSRF token): the status and the body. */
export async function sendAs(page: Page, method: 'POST' | 'DELETE', path: string, body?: unknown) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const response = await fetch(path, {
        method,
        headers: {
          'x-csrf-token': session.csrfToken,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as { permission?: string } };
    },
    { method, path, body },
  );
}

/** A POST from the page, as the UI sends it. */
export const postAs = (page: Page, path: string, body: unknown) => sendAs(page, 'POST', path, body);
