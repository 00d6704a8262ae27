/**
 * Cluster Secrets: a destination cluster is registered as a Secret in the agent's namespace, labelled
 * `capstan.dev/secret-type=cluster`, with the keys `name` (the destination name Applications use;
 * default the Secret's name), `kubeconfig` and, optionally, `context` and `inventoryNamespace`.
 * Pure: the Secret object in, what it registers out (and the Secret the CLI writes).
 */
import { CapstanError } from './errors.ts';
import { parseKubeconfig, type FlatKubeconfig } from './kubeconfig.ts';
import type { KubeObject } from './resource.ts';
import { secretSubject, secretText } from './secret-data.ts';

export const SECRET_TYPE_LABEL = 'capstan.dev/secret-type';
export const CLUSTER_SECRET_TYPE = 'cluster';
/** The label selector of cluster Secrets. */
export const CLUSTER_SECRET_SELECTOR = `${SECRET_TYPE_LABEL}=${CLUSTER_SECRET_TYPE}`;
/** The data keys of a cluster Secret. */
export const CLUSTER_SECRET_KEYS = {
  name: 'name',
  kubeconfig: 'kubeconfig',
  context: 'context',
  inventoryNamespace: 'inventoryNamespace',
} as const;
/** The name of the cluster the agent runs in: never registered by a Secret. */
export const IN_CLUSTER_NAME = 'in-cluster';
/** The Secret `capstan cluster add NAME` writes. */
export const clusterSecretName = (name: string): string => `cluster-${name}`;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** What one cluster Secret registers (values decoded; the kubeconfig not parsed yet). */
export interface ClusterRegistration {
  /** The destination name. */
  readonly name: string;
  /** `Secret/namespace/name`. */
  readonly secret: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  /** Where inventories are kept in that cluster; undefined: the default (capstan-system). */
  readonly inventoryNamespace: string | undefined;
}

/** Is `name` usable as a destination cluster name (a Kubernetes object name, not `in-cluster`)? */
export function checkClusterName(name: string): string | undefined {
  if (name === IN_CLUSTER_NAME)
    return `'${IN_CLUSTER_NAME}' is the agent's own cluster and cannot be registered`;
  if (name.length === 0 || name.length > 245 || !DNS_SUBDOMAIN.test(name))
    return `'${name}' is not a valid cluster name: use at most 245 lower-case letters, digits, '-' and '.'`;
  return undefined;
}

/** Decodes a cluster Secret (base64 data). Unusable names and values that are not base64 are reported, not thrown. */
export function clusterRegistration(
  secret: KubeObject,
): ClusterRegistration | { problem: string; secret: string } {
  const subject = secretSubject(secret);
  try {
    return decodedRegistration(secret, subject);
  } catch (error) {
    if (error instanceof CapstanError && error.code === 'SECRET_DATA_INVALID')
      return { problem: error.message, secret: subject };
    throw error;
  }
}

function decodedRegistration(
  secret: KubeObject,
  subject: string,
): ClusterRegistration | { problem: string; secret: string } {
  const secretName = secret.metadata.name ?? '';
  const value = (key: string): string | undefined => {
    const text = secretText(secret, key, subject);
    return text === '' ? undefined : text;
  };
  const name = value(CLUSTER_SECRET_KEYS.name)?.trim() ?? secretName;
  const problem = checkClusterName(name);
  if (problem !== undefined)
    return { problem: `${subject}: key ${CLUSTER_SECRET_KEYS.name}: ${problem}`, secret: subject };
  const inventoryNamespace = value(CLUSTER_SECRET_KEYS.inventoryNamespace)?.trim();
  return {
    name,
    secret: subject,
    uid: secret.metadata.uid ?? '',
    resourceVersion: secret.metadata.resourceVersion ?? '',
    kubeconfig: value(CLUSTER_SECRET_KEYS.kubeconfig),
    context: value(CLUSTER_SECRET_KEYS.context)?.trim(),
    inventoryNamespace,
  };
}

/** The registration's kubeconfig, reduced to inline credentials; CLUSTER_* errors name the Secret. */
export function registeredKubeconfig(registration: ClusterRegistration): FlatKubeconfig {
  const { secret } = registration;
  if (registration.kubeconfig === undefined)
    throw new CapstanError(
      'CLUSTER_SECRET_INVALID',
      `${secret} registers cluster '${registration.name}' but has no key ${CLUSTER_SECRET_KEYS.kubeconfig}; ` +
        `register it again with 'capstan cluster add ${registration.name} --kubeconfig FILE'`,
      { subject: secret },
    );
  const inventory = registration.inventoryNamespace;
  if (inventory !== undefined && !DNS_LABEL.test(inventory))
    throw new CapstanError(
      'CLUSTER_SECRET_INVALID',
      `${secret}: key ${CLUSTER_SECRET_KEYS.inventoryNamespace} is not a namespace name`,
      { subject: secret },
    );
  return parseKubeconfig(registration.kubeconfig, {
    source: `${secret} (key ${CLUSTER_SECRET_KEYS.kubeconfig})`,
    context: registration.context,
  });
}

/** How a flat kubeconfig authenticates, in one word (never the credential itself). */
export function authKind(flat: FlatKubeconfig): string {
  const kinds = [
    ...(flat.user.token === undefined ? [] : ['token']),
    ...(flat.user.clientCertificateData === undefined ? [] : ['client-certificate']),
    ...(flat.user.username === undefined ? [] : ['basic']),
  ];
  return kinds.join('+');
}

export interface ClusterSecretOptions {
  readonly name: string;
  readonly namespace: string;
  /** The kubeconfig text to store (already flattened and inline). */
  readonly kubeconfig: string;
  readonly inventoryNamespace?: string | undefined;
}

/** The cluster Secret `capstan cluster add` applies. */
export function clusterSecret(options: ClusterSecretOptions): KubeObject {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: clusterSecretName(options.name),
      namespace: options.namespace,
      labels: { [SECRET_TYPE_LABEL]: CLUSTER_SECRET_TYPE, 'app.kubernetes.io/managed-by': 'capstan' },
    },
    type: 'Opaque',
    data: {
      [CLUSTER_SECRET_KEYS.name]: b64(options.name),
      [CLUSTER_SECRET_KEYS.kubeconfig]: b64(options.kubeconfig),
      ...(options.inventoryNamespace === undefined
        ? {}
        : { [CLUSTER_SECRET_KEYS.inventoryNamespace]: b64(options.inventoryNamespace) }),
    },
  };
}

// ── Removing a registered cluster ─────────────────────────────────────────────────────────────

/** The Applications, as `namespace/name` sorted, whose `spec.destination.cluster` is `name`. */
export function applicationsDeployingTo(applications: readonly KubeObject[], name: string): string[] {
  return applications
    .filter((app) => {
      const spec = (app as { spec?: { destination?: { cluster?: unknown } } }).spec;
      return spec?.destination?.cluster === name;
    })
    .map((app) => `${app.metadata.namespace ?? ''}/${app.metadata.name ?? ''}`)
    .sort();
}

/**
 * The cluster-in-use rule: a registered cluster is not removed while Applications deploy to it (they
 * would stall, and one being deleted could not prune its objects), nor when it cannot be told whether
 * any do (`unknown`: why the Applications could not be listed). The refusal, or undefined when it may go.
 */
export function clusterRemovalRefusal(
  name: string,
  found: { readonly users: readonly string[] } | { readonly unknown: string },
): CapstanError | undefined {
  const subject = `cluster/${name}`;
  if ('unknown' in found)
    return new CapstanError(
      'CLUSTER_USERS_UNKNOWN',
      `cannot tell whether Applications deploy to cluster '${name}': ${found.unknown}; ` +
        'run it as a user who may list Applications in every namespace, or pass --force (any that ' +
        'deploy there stall until the cluster is registered again)',
      { subject },
    );
  const { users } = found;
  if (users.length === 0) return undefined;
  const more = users.length > 5 ? `, and ${String(users.length - 5)} more` : '';
  return new CapstanError(
    'CLUSTER_IN_USE',
    `cluster '${name}' is the destination of ${String(users.length)} Application(s): ` +
      `${users.slice(0, 5).join(', ')}${more}; ` +
      'delete them or change their spec.destination.cluster first, or pass --force (they stall until ' +
      'the cluster is registered again, and one being deleted cannot prune its objects)',
    { subject },
  );
}
