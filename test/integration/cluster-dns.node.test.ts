// The real node's cluster DNS (CoreDNS in the node namespace, behind kube-system/kube-dns): a pod's
// resolv.conf names it with the cluster's search domains; a pod resolves a Service by its full name,
// by `name.namespace` from another namespace and by its short name, and reaches it by name; a name
// outside the cluster resolves to nothing (there is no upstream). Node tier: needs root; runs on the
// node tier's cluster (CAPSTAN_NODE_TEST_CLUSTER), which it starts when no earlier file did.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { CLUSTER_DNS } from '../../src/devcluster/cluster-dns.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { LOCAL_IMAGES } from '../../src/devcluster/node-config.ts';
import { kubeClients, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { kubectl, onRealNode, realNodeCluster } from '../../src/testing/real-node.ts';

let cluster: LocalCluster;
let kube: KubeClients;
const suffix = randomBytes(3).toString('hex');
const server = `dns-server-${suffix}`;
const client = `dns-client-${suffix}`;

const busybox = (script: string, extra: Partial<k8s.V1Container> = {}): k8s.V1Container => ({
  name: 'main',
  image: LOCAL_IMAGES.busybox,
  imagePullPolicy: 'IfNotPresent',
  command: ['/bin/sh', '-c', script],
  ...extra,
});

async function readyPod(namespace: string, name: string, container: k8s.V1Container): Promise<void> {
  await kube.core.createNamespacedPod({
    namespace,
    body: { metadata: { name, labels: { app: name } }, spec: onRealNode({ containers: [container] }) },
  });
  await eventually(
    async () => {
      const pod = await kube.core.readNamespacedPod({ namespace, name });
      return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    },
    { what: `pod ${namespace}/${name} Ready on the real node`, timeoutMs: 60_000, intervalMs: 250 },
  );
}

/** Runs a command in the client pod; kubectl's error (with the command's output) when it fails. */
const inClient = (args: readonly string[]) =>
  kubectl(cluster, ['exec', '-n', client, 'client', '--', ...args], { timeoutMs: 20_000 });

before(async () => {
  cluster = await realNodeCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  for (const name of [server, client]) await kube.core.createNamespace({ body: { metadata: { name } } });
  await readyPod(
    server,
    'web',
    busybox(
      'mkdir -p /www && echo "web answers by name" > /www/index.html && exec httpd -f -p 8080 -h /www',
      {
        ports: [{ containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
      },
    ),
  );
  await kube.core.createNamespacedService({
    namespace: server,
    body: {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  });
  await readyPod(client, 'client', busybox('exec sleep 3600'));
});

after(async () => {
  for (const name of [server, client]) await kube.core.deleteNamespace({ name }).catch(() => undefined);
});

describe('cluster DNS on the real node', () => {
  it('kube-system/kube-dns has the kubelet’s clusterDNS address, and pods’ resolv.conf names it with the search domains', async () => {
    const service = await kube.core.readNamespacedService({ namespace: 'kube-system', name: 'kube-dns' });
    assert.equal(service.spec?.clusterIP, CLUSTER_DNS.serviceIp);
    const resolvConf = await inClient(['cat', '/etc/resolv.conf']);
    assert.match(resolvConf, new RegExp(`^nameserver ${CLUSTER_DNS.serviceIp.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(
      resolvConf,
      new RegExp(`^search ${client}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local`, 'm'),
    );
  });

  it('a pod resolves a Service by its full name and reaches it by its full, namespaced and short names', async () => {
    const web = await kube.core.readNamespacedService({ namespace: server, name: 'web' });
    const clusterIP = web.spec?.clusterIP ?? '';
    assert.match(clusterIP, /^10\.96\./);
    const full = `web.${server}.svc.cluster.local`;
    const lookup = await eventually(() => inClient(['nslookup', full, CLUSTER_DNS.serviceIp]), {
      what: `${full} through ${CLUSTER_DNS.serviceIp}`,
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.match(lookup, new RegExp(`Address:\\s*${clusterIP.replaceAll('.', '\\.')}`), lookup);
    // kube-proxy programs the Service's endpoints a moment after they are ready, and until then its
    // rules reject the address ("No route to host"). Wait for that positive signal by the address, so
    // that what follows tests names only.
    await eventually(() => inClient(['wget', '-q', '-O', '-', `http://${clusterIP}/`]), {
      what: `kube-proxy forwarding ${clusterIP}:80 to the ready pod`,
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    for (const name of [full, `web.${server}`])
      assert.equal(
        (await inClient(['wget', '-q', '-O', '-', `http://${name}/`])).trim(),
        'web answers by name',
        name,
      );
    // The short name, from a pod in the Service's own namespace (the first search domain).
    await readyPod(server, 'neighbour', busybox('exec sleep 3600'));
    const short = await kubectl(
      cluster,
      ['exec', '-n', server, 'neighbour', '--', 'wget', '-q', '-O', '-', 'http://web/'],
      {
        timeoutMs: 20_000,
      },
    );
    assert.equal(short.trim(), 'web answers by name');
  });

  it('a name outside the cluster resolves to nothing: there is no upstream to ask', async () => {
    await assert.rejects(inClient(['nslookup', 'example.com', CLUSTER_DNS.serviceIp]), (error: Error) => {
      assert.doesNotMatch(error.message, /Address:\s*\d+\.\d+\.\d+\.\d+\s*$/m);
      return true;
    });
    await assert.rejects(
      inClient(['nslookup', `nothing-here.${server}.svc.cluster.local`, CLUSTER_DNS.serviceIp]),
    );
  });
});
