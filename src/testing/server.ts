/**
 * What the tests of `capstan server` on a real cluster share: the admin's clients with the Application,
 * Project and Secret types installed, the server's own least-privilege identity (the install's RBAC),
 * the server started on loopback and stopped after the test, the initial admin's password, and the
 * admin's session.
 */
import assert from 'node:assert/strict';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import { serverRbac, SERVER_NAME } from '../contracts/install-server.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../contracts/project.ts';
import { INITIAL_ADMIN_SECRET, runServer, type ServerOptions } from '../main/server.ts';
import type { ResourceType } from '../ports/cluster.ts';
import {
  installApplicationCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from './cluster.ts';
import { secretText } from '../core/secret-data.ts';

export interface ServerTestKube {
  readonly kube: KubeClients;
  /** The cluster's admin; close it in `after`. */
  readonly admin: KubeCluster;
  readonly appType: ResourceType;
  readonly projectType: ResourceType;
  readonly secretType: ResourceType;
}

/** The test cluster's admin clients, with the Application and Project resource types installed. */
export async function serverTestKube(): Promise<ServerTestKube> {
  const cluster = await testCluster();
  const kube = kubeClients(cluster.adminKubeconfig);
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  const appType = await installApplicationCrd(admin);
  const projectType = await installProjectCrd(admin);
  const secretType = await admin.resourceType('v1', 'Secret');
  assert.ok(secretType);
  return { kube, admin, appType, projectType, secretType };
}

/**
 * Applies the install's server RBAC in `namespace`; resolves with a kubeconfig of that identity. The
 * install's cluster-wide objects have fixed names (`capstan-server`), which install-rights.test.ts applies
 * and deletes for real while other files run beside it: so the server's ClusterRole is copied under a name
 * of this namespace (`capstan-server-<namespace>`, same rules) and bound to this ServiceAccount alone, and
 * the install's ClusterRoleBinding is left out.
 */
export async function serverIdentity(admin: KubeCluster, namespace: string): Promise<string> {
  const clusterRole = `${SERVER_NAME}-${namespace}`;
  for (const object of serverRbac(namespace)) {
    if (object.kind === 'ClusterRoleBinding') continue;
    const own =
      object.kind === 'ClusterRole' && object.metadata.name === SERVER_NAME
        ? { ...object, metadata: { ...object.metadata, name: clusterRole } }
        : object;
    const type = await admin.resourceType(own.apiVersion, own.kind);
    assert.ok(type);
    await admin.apply(type, own, { fieldManager: 'capstan-test', force: true });
  }
  const cluster = await testCluster();
  return cluster.serviceAccountKubeconfig({ namespace, name: SERVER_NAME, clusterRole });
}

/** A `capstan server` of a test, listening on loopback. */
export interface TestServer {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly base: string;
  /** Stops it and waits until it has (done by `after` in any case). */
  readonly stop: () => Promise<void>;
}

/**
 * Starts `capstan server` on 127.0.0.1 (a free port unless `port` is given; no log unless `log` is),
 * stopped by `after`; resolves once it listens, and rejects if it ends before it does.
 */
export async function startTestServer(
  after: (fn: () => Promise<void>) => void,
  options: Omit<ServerOptions, 'host' | 'onListening'> & { readonly database: string },
): Promise<TestServer> {
  const abort = new AbortController();
  let listened: (address: string) => void = () => undefined;
  const listening = new Promise<string>((resolve) => {
    listened = resolve;
  });
  const running = runServer(
    { port: 0, log: () => undefined, ...options, host: '127.0.0.1', onListening: listened },
    abort.signal,
  );
  const stop = async () => {
    abort.abort();
    await running;
  };
  after(stop);
  const base = await Promise.race([
    listening,
    running.then(() => {
      throw new Error('capstan server stopped before it listened');
    }),
  ]);
  return { base, stop };
}

/** The initial admin's password, as a user reads it from its Secret in the server's namespace. */
export async function initialAdminPassword(admin: KubeCluster, namespace: string): Promise<string> {
  const secrets = await admin.resourceType('v1', 'Secret');
  assert.ok(secrets);
  const initial = await admin.get(secrets, namespace, INITIAL_ADMIN_SECRET);
  return secretText(initial, 'password') ?? '';
}

/** Signs the initial admin in: the session cookie and its CSRF token. */
export async function adminSession(
  base: string,
  password: string,
): Promise<{ cookie: string; csrfToken: string }> {
  const login = await fetch(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  assert.equal(login.status, 200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  return { cookie, csrfToken };
}

/** The initial admin signed in, as headers for any request: the session cookie, its CSRF token, JSON. */
export async function adminHeaders(
  admin: KubeCluster,
  base: string,
  namespace: string,
): Promise<Record<string, string>> {
  const { cookie, csrfToken } = await adminSession(base, await initialAdminPassword(admin, namespace));
  return { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' };
}

/**
 * A Project `p-<apps>` whose Applications live in and deploy to the namespace `apps` (in-cluster),
 * with one role `deployer` held by `holders`; deleted after the test. Resolves with its name.
 */
export async function deployerProject(
  t: { after(fn: () => Promise<void>): void },
  test: Pick<ServerTestKube, 'admin' | 'projectType'>,
  scope: { readonly apps: string; readonly holders: { users?: string[]; groups?: string[] } },
): Promise<string> {
  const project = `p-${scope.apps}`.slice(0, 60);
  await test.admin.apply(
    test.projectType,
    {
      apiVersion: PROJECT_API_VERSION,
      kind: PROJECT_KIND,
      metadata: { name: project },
      spec: {
        applicationNamespaces: [scope.apps],
        destinations: [{ cluster: 'in-cluster', namespace: scope.apps }],
        roles: [{ name: 'deployer', ...scope.holders }],
      },
    },
    { fieldManager: 'capstan-test' },
  );
  t.after(() => test.admin.delete(test.projectType, '', project).then(() => undefined));
  return project;
}
