// The real node's configuration files: the settings that keep it inside its namespace and off the
// machine's own kernel settings, cgroups and folders.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cniConfig,
  containerdConfig,
  egressSelectorConfig,
  kubeletConfig,
  LOCAL_IMAGES,
  kubeProxyConfig,
  NODE_NETWORK,
  nodePaths,
} from '../../../src/devcluster/node-config.ts';

const paths = nodePaths('/state/clusters/dev', 'dev');

describe('real node configuration', () => {
  it('keeps unix sockets short and the node’s files in the cluster folder', () => {
    assert.equal(paths.containerdSocket, '/run/capstan/dev/containerd/containerd.sock');
    assert.ok(paths.containerdSocket.length < 108);
    assert.ok(paths.kubeletRoot.startsWith('/state/clusters/dev/node/'));
  });

  it('containerd: own root and state, Debian runc, the local pause image, no NRI, OOM scores kept', () => {
    const toml = containerdConfig(paths, { runc: '/usr/sbin/runc', cniBin: '/usr/lib/cni' });
    assert.match(toml, /^root = "\/state\/clusters\/dev\/node\/containerd"$/m);
    assert.match(toml, /^state = "\/run\/capstan\/dev\/containerd"$/m);
    assert.match(toml, /BinaryName = "\/usr\/sbin\/runc"/);
    assert.match(toml, /sandbox = "capstan\.local\/pause:1"/);
    assert.match(toml, /"io\.containerd\.nri\.v1\.nri"/);
    assert.match(toml, /restrict_oom_score_adj = true/);
    assert.match(toml, /SystemdCgroup = false/);
  });

  it('kubelet: cgroup v1 through cgroupfs under the cluster’s own root, kernel settings read only, the cluster DNS', () => {
    const config = JSON.parse(
      kubeletConfig(paths, {
        clusterName: 'dev',
        caFile: '/ca.crt',
        port: 10250,
        resolvConf: '/r',
        clusterDns: ['10.96.0.10'],
      }),
    ) as Record<string, unknown>;
    assert.deepEqual(config['clusterDNS'], ['10.96.0.10']);
    assert.equal(config['clusterDomain'], 'cluster.local');
    assert.equal(config['failCgroupV1'], false);
    assert.equal(config['cgroupDriver'], 'cgroupfs');
    assert.equal(config['cgroupRoot'], '/capstan-dev');
    assert.equal(config['protectKernelDefaults'], true);
    assert.equal(config['address'], NODE_NETWORK.nodeAddress);
    assert.deepEqual(config['authorization'], { mode: 'AlwaysAllow' });
    assert.deepEqual((config['authentication'] as { anonymous: unknown }).anonymous, { enabled: false });
    // The imported images have no registry: never re-pulled to check a pod's credentials.
    assert.equal(config['imagePullCredentialsVerificationPolicy'], 'NeverVerifyAllowlistedImages');
    assert.deepEqual(config['preloadedImagesVerificationAllowlist'], ['capstan.local/*']);
    for (const image of Object.values(LOCAL_IMAGES)) assert.ok(image.startsWith('capstan.local/'), image);
  });

  it('CNI: a bridge with host-local addresses of the pods’ range and no masquerade', () => {
    const conf = JSON.parse(cniConfig(paths)) as { plugins: Record<string, unknown>[] };
    const bridge = conf.plugins[0] ?? {};
    assert.equal(bridge['type'], 'bridge');
    assert.equal(bridge['ipMasq'], false);
    assert.deepEqual((bridge['ipam'] as { ranges: unknown }).ranges, [
      [{ subnet: NODE_NETWORK.podCidr, gateway: NODE_NETWORK.podGateway }],
    ]);
  });

  it('kube-proxy leaves the kernel’s conntrack settings alone; the API server’s egress goes to the forwarder', () => {
    const proxy = JSON.parse(kubeProxyConfig({ kubeconfig: '/k' })) as {
      conntrack: Record<string, unknown>;
      mode: string;
    };
    assert.equal(proxy.mode, 'iptables');
    assert.equal(proxy.conntrack['maxPerCore'], 0);
    const egress = JSON.parse(egressSelectorConfig('/run/x.sock')) as {
      egressSelections: { name: string; connection: { proxyProtocol: string; transport: unknown } }[];
    };
    assert.deepEqual(egress.egressSelections, [
      {
        name: 'cluster',
        connection: { proxyProtocol: 'HTTPConnect', transport: { uds: { udsName: '/run/x.sock' } } },
      },
    ]);
  });
});
