/**
 * BuildKit for pipeline image steps (docs/pipelines.md, "Image steps"): one buildkitd in a namespace of
 * its own, privileged (its runc worker makes mount and PID namespaces, overlay mounts and cgroups for
 * every RUN; rootless would need user namespaces in the Pod and unconfined seccomp and AppArmor
 * profiles), with its cache on a volume that outlives the Pod, reached by the run Pods' build step over
 * mutual TLS on port 1234.
 * Nothing else runs there; the build steps themselves are unprivileged clients (buildctl).
 *
 * The TLS Secrets are made by whoever installs it (cert-manager, or `openssl` as docs/pipelines.md
 * shows; the dev cluster signs them with its CA): `buildkitd-tls` in this namespace (ca.crt, tls.crt,
 * tls.key; the certificate names BUILDKIT_SERVER_NAME) and, in each namespace whose Pipelines build
 * images, `capstan-buildkit-client` (ca.crt, tls.crt, tls.key of a client certificate by the same CA).
 */
import type { KubeObject } from '../core/resource.ts';

export const BUILDKIT_DEFAULTS = {
  namespace: 'capstan-buildkit',
  name: 'buildkitd',
  port: 1234,
  /** The Secret of buildkitd's serving certificate, in its namespace. */
  serverSecret: 'buildkitd-tls',
  /** The Secret of the build steps' client certificate, in each Pipeline's namespace. */
  clientSecret: 'capstan-buildkit-client',
  cacheSize: '20Gi',
} as const;

/** The name the serving certificate carries and the build steps check (buildctl --tlsservername). */
export function buildkitServerName(namespace: string = BUILDKIT_DEFAULTS.namespace): string {
  return `${BUILDKIT_DEFAULTS.name}.${namespace}.svc`;
}

export interface BuildkitInstallOptions {
  /** An image with buildkitd, buildctl, runc and git (the dev cluster builds `capstan/buildkit`). */
  readonly image: string;
  /** Default `capstan-buildkit`. */
  readonly namespace?: string;
  /**
   * Where the cache lives: a PersistentVolumeClaim of `size` (the default, 20Gi), or a folder of the
   * node (one-node clusters such as the dev cluster's real node).
   */
  readonly cache?: { readonly size: string } | { readonly hostPath: string };
  /**
   * Registries with a private CA, by host: buildkitd trusts that CA for them (the CA file is mounted
   * from the ConfigMap `buildkitd-registry-ca`, key `<index>.crt`).
   */
  readonly registryCAs?: readonly { readonly host: string; readonly caPem: string }[];
  /**
   * Share the node's network: the dev cluster's registry answers on the node's loopback only. Default
   * false (a Pod network, as in production).
   */
  readonly hostNetwork?: boolean;
  /** Added to the Pod (the dev cluster's real node: nodeSelector and tolerations). */
  readonly placement?: {
    readonly nodeSelector?: Record<string, string>;
    readonly tolerations?: readonly object[];
  };
  readonly imagePullSecrets?: readonly string[];
}

/** The objects: Namespace, ConfigMaps (buildkitd.toml, registry CAs), cache claim, Deployment, Service. */
export function buildkitManifests(options: BuildkitInstallOptions): KubeObject[] {
  const namespace = options.namespace ?? BUILDKIT_DEFAULTS.namespace;
  const labels = { 'app.kubernetes.io/name': BUILDKIT_DEFAULTS.name, 'app.kubernetes.io/part-of': 'capstan' };
  const cache = options.cache ?? { size: BUILDKIT_DEFAULTS.cacheSize };
  const meta = (name: string) => ({ name, namespace, labels });
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'privileged' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('buildkitd-config'),
      data: { 'buildkitd.toml': buildkitdToml(options.registryCAs ?? []) },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('buildkitd-registry-ca'),
      data: Object.fromEntries((options.registryCAs ?? []).map((r, i) => [`${i}.crt`, r.caPem])),
    },
    ...('size' in cache
      ? [
          {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            metadata: meta('buildkitd-cache'),
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: cache.size } } },
          },
        ]
      : []),
    buildkitDeployment(options, { namespace, labels, cache }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(BUILDKIT_DEFAULTS.name),
      spec: {
        selector: { 'app.kubernetes.io/name': BUILDKIT_DEFAULTS.name },
        ports: [{ name: 'grpc', port: BUILDKIT_DEFAULTS.port, targetPort: BUILDKIT_DEFAULTS.port }],
      },
    },
  ];
}

/** buildkitd's configuration: the runc worker with the network of its Pod, mTLS on TCP, registry CAs. */
export function buildkitdToml(registryCAs: readonly { readonly host: string }[]): string {
  const q = JSON.stringify;
  return [
    'root = "/var/lib/buildkit"',
    '',
    '[grpc]',
    `  address = [${q(`tcp://0.0.0.0:${BUILDKIT_DEFAULTS.port}`)}]`,
    '  [grpc.tls]',
    '    cert = "/etc/buildkit/tls/tls.crt"',
    '    key = "/etc/buildkit/tls/tls.key"',
    '    ca = "/etc/buildkit/tls/ca.crt"',
    '',
    '[worker.oci]',
    '  enabled = true',
    '  snapshotter = "overlayfs"',
    // RUN steps share the Pod's network (there is no CNI inside the Pod to give each its own).
    '  networkMode = "host"',
    '  gc = true',
    '  gckeepstorage = "10GB"',
    '',
    '[worker.containerd]',
    '  enabled = false',
    ...registryCAs.flatMap((r, i) => [
      '',
      `[registry.${q(r.host)}]`,
      '  http = false',
      `  ca = [${q(`/etc/buildkit/registry-ca/${i}.crt`)}]`,
    ]),
    '',
  ].join('\n');
}

function buildkitDeployment(
  options: BuildkitInstallOptions,
  context: {
    namespace: string;
    labels: Record<string, string>;
    cache: { size: string } | { hostPath: string };
  },
): KubeObject {
  const cacheVolume =
    'size' in context.cache
      ? { name: 'cache', persistentVolumeClaim: { claimName: 'buildkitd-cache' } }
      : { name: 'cache', hostPath: { path: context.cache.hostPath, type: 'DirectoryOrCreate' } };
  const probe = readyProbe();
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: BUILDKIT_DEFAULTS.name, namespace: context.namespace, labels: context.labels },
    spec: {
      replicas: 1,
      // One buildkitd owns the cache folder: the old Pod goes before the new one starts.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { 'app.kubernetes.io/name': BUILDKIT_DEFAULTS.name } },
      template: {
        metadata: { labels: context.labels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...(options.hostNetwork === true
            ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }
            : {}),
          ...(options.imagePullSecrets
            ? { imagePullSecrets: options.imagePullSecrets.map((name) => ({ name })) }
            : {}),
          ...(options.placement?.nodeSelector ? { nodeSelector: options.placement.nodeSelector } : {}),
          ...(options.placement?.tolerations ? { tolerations: options.placement.tolerations } : {}),
          containers: [
            {
              name: 'buildkitd',
              image: options.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['buildkitd', '--config', '/etc/buildkit/buildkitd.toml'],
              securityContext: { privileged: true },
              readinessProbe: probe,
              livenessProbe: { ...probe, initialDelaySeconds: 10, failureThreshold: 6 },
              volumeMounts: [
                { name: 'config', mountPath: '/etc/buildkit/buildkitd.toml', subPath: 'buildkitd.toml' },
                { name: 'tls', mountPath: '/etc/buildkit/tls', readOnly: true },
                { name: 'registry-ca', mountPath: '/etc/buildkit/registry-ca', readOnly: true },
                { name: 'cache', mountPath: '/var/lib/buildkit' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: 'buildkitd-config' } },
            { name: 'tls', secret: { secretName: BUILDKIT_DEFAULTS.serverSecret } },
            { name: 'registry-ca', configMap: { name: 'buildkitd-registry-ca' } },
            cacheVolume,
          ],
        },
      },
    },
  };
}

/** buildkitd listens on its port (it requires a client certificate of its CA, which the kubelet has not). */
function readyProbe(): object {
  return { tcpSocket: { port: BUILDKIT_DEFAULTS.port }, periodSeconds: 10, timeoutSeconds: 5 };
}
