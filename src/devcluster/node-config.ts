import { join } from 'node:path';

/**
 * Addresses of the real node's network namespace. Every non-loopback address of the dev cluster lives
 * there: the node's own address (on a dummy interface), the pods' bridge and the pods. The machine's
 * own namespace keeps only its loopback; the forwarder joins the two (see docs/real-node.md).
 */
export const NODE_NETWORK = {
  /** The node's InternalIP, on the namespace's loopback interface. */
  nodeAddress: '10.200.0.1',
  /** The pods' addresses, handed out by the CNI host-local plugin on the bridge `cni0`. */
  podCidr: '10.201.0.0/24',
  podGateway: '10.201.0.1',
  bridge: 'cni0',
  /** The cluster's Service range (kube-apiserver's --service-cluster-ip-range). */
  serviceCidr: '10.96.0.0/16',
  /** The ranges the API server's egress proxy may reach inside the namespace. */
  insideCidrs: ['10.200.0.0/24', '10.201.0.0/24'],
} as const;

/** The name of the node object and the marks that keep pods off it unless they ask. */
export const REAL_NODE = {
  name: 'real-node-0',
  label: 'capstan.dev/node',
  labelValue: 'real',
  taintKey: 'capstan.dev/real-node',
} as const;

/** The registry name of the images imported into the node's containerd: none answers to it. */
export const LOCAL_IMAGE_REGISTRY = 'capstan.local';

/** Images built on this machine and imported into the node's containerd (no outside registry). */
export const LOCAL_IMAGES = {
  pause: 'capstan.local/pause:1',
  busybox: 'capstan.local/busybox:1',
} as const;

/** Where one cluster's real node keeps its files: a folder in the cluster folder and a short one under /run. */
export interface NodePaths {
  readonly root: string;
  readonly config: string;
  readonly containerdRoot: string;
  readonly kubeletRoot: string;
  readonly logs: string;
  readonly podLogs: string;
  readonly cniConf: string;
  readonly cniState: string;
  readonly registryHosts: string;
  readonly images: string;
  readonly sysctls: string;
  /** The volumes of the default StorageClass, one folder each (local-volumes.ts). */
  readonly volumes: string;
  /** Short paths (unix sockets are limited to 108 bytes). */
  readonly run: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly shimState: string;
  readonly podNetns: string;
  readonly mountNamespaces: string;
  readonly mountNamespace: string;
  readonly egressSocket: string;
}

export function nodePaths(clusterRoot: string, clusterName: string): NodePaths {
  const root = join(clusterRoot, 'node');
  const run = join('/run/capstan', clusterName);
  return {
    root,
    config: join(root, 'config'),
    containerdRoot: join(root, 'containerd'),
    kubeletRoot: join(root, 'kubelet'),
    logs: join(root, 'logs'),
    podLogs: join(root, 'var-log'),
    cniConf: join(root, 'cni'),
    cniState: join(root, 'cni-state'),
    registryHosts: join(root, 'certs.d'),
    images: join(root, 'images'),
    sysctls: join(root, 'sysctls'),
    volumes: join(root, 'volumes'),
    run,
    containerdState: join(run, 'containerd'),
    containerdSocket: join(run, 'containerd', 'containerd.sock'),
    shimState: join(run, 'shim'),
    podNetns: join(run, 'netns'),
    mountNamespaces: join(run, 'ns'),
    mountNamespace: join(run, 'ns', 'mnt'),
    egressSocket: join(run, 'egress.sock'),
  };
}

/** The network namespace of a cluster's real node (`ip netns` name). */
export function netnsName(clusterName: string): string {
  return `capstan-${clusterName}`;
}

/** The cgroup under which the kubelet puts every pod (one per cluster, in each v1 hierarchy). */
export function cgroupRoot(clusterName: string): string {
  return `/capstan-${clusterName}`;
}

/**
 * The kernel settings the kubelet insists on. It would write them to the machine's kernel; instead it
 * runs with protectKernelDefaults (read only) in a mount namespace of its own where these files are
 * bind-mounted over /proc/sys, so the machine's settings stay as they are.
 */
export const KUBELET_SYSCTLS: Readonly<Record<string, string>> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

/** containerd 2's configuration: its own root, state and socket, runc from Debian, the local pause image. */
export function containerdConfig(paths: NodePaths, options: { runc: string; cniBin: string }): string {
  const q = JSON.stringify;
  return `version = 3
root = ${q(paths.containerdRoot)}
state = ${q(paths.containerdState)}
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${q(paths.containerdSocket)}

[ttrpc]
  address = ${q(`${paths.containerdSocket}.ttrpc`)}

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(paths.containerdRoot, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  # Processes here may lack CAP_SYS_RESOURCE (lowering oom_score_adj fails, and with it runc's
  # start of the sandbox at -998): keep every container at or above containerd's own score.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = ${q(options.runc)}
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [${q(options.cniBin)}]
    conf_dir = ${q(paths.cniConf)}
    max_conf_num = 1

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = ${q(LOCAL_IMAGES.pause)}
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = ${q(paths.registryHosts)}
`;
}

/** The pods' network: a bridge inside the node namespace, host-local addresses, no masquerade. */
export function cniConfig(paths: NodePaths): string {
  return (
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'capstan',
        plugins: [
          {
            type: 'bridge',
            bridge: NODE_NETWORK.bridge,
            isGateway: true,
            isDefaultGateway: true,
            // Nothing leaves the namespace, so nothing is masqueraded.
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              dataDir: paths.cniState,
              ranges: [[{ subnet: NODE_NETWORK.podCidr, gateway: NODE_NETWORK.podGateway }]],
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ) + '\n'
  );
}

export interface KubeletConfigOptions {
  readonly clusterName: string;
  readonly caFile: string;
  readonly port: number;
  readonly resolvConf: string;
  /** The cluster DNS addresses pods get as name servers (dnsPolicy ClusterFirst). */
  readonly clusterDns: readonly string[];
}

/** The kubelet's configuration: cgroup v1 through cgroupfs, its own cgroup root, ports and folders. */
export function kubeletConfig(paths: NodePaths, options: KubeletConfigOptions): string {
  return (
    JSON.stringify(
      {
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        failCgroupV1: false,
        cgroupDriver: 'cgroupfs',
        cgroupRoot: cgroupRoot(options.clusterName),
        containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
        address: NODE_NETWORK.nodeAddress,
        port: options.port,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: 10248,
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: false },
          x509: { clientCAFile: options.caFile },
        },
        authorization: { mode: 'AlwaysAllow' },
        failSwapOn: false,
        protectKernelDefaults: true,
        resolvConf: options.resolvConf,
        podLogsDir: join(paths.podLogs, 'pods'),
        clusterDomain: 'cluster.local',
        clusterDNS: options.clusterDns,
        maxPods: 40,
        serializeImagePulls: false,
        imageGCHighThresholdPercent: 99,
        imageGCLowThresholdPercent: 98,
        // The images imported from this machine (capstan.local/…) have no registry: the kubelet must never
        // re-pull them to check a pod's credentials. By default (KubeletEnsureSecretPulledImages, on since
        // 1.35) an image that the kubelet once pulled with a Secret is checked for every pod: busybox
        // pushed to the cluster registry has the imported one's image ID, so after one pull of it with a
        // pull Secret, pods of capstan.local/busybox:1 (IfNotPresent, no Secret) went to ErrImagePull.
        imagePullCredentialsVerificationPolicy: 'NeverVerifyAllowlistedImages',
        preloadedImagesVerificationAllowlist: [`${LOCAL_IMAGE_REGISTRY}/*`],
        evictionHard: {
          'memory.available': '100Mi',
          'nodefs.available': '1%',
          'imagefs.available': '1%',
          'nodefs.inodesFree': '1%',
        },
        registerWithTaints: [{ key: REAL_NODE.taintKey, value: 'true', effect: 'NoSchedule' }],
        nodeStatusReportFrequency: '10s',
        syncFrequency: '10s',
        fileCheckFrequency: '10s',
        shutdownGracePeriod: '0s',
        logging: { format: 'text', verbosity: 1 },
      },
      null,
      2,
    ) + '\n'
  );
}

/** kube-proxy in iptables mode, inside the node namespace, leaving the kernel's conntrack settings alone. */
export function kubeProxyConfig(options: { kubeconfig: string }): string {
  return (
    JSON.stringify(
      {
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: options.kubeconfig },
        mode: 'iptables',
        hostnameOverride: REAL_NODE.name,
        bindAddress: NODE_NETWORK.nodeAddress,
        clusterCIDR: NODE_NETWORK.podCidr,
        healthzBindAddress: '127.0.0.1:10256',
        metricsBindAddress: '127.0.0.1:10249',
        nodePortAddresses: [`${NODE_NETWORK.nodeAddress}/32`],
        conntrack: {
          maxPerCore: 0,
          min: 0,
          tcpEstablishedTimeout: '0s',
          tcpCloseWaitTimeout: '0s',
          udpTimeout: '0s',
          udpStreamTimeout: '0s',
        },
        logging: { format: 'text', verbosity: 1 },
      },
      null,
      2,
    ) + '\n'
  );
}

/** The API server's egress to the cluster (kubelet logs, exec, port-forward) goes through the forwarder. */
export function egressSelectorConfig(socket: string): string {
  return (
    JSON.stringify(
      {
        apiVersion: 'apiserver.k8s.io/v1beta1',
        kind: 'EgressSelectorConfiguration',
        egressSelections: [
          {
            name: 'cluster',
            connection: { proxyProtocol: 'HTTPConnect', transport: { uds: { udsName: socket } } },
          },
        ],
      },
      null,
      2,
    ) + '\n'
  );
}
