/**
 * What the agent's and the server's installs share (src/contracts/install.ts, install-server.ts): the
 * labels and metadata of every object, the RBAC vocabulary, the numeric user of the image, and the
 * restricted-profile pod and container settings with the three health probes.
 */
import type { KubeObject } from '../core/resource.ts';

export const RBAC = 'rbac.authorization.k8s.io';
export const RBAC_V1 = `${RBAC}/v1`;
export const READ = ['get', 'list', 'watch'];
/** The image's numeric user (Dockerfile `USER`): numeric, so that the kubelet can check runAsNonRoot. */
export const CAPSTAN_UID = 10001;

/** The namespace of the default install (install.ts DEFAULT_NAMESPACE). */
export const INSTALL_DEFAULT_NAMESPACE = 'capstan-system';

/**
 * The name of an install's object that another install in the same cluster could share: its
 * cluster-scoped RBAC (ClusterRoles, ClusterRoleBindings) and its RoleBindings in the Application and
 * Pipeline namespaces. The default install (capstan-system) keeps the plain name, so an install made
 * before upgrades in place; an install in another namespace gets `<name>-<namespace>`, so that a
 * second install never re-binds (or rewrites the rules of) the first one's.
 */
export function installScopedName(name: string, namespace: string): string {
  return namespace === INSTALL_DEFAULT_NAMESPACE ? name : `${name}-${namespace}`;
}

/** The labels of every object of a component (`agent`, `server`) of the install. */
export const labelsOf = (component: string): Record<string, string> => ({
  'app.kubernetes.io/name': 'capstan',
  'app.kubernetes.io/part-of': 'capstan',
  'app.kubernetes.io/component': component,
});

/** An object's metadata: its name, its namespace where it has one, and its component's labels. */
export type Meta = (name: string, component: string, ns?: string) => KubeObject['metadata'];
export const metaOf: Meta = (name, component, ns) => ({
  name,
  ...(ns === undefined ? {} : { namespace: ns }),
  labels: labelsOf(component),
});

/** The pod's security context: the image's user, its group for the volumes, and a seccomp profile. */
export function podSecurityContext(seccompProfile: Record<string, string>): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: CAPSTAN_UID,
    runAsGroup: CAPSTAN_UID,
    fsGroup: CAPSTAN_UID,
    seccompProfile,
  };
}

/** The container's security context: no privilege, no capability, a read-only root file system. */
export const CONTAINER_SECURITY_CONTEXT = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
};

/** The startup, liveness and readiness probes of a container serving /healthz and /readyz on `port`. */
export function healthProbes(port: string): Record<string, unknown> {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });
  return {
    startupProbe: probe('/healthz', 2, 30),
    livenessProbe: probe('/healthz', 10, 3),
    readinessProbe: probe('/readyz', 5, 3),
  };
}
