// The dev cluster's real node (`capstan dev-cluster up --real-node`): pods run as real processes under
// cgroup limits, kubectl logs / exec / port-forward work through the API server, a ClusterIP Service
// answers from another pod, the network stays inside the node's namespace, and `down` removes every
// process, mount, namespace and cgroup. Node tier: needs root; run on its own cluster
// (CAPSTAN_NODE_TEST_CLUSTER, default capstan-node-test), which the last test removes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { CapstanError } from '../../src/core/errors.ts';
import { attach, down, up, type LocalCluster } from '../../src/devcluster/cluster.ts';
import { run } from '../../src/devcluster/exec.ts';
import { LOCAL_VOLUMES } from '../../src/devcluster/local-volumes.ts';
import { clustersRoot } from '../../src/devcluster/layout.ts';
import { cgroupRoot, LOCAL_IMAGES, NODE_NETWORK, netnsName } from '../../src/devcluster/node-config.ts';
import { publishBaseImages, type PublishedBaseImages } from '../../src/devcluster/base-images.ts';
import { findTool } from '../../src/adapters/render/tools.ts';
import { buildCapstanImage } from '../../src/devcluster/capstan-image.ts';
import { buildAndPush, buildkitPaths } from '../../src/devcluster/buildkit.ts';
import { pushArchive, registryPassword } from '../../src/devcluster/registry.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { kubeClients, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { kubectl, nodeTestClusterName, onRealNode, realNodeCluster } from '../../src/testing/real-node.ts';

let cluster: LocalCluster;
let kube: KubeClients;
let namespace = '';
let machineAddressesBefore: string[];
/** Paths of the machine that containerd, its shims, CNI and the kubelet use by default: none may appear. */
const MACHINE_PATHS = [
  '/run/containerd',
  '/var/lib/kubelet',
  '/var/lib/cni',
  '/var/log/pods',
  '/var/log/containers',
  '/etc/cni/net.d',
  '/opt/cni',
  '/run/runc',
  '/run/buildkit',
  '/var/lib/buildkit',
];
let machinePathsBefore: string[];
/** The machine's own network interfaces (names) when the file starts: a node adds none, and down leaves none. */
let machineLinksBefore: string[];
let images: PublishedBaseImages | undefined;

/** The names of the machine's own network interfaces. */
async function machineLinks(): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
  return stdout
    .trim()
    .split('\n')
    .map((line) => (line.split(': ')[1] ?? '').split('@')[0] ?? '')
    .sort();
}

/** The machine's own interfaces and their addresses, one `name address` line each. */
async function machineAddresses(): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'addr', 'show']);
  return stdout
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/))
    .map((f) => `${f[1] ?? ''} ${f[3] ?? ''}`)
    .sort();
}

function inNodeNetns(args: readonly string[]): Promise<string> {
  return run('ip', ['netns', 'exec', netnsName(cluster.name), ...args]).then((r) => r.stdout);
}

async function createPod(name: string, spec: k8s.V1PodSpec): Promise<k8s.V1Pod> {
  await kube.core.createNamespacedPod({
    namespace,
    body: { metadata: { name, labels: { app: name } }, spec: onRealNode(spec) },
  });
  return eventually(
    async () => {
      const pod = await kube.core.readNamespacedPod({ namespace, name });
      const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return ready === true ? pod : false;
    },
    { what: `pod ${namespace}/${name} Ready on the real node`, timeoutMs: 60_000, intervalMs: 250 },
  );
}

const busybox = (name: string, script: string, extra: Partial<k8s.V1Container> = {}): k8s.V1Container => ({
  name,
  image: LOCAL_IMAGES.busybox,
  imagePullPolicy: 'IfNotPresent',
  command: ['/bin/sh', '-c', script],
  ...extra,
});

before(async () => {
  // The machine's addresses before the node exists (when this file starts the cluster itself).
  const running = await attach(nodeTestClusterName());
  machineAddressesBefore = running?.state.realNode ? [] : await machineAddresses();
  machineLinksBefore = await machineLinks();
  // (A running node's mount targets are its own: down removes them.)
  const ownTargets = running?.state.realNode?.createdDirs ?? [];
  machinePathsBefore = MACHINE_PATHS.filter((p) => existsSync(p) && !ownTargets.includes(p));
  cluster = await realNodeCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  namespace = `node-t-${randomBytes(3).toString('hex')}`;
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
});

after(async () => {
  // (Nothing to delete when the cluster did not come up: the before hook's error is the one to read.)
  if (namespace !== '') await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe('a real node in the dev cluster', () => {
  it('runs a pod as real processes under its cgroup limits, and kubectl logs reads its output', async () => {
    const pod = await createPod('hello', {
      containers: [
        busybox(
          'main',
          'echo "hello from $(hostname)"; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exec sleep 3600',
          {
            resources: { limits: { memory: '64Mi', cpu: '200m' }, requests: { memory: '32Mi', cpu: '50m' } },
          },
        ),
      ],
    });
    assert.equal(pod.spec?.nodeName, 'real-node-0');
    assert.match(pod.status?.podIP ?? '', /^10\.201\.0\.\d+$/, 'the pod has an address of the pods’ range');
    const logs = await eventually(
      async () => {
        const out = await kubectl(cluster, ['logs', '-n', namespace, 'hello']);
        return out.includes('hello from hello') ? out : false;
      },
      { what: 'the pod’s output through kubectl logs' },
    );
    assert.match(logs, /^67108864$/m, 'the container sees its 64 MiB memory limit');
    // The limit is the kernel's: the pod's cgroup lives under the cluster's own cgroup root.
    const podCgroup = join(
      '/sys/fs/cgroup/memory',
      cgroupRoot(cluster.name),
      'kubepods',
      'burstable',
      `pod${pod.metadata?.uid ?? ''}`,
    );
    assert.ok(existsSync(podCgroup), `${podCgroup} exists`);
    assert.equal(readFileSync(join(podCgroup, 'memory.limit_in_bytes'), 'utf8').trim(), '67108864');
    // The CPU limit too: 200m is 20 ms of every 100 ms period (CFS quota) in the pod's cpu cgroup.
    const cpuCgroup = podCgroup.replace('/sys/fs/cgroup/memory/', '/sys/fs/cgroup/cpu/');
    assert.equal(readFileSync(join(cpuCgroup, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
    assert.equal(readFileSync(join(cpuCgroup, 'cpu.cfs_quota_us'), 'utf8').trim(), '20000');
  });

  it('kubectl exec runs a command in the running container', async () => {
    const out = await kubectl(cluster, [
      'exec',
      '-n',
      namespace,
      'hello',
      '--',
      'sh',
      '-c',
      'echo $((6 * 7)); cat /proc/1/comm',
    ]);
    assert.deepEqual(out.trim().split('\n'), ['42', 'sleep']);
  });

  it('a ClusterIP Service answers from another pod, with a real readiness probe, and port-forward reaches the pod', async () => {
    await createPod('web', {
      containers: [
        busybox(
          'httpd',
          'mkdir -p /www && echo "web answers" > /www/index.html && exec httpd -f -p 8080 -h /www',
          {
            ports: [{ containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
          },
        ),
      ],
    });
    const service = await kube.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    const clusterIP = service.spec?.clusterIP ?? '';
    assert.match(clusterIP, /^10\.96\./);
    const answer = await eventually(
      () =>
        kubectl(cluster, [
          'exec',
          '-n',
          namespace,
          'hello',
          '--',
          'wget',
          '-q',
          '-O',
          '-',
          // (busybox-static 1.35's wget crashes with -T; kubectl's own time limit bounds the call)
          `http://${clusterIP}/`,
        ]),
      { what: `the Service web (${clusterIP}:80) from the pod hello`, timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(answer.trim(), 'web answers');

    const forward = spawn(
      `${cluster.state.binDir}/kubectl`,
      ['--kubeconfig', cluster.adminKubeconfig, 'port-forward', '-n', namespace, 'pod/web', ':8080'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        forward.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        forward.on('close', (code) => {
          reject(new Error(`kubectl port-forward exited (${String(code)}): ${out}`));
        });
      });
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
      assert.equal((await res.text()).trim(), 'web answers');
    } finally {
      forward.kill('SIGTERM');
    }
  });

  it('dev-cluster expose pod/NAME PORT: each replica at an address of its own on the machine, by port number or name; a pod it cannot reach is refused with the reason', async () => {
    const replica = (name: string) =>
      createPod(name, {
        containers: [
          busybox(
            'httpd',
            `mkdir -p /www && echo "${name} answers" > /www/index.html && exec httpd -f -p 8080 -h /www`,
            {
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
            },
          ),
        ],
      });
    await Promise.all([replica('rep-a'), replica('rep-b')]);
    const expose = (...args: string[]) =>
      runCapstan(['dev-cluster', 'expose', ...args, '-n', namespace, '--name', cluster.name]);
    const a = await expose('pod/rep-a', '8080');
    assert.equal(a.code, 0, a.stderr);
    const b = await expose('pod/rep-b', 'http');
    assert.equal(b.code, 0, b.stderr);
    const [addressA, addressB] = [a.stdout.trim(), b.stdout.trim()];
    assert.match(addressA, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(addressA, addressB);
    for (const [address, name] of [
      [addressA, 'rep-a'],
      [addressB, 'rep-b'],
    ] as const)
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(10_000) });
        assert.equal((await res.text()).trim(), `${name} answers`, `${address} is ${name}, every time`);
      }
    // Asked again: the same address (the forwarder runs on).
    const again = await expose('pod/rep-a', '8080');
    assert.equal(again.stdout.trim(), addressA);
    const missing = await expose('pod/nothing-here', '8080');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, new RegExp(`Pod/${namespace}/nothing-here does not exist`));
    const badPort = await expose('pod/rep-a', 'grpc');
    assert.notEqual(badPort.code, 0);
    assert.match(badPort.stderr, /has no container port named 'grpc'/);
    const usage = await expose('deployment/web', '8080');
    assert.equal(usage.code, 2, usage.stderr);
  });

  it('the cluster registry serves over TLS with basic auth: skopeo reads it, the node pulls with an image pull Secret', async () => {
    const registry = cluster.state.realNode?.registry;
    assert.ok(registry, 'the cluster has a registry');
    const archive = join(cluster.state.realNode?.paths.images ?? '', 'busybox.oci.tar');
    await pushArchive({ registry, archive, repository: 'capstan/busybox', tag: '1' });
    const skopeo = (args: string[]) =>
      run('skopeo', [
        'inspect',
        '--cert-dir',
        registry.certDir,
        ...args,
        `docker://${registry.address}/capstan/busybox:1`,
      ]);
    const inspected = JSON.parse((await skopeo(['--authfile', registry.authFile])).stdout) as {
      Digest?: string;
    };
    assert.match(inspected.Digest ?? '', /^sha256:[0-9a-f]{64}$/);
    await assert.rejects(
      skopeo(['--no-creds']),
      /unauthorized|authentication required/i,
      'no credentials, no image',
    );
    // For Pods (their 127.0.0.1 is their own) it answers at the node's address: the forwarder listens
    // there inside the node namespace, and the certificate names it (TLS verified against that
    // address). Checked here from the namespace; pipeline-server.node.test.ts's server Pod uses it.
    const podAddress = registry.podAddress;
    assert.equal(podAddress, `${NODE_NETWORK.nodeAddress}:${String(registry.port)}`);
    const podAuth = join(cluster.state.realNode?.paths.images ?? '', 'pod-address-auth.json');
    const credentials = Buffer.from(`${registry.username}:${registryPassword(registry)}`).toString('base64');
    await writeFile(podAuth, JSON.stringify({ auths: { [podAddress]: { auth: credentials } } }), {
      mode: 0o600,
    });
    const atPodAddress = JSON.parse(
      await inNodeNetns([
        'skopeo',
        'inspect',
        '--cert-dir',
        registry.certDir,
        '--authfile',
        podAuth,
        `docker://${podAddress}/capstan/busybox:1`,
      ]),
    ) as { Digest?: string };
    assert.equal(atPodAddress.Digest, inspected.Digest);

    const auth = Buffer.from(`${registry.username}:${registryPassword(registry)}`).toString('base64');
    await kube.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'registry' },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [registry.address]: { auth } } }) },
      },
    });
    const image = `${registry.address}/capstan/busybox:1`;
    const pulled = await createPod('pulled', {
      imagePullSecrets: [{ name: 'registry' }],
      containers: [
        busybox('main', 'echo pulled from the registry; exec sleep 3600', {
          image,
          imagePullPolicy: 'Always',
        }),
      ],
    });
    assert.equal(
      pulled.status?.containerStatuses?.[0]?.imageID,
      `${registry.address}/capstan/busybox@${inspected.Digest ?? ''}`,
    );
  });

  it('BuildKit builds a Dockerfile FROM the registry (a build argument), pushes by digest, reproducibly, and the image runs', async () => {
    const node = cluster.state.realNode;
    const registry = node?.registry;
    assert.ok(node && registry);
    const context = join(node.paths.images, 'hello-context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'greeting.txt'), 'hello\n');
    await writeFile(
      join(context, 'Dockerfile'),
      [
        'ARG BASE',
        'FROM ${BASE}',
        'COPY greeting.txt /greeting.txt',
        'RUN echo "built by buildkit: $(cat /greeting.txt)" > /built.txt',
        'ENTRYPOINT ["/bin/cat", "/built.txt"]',
        '',
      ].join('\n'),
    );
    const build = (noCache: boolean) =>
      buildAndPush({
        buildctl: join(node.buildkitBinDir, 'buildctl'),
        socket: buildkitPaths(node.paths).socket,
        registry,
        context,
        buildArgs: { BASE: `${registry.address}/capstan/busybox:1` },
        image: 'capstan/hello:1',
        workDir: join(node.paths.images, 'hello-build'),
        noCache,
      });
    const first = await build(false);
    const second = await build(true);
    assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(second.digest, first.digest, 'built again without cache: the same digest');
    await kube.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'built' },
        spec: onRealNode({
          restartPolicy: 'Never',
          imagePullSecrets: [{ name: 'registry' }],
          containers: [{ name: 'main', image: first.reference }],
        }),
      },
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedPod({ namespace, name: 'built' })).status?.phase === 'Succeeded',
      { what: 'the built image’s pod to succeed', timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal(
      (await kubectl(cluster, ['logs', '-n', namespace, 'built'])).trim(),
      'built by buildkit: hello',
    );
  });

  it('a build whose step fails is an error naming the image, the context and the failing step, and pushes nothing', async () => {
    const node = cluster.state.realNode;
    const registry = node?.registry;
    assert.ok(node && registry);
    const context = join(node.paths.images, 'failing-context');
    await mkdir(context, { recursive: true });
    await writeFile(
      join(context, 'Dockerfile'),
      ['ARG BASE', 'FROM ${BASE}', 'RUN echo about to fail && exit 7', ''].join('\n'),
    );
    await assert.rejects(
      buildAndPush({
        buildctl: join(node.buildkitBinDir, 'buildctl'),
        socket: buildkitPaths(node.paths).socket,
        registry,
        context,
        buildArgs: { BASE: `${registry.address}/capstan/busybox:1` },
        image: 'capstan/failing:1',
        workDir: join(node.paths.images, 'failing-build'),
      }),
      (error: unknown) =>
        error instanceof CapstanError &&
        error.code === 'IMAGE_BUILD_FAILED' &&
        error.message.includes(`${registry.address}/capstan/failing:1`) &&
        error.message.includes(context) &&
        /exit 7|exit code: 7/.test(error.message),
    );
    // Nothing was pushed: the registry does not know the repository.
    const auth = Buffer.from(`${registry.username}:${registryPassword(registry)}`).toString('base64');
    const tags = await run('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--cacert',
      registry.caFile,
      '-H',
      `Authorization: Basic ${auth}`,
      `https://${registry.address}/v2/capstan/failing/tags/list`,
    ]);
    assert.equal(tags.stdout, '404');
  });

  it('base images from Debian packages: the Node.js runtime runs node and git as a non-root pod; the static base runs as non-root', async () => {
    const node = cluster.state.realNode;
    const registry = node?.registry;
    assert.ok(node && registry);
    assert.match(process.version, /^v24\./, 'the tests run the Node.js 24 binary that goes into the image');
    images = await publishBaseImages({
      registry,
      workDir: join(node.paths.images, 'base'),
      nodeBinary: process.execPath,
      progress: (line) => process.stderr.write(`[base-images] ${line}\n`),
    });
    await kube.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'node-runtime' },
        spec: onRealNode({
          restartPolicy: 'Never',
          imagePullSecrets: [{ name: 'registry' }],
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
          containers: [
            {
              name: 'main',
              image: images.nodeRuntime,
              command: ['/bin/sh', '-c', 'node -e "console.log(process.version)"; git --version; id -u'],
            },
          ],
        }),
      },
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedPod({ namespace, name: 'node-runtime' })).status?.phase ===
        'Succeeded',
      { what: 'the Node.js runtime pod to succeed', timeoutMs: 120_000, intervalMs: 500 },
    );
    const lines = (await kubectl(cluster, ['logs', '-n', namespace, 'node-runtime'])).trim().split('\n');
    assert.equal(lines[0], process.version);
    assert.match(lines[1] ?? '', /^git version 2\./);
    assert.equal(lines[2], '65532');
    const config = JSON.parse(
      (
        await run('skopeo', [
          'inspect',
          '--config',
          '--cert-dir',
          registry.certDir,
          '--authfile',
          registry.authFile,
          `docker://${images.static}`,
        ])
      ).stdout,
    ) as { config?: { User?: string; Env?: string[] } };
    assert.equal(config.config?.User, '65532:65532');
  });

  it('the project’s Dockerfile builds with BuildKit on the Node.js runtime image, without network, and the image runs as user 10001', async () => {
    const node = cluster.state.realNode;
    const registry = node?.registry;
    assert.ok(node && registry && images, 'the base images were built by the test before');
    const built = await buildCapstanImage({
      registry,
      buildctl: join(node.buildkitBinDir, 'buildctl'),
      socket: buildkitPaths(node.paths).socket,
      runtimeBase: images.nodeRuntime,
      toolsBinDir: cluster.state.binDir,
      jsonnetBinary: await findTool('jsonnet'),
      confineBinary: await findTool('confine'),
      workDir: join(node.paths.images, 'capstan'),
      progress: (line) => process.stderr.write(`[capstan-image] ${line}\n`),
    });
    assert.match(built.reference, /\/capstan\/capstan@sha256:[0-9a-f]{64}$/);
    await kube.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'capstan-cli' },
        spec: onRealNode({
          restartPolicy: 'Never',
          imagePullSecrets: [{ name: 'registry' }],
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 },
          containers: [
            {
              name: 'main',
              image: built.reference,
              args: ['--help'],
              securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
            },
          ],
        }),
      },
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedPod({ namespace, name: 'capstan-cli' })).status?.phase === 'Succeeded',
      { what: 'capstan --help in the built image', timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.match(await kubectl(cluster, ['logs', '-n', namespace, 'capstan-cli']), /Usage: capstan/);
  });

  it('an image the registry does not have, or may not give, leaves the pod in ErrImagePull / ImagePullBackOff', async () => {
    const registry = cluster.state.realNode?.registry;
    assert.ok(registry);
    const cases: [string, k8s.V1PodSpec][] = [
      [
        'missing',
        {
          imagePullSecrets: [{ name: 'registry' }],
          containers: [busybox('main', 'true', { image: `${registry.address}/capstan/nothing-here:1` })],
        },
      ],
      [
        'no-secret',
        {
          containers: [
            busybox('main', 'true', {
              image: `${registry.address}/capstan/busybox:1`,
              imagePullPolicy: 'Always',
            }),
          ],
        },
      ],
    ];
    for (const [name, spec] of cases)
      await kube.core.createNamespacedPod({
        namespace,
        body: { metadata: { name }, spec: onRealNode(spec) },
      });
    for (const [name] of cases) {
      const reason = await eventually(
        async () => {
          const pod = await kube.core.readNamespacedPod({ namespace, name });
          const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
          return waiting === 'ErrImagePull' || waiting === 'ImagePullBackOff' ? waiting : false;
        },
        { what: `pod ${name} waiting on its image`, timeoutMs: 60_000, intervalMs: 250 },
      );
      assert.match(reason, /^(ErrImagePull|ImagePullBackOff)$/);
    }
  });

  it('refuses a push without valid credentials, and a second up of the same cluster, leaving the node running', async () => {
    const registry = cluster.state.realNode?.registry;
    assert.ok(registry);
    const badAuth = join(cluster.state.realNode?.paths.images ?? '', 'bad-auth.json');
    await writeFile(
      badAuth,
      JSON.stringify({
        auths: { [registry.address]: { auth: Buffer.from('capstan:wrong').toString('base64') } },
      }),
    );
    await assert.rejects(
      pushArchive({
        registry: { ...registry, authFile: badAuth },
        archive: join(cluster.state.realNode?.paths.images ?? '', 'busybox.oci.tar'),
        repository: 'capstan/refused',
        tag: '1',
      }),
      (error: unknown) =>
        error instanceof CapstanError &&
        error.code === 'REGISTRY_PUSH_FAILED' &&
        /capstan\/refused:1/.test(error.message),
    );
    await assert.rejects(
      up({ name: cluster.name, realNode: true }),
      (error: unknown) => error instanceof CapstanError && error.code === 'DEVCLUSTER_ALREADY_RUNNING',
    );
    const node = await kube.core.readNode({ name: 'real-node-0' });
    assert.ok(
      node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      'the node is still Ready',
    );
    assert.equal(
      (await kubectl(cluster, ['exec', '-n', namespace, 'hello', '--', 'echo', 'still here'])).trim(),
      'still here',
    );
  });

  it('a NodePort Service answers on the machine’s loopback through a forwarder into the node namespace', async () => {
    const service = await kube.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: 'web-nodeport' },
        spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    const nodePort = service.spec?.ports?.[0]?.nodePort ?? 0;
    assert.ok(nodePort >= 30000, `a NodePort was allocated: ${String(nodePort)}`);
    const address = await cluster.exposeNodePort(nodePort);
    assert.match(address, /^127\.0\.0\.1:\d+$/);
    assert.equal(await cluster.exposeNodePort(nodePort), address, 'one forwarder per NodePort');
    const answer = await eventually(
      async () => (await fetch(`http://${address}/`, { signal: AbortSignal.timeout(5000) })).text(),
      { what: `NodePort ${String(nodePort)} through ${address}`, timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(answer.trim(), 'web answers');
    // From another pod too: the node's address and the NodePort, as a client inside the cluster reaches it.
    const fromPod = await eventually(
      () =>
        kubectl(cluster, [
          'exec',
          '-n',
          namespace,
          'hello',
          '--',
          'wget',
          '-q',
          '-O',
          '-',
          `http://${NODE_NETWORK.nodeAddress}:${String(nodePort)}/`,
        ]),
      { what: `NodePort ${String(nodePort)} from the pod hello`, timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(fromPod.trim(), 'web answers');
  });

  it('the registry stopped and started again: the node pulls from it as before', async () => {
    const registry = cluster.state.realNode?.registry;
    assert.ok(registry);
    await cluster.restartRegistry();
    const pod = await createPod('pulled-again', {
      imagePullSecrets: [{ name: 'registry' }],
      containers: [
        busybox('main', 'echo pulled after the restart; exec sleep 3600', {
          image: `${registry.address}/capstan/busybox:1`,
          imagePullPolicy: 'Always',
        }),
      ],
    });
    assert.match(pod.status?.containerStatuses?.[0]?.imageID ?? '', /capstan\/busybox@sha256:/);
  });

  it('a claim gets a volume of the default StorageClass, a folder of the node: a non-root pod writes it with its fsGroup, the next pod reads it, and the claim deleted removes both', async () => {
    const node = cluster.state.realNode;
    assert.ok(node);
    // No class named: the cluster's default (the provisioner's), bound once a pod uses the claim.
    await kube.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: 'data' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
    const podSpec = (script: string): k8s.V1PodSpec => ({
      securityContext: { runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, runAsNonRoot: true },
      containers: [busybox('main', script, { volumeMounts: [{ name: 'data', mountPath: '/data' }] })],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    });
    await createPod('writer', podSpec('echo kept > /data/file; exec sleep 3600'));
    const claim = await kube.core.readNamespacedPersistentVolumeClaim({ namespace, name: 'data' });
    assert.equal(claim.spec?.storageClassName, LOCAL_VOLUMES.storageClass);
    assert.equal(claim.status?.phase, 'Bound');
    const volumeName = claim.spec.volumeName ?? '';
    const volume = await kube.core.readPersistentVolume({ name: volumeName });
    const folder = join(node.paths.volumes, volumeName);
    assert.equal(volume.spec?.local?.path, folder);
    assert.equal(volume.spec.persistentVolumeReclaimPolicy, 'Delete');
    // The pod's file is in the node's folder on the machine: its user's, the group its fsGroup.
    const file = join(folder, 'file');
    await eventually(() => Promise.resolve(existsSync(file) && readFileSync(file, 'utf8') === 'kept\n'), {
      what: `${file} written by the pod`,
    });
    assert.deepEqual([statSync(file).uid, statSync(file).gid], [10001, 10001]);
    await kube.core.deleteNamespacedPod({ namespace, name: 'writer', gracePeriodSeconds: 0 });
    await eventually(
      async () =>
        !(await kube.core.listNamespacedPod({ namespace })).items.some((p) => p.metadata?.name === 'writer'),
      { what: 'the writer pod gone' },
    );
    await createPod('reader', podSpec('cat /data/file; exec sleep 3600'));
    await eventually(
      async () => (await kubectl(cluster, ['logs', '-n', namespace, 'reader'])).includes('kept'),
      {
        what: 'the reader pod printing what the writer wrote',
      },
    );
    await kube.core.deleteNamespacedPod({ namespace, name: 'reader', gracePeriodSeconds: 0 });
    await kube.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: 'data' });
    await eventually(
      async () =>
        !existsSync(folder) &&
        !(await kube.core.listPersistentVolume()).items.some((v) => v.metadata?.name === volumeName),
      { what: `PersistentVolume/${volumeName} and its folder removed`, timeoutMs: 60_000 },
    );
  });

  it('keeps every address inside the node namespace: no default route, no masquerade out, the machine unchanged', async () => {
    const now = await machineAddresses();
    if (machineAddressesBefore.length > 0)
      assert.deepEqual(now, machineAddressesBefore, 'the machine’s interfaces and addresses are as before');
    for (const line of now) {
      assert.doesNotMatch(line, /\b10\.20[01]\./, `the machine has no node or pod address: ${line}`);
      assert.doesNotMatch(line, /^(cni0|veth)/, `the machine has no bridge or pod interface: ${line}`);
    }
    const routes = await inNodeNetns(['ip', 'route', 'show']);
    assert.doesNotMatch(routes, /^default/m, `no default route in the node namespace:\n${routes}`);
    assert.match(routes, new RegExp(`^${NODE_NETWORK.podCidr.replace(/\./g, '\\.')} dev cni0`, 'm'));
    const links = await inNodeNetns(['ip', '-o', 'link', 'show']);
    for (const line of links.trim().split('\n')) {
      const name = (line.split(': ')[1] ?? '').split('@')[0] ?? '';
      assert.ok(
        name === 'lo' || name === 'cni0' || name.startsWith('veth'),
        `only loopback, the bridge and pod links: ${name}`,
      );
    }
    // The pods' veths attach to the bridge; their other ends are in the pods' namespaces.
    const bridged = await inNodeNetns(['ip', '-o', 'link', 'show', 'master', 'cni0']);
    assert.equal(bridged.trim().split('\n').length, links.trim().split('\n').length - 2);
    // kube-proxy's MASQUERADE serves hairpin traffic inside (pod → Service → same pod): its chain
    // returns at once for packets it did not mark, and no other chain masquerades anything.
    const nat = (await inNodeNetns(['iptables-save', '-t', 'nat'])).split('\n');
    for (const rule of nat.filter((l) => l.includes('MASQUERADE')))
      assert.match(rule, /^-A KUBE-POSTROUTING /, `only kube-proxy's hairpin chain masquerades: ${rule}`);
    const postrouting = nat.filter((l) => l.startsWith('-A KUBE-POSTROUTING '));
    assert.match(
      postrouting[0] ?? '',
      /! --mark 0x4000\/0x4000 -j RETURN/,
      'unmarked packets leave the chain first',
    );
  });

  it('down removes every process, mount, namespace and cgroup the node made', async () => {
    const state = cluster.state;
    const node = state.realNode;
    assert.ok(node);
    await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
    const namespacesBefore = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(namespacesBefore.includes(netnsName(cluster.name)), 'ip netns lists the node namespace');
    await down(cluster.name);
    assert.ok(!existsSync(join('/run/netns', netnsName(cluster.name))), 'the network namespace is gone');
    const namespacesAfter = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(!namespacesAfter.includes(netnsName(cluster.name)), 'ip netns no longer lists it');
    // Its interfaces (the pods' bridge, the veths) went with it; the machine's own are as they were.
    assert.deepEqual(await machineLinks(), machineLinksBefore, 'the machine has the interfaces it had');
    assert.ok(!existsSync(node.paths.run), `${node.paths.run} is gone`);
    assert.ok(!existsSync(node.paths.volumes), `${node.paths.volumes} (the volumes' folders) is gone`);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(
      !mounts.includes(node.paths.run) && !mounts.includes(node.paths.root),
      'no mount of the node is left',
    );
    for (const hierarchy of readdirSync('/sys/fs/cgroup'))
      assert.ok(
        !existsSync(join('/sys/fs/cgroup', hierarchy, cgroupRoot(cluster.name))),
        `no cgroup left in ${hierarchy}`,
      );
    for (const record of state.processes)
      assert.ok(
        !existsSync(`/proc/${record.pid}/exe`) || safeExe(record.pid) !== record.binary,
        `${record.name} stopped`,
      );
    // Another cluster's node may run beside this one (its own namespace, same binaries): a process is
    // this node's when its command line names this cluster (its config, socket or netns path).
    const ofThisCluster = new RegExp(`[/-]${cluster.name}(/|\\s|$)`);
    const fromNode = readdirSync('/proc').filter(
      (p) =>
        /^\d+$/.test(p) &&
        safeExe(Number(p)).startsWith(node.binDir) &&
        ofThisCluster.test(safeCmdline(Number(p))),
    );
    assert.deepEqual(fromNode, [], 'no process of the node’s programs (containerd shims included) is left');
    // The mount targets are shared by every real node on the machine: while another cluster's node
    // runs (a developer's, beside this test), they are its, and only the others are compared.
    const shared = (await anotherRealNodeRuns(cluster.name)) ? new Set(MACHINE_PATHS) : new Set<string>();
    assert.deepEqual(
      MACHINE_PATHS.filter((p) => existsSync(p) && !shared.has(p)),
      machinePathsBefore.filter((p) => !shared.has(p)),
      'no file of the node on the machine',
    );
  });
});

/** Whether the real node of another cluster runs on this machine now. */
async function anotherRealNodeRuns(own: string): Promise<boolean> {
  for (const name of readdirSync(clustersRoot())) {
    if (name === own) continue;
    const other = await attach(name).catch(() => undefined);
    if (other?.state.realNode) return true;
  }
  return false;
}

function safeCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function safeExe(pid: number): string {
  try {
    return readlinkSync(`/proc/${String(pid)}/exe`);
  } catch {
    return '';
  }
}
