import { resolve } from 'node:path';
import { runBuildScript } from './binaries.ts';
import { NODE_NETWORK } from './node-config.ts';
import { createUnlessExists, type AdminClient } from './rest.ts';

/**
 * The real node's cluster DNS: CoreDNS (built from Go modules, scripts/build-coredns.sh) runs as a
 * process inside the node's network namespace, on the node's address, like the kubelet and
 * kube-proxy. It answers for cluster.local from the API server (its kubernetes plugin, with a client
 * certificate of its own and the rights of a real cluster's CoreDNS) and for nothing else: there is no
 * upstream to forward to. The Service kube-system/kube-dns, with the kubelet's clusterDNS address and an
 * EndpointSlice naming the node's address, leads pods to it through kube-proxy, as in any cluster.
 *
 * A process rather than a pod: it needs no image (a pod would need the static base, built with
 * mmdebstrap on a machine's first `up`, minutes), it is up before the first pod starts, and `down`
 * stops it with the node's other programs.
 */

export const COREDNS_BUILD_SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'build-coredns.sh');

export const CLUSTER_DNS = {
  /** kube-dns's ClusterIP, which the kubelet writes into every pod's resolv.conf. */
  serviceIp: '10.96.0.10',
  domain: 'cluster.local',
  /** The CoreDNS client certificate's user, bound to CLUSTER_ROLE. */
  user: 'system:coredns',
  clusterRole: 'system:coredns',
} as const;

/** coredns, built from Go modules on first use (scripts/build-coredns.sh); CAPSTAN_COREDNS_BIN_DIR points at a ready folder. */
export async function ensureCorednsBinaries(
  options: { progress?: (line: string) => void } = {},
): Promise<string> {
  const given = process.env['CAPSTAN_COREDNS_BIN_DIR'];
  if (given) return given;
  return runBuildScript(
    COREDNS_BUILD_SCRIPT,
    'build-coredns',
    options.progress ? { progress: options.progress } : {},
  );
}

/** The Corefile: cluster.local and reverse zones from the API server, on the node's address only. */
export function corefile(options: { kubeconfig: string }): string {
  return `.:53 {
    bind ${NODE_NETWORK.nodeAddress}
    errors
    kubernetes ${CLUSTER_DNS.domain} in-addr.arpa ip6.arpa {
        kubeconfig ${options.kubeconfig}
        pods insecure
        ttl 30
    }
    cache 30
    loadbalance
}
`;
}

/**
 * The objects that make CoreDNS the cluster's DNS: its read rights (the ones a real cluster's CoreDNS
 * has), and kube-system/kube-dns with the clusterDNS address, its endpoint the node's address.
 */
export async function registerClusterDns(api: AdminClient): Promise<void> {
  await createUnlessExists(api, '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name: CLUSTER_DNS.clusterRole },
    rules: [
      {
        apiGroups: [''],
        resources: ['endpoints', 'services', 'pods', 'namespaces'],
        verbs: ['list', 'watch'],
      },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  });
  await createUnlessExists(api, '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: CLUSTER_DNS.clusterRole },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CLUSTER_DNS.clusterRole },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: CLUSTER_DNS.user }],
  });
  const ports = [
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
  ];
  await createUnlessExists(api, '/api/v1/namespaces/kube-system/services', {
    metadata: { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' } },
    spec: { clusterIP: CLUSTER_DNS.serviceIp, ports: ports.map((p) => ({ ...p, targetPort: 53 })) },
  });
  await createUnlessExists(api, '/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices', {
    metadata: {
      name: 'kube-dns-real-node',
      labels: {
        'kubernetes.io/service-name': 'kube-dns',
        'endpointslice.kubernetes.io/managed-by': 'capstan-dev-cluster',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [NODE_NETWORK.nodeAddress], conditions: { ready: true } }],
    ports,
  });
}
