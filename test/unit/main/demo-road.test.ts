// The demo's road on the real node (src/main/demo-road.ts): hello-http's pipeline file is valid and
// tests before it builds; the Pipeline polls hello-http.git at the git server's address as Pods see
// it; the Environment follows that Pipeline's runs into hello-http/kustomization.yaml; the demo's
// server, given BuildKit, drives the runs of the demo namespace with its run Pods on the real node.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePipelineFile } from '../../../src/contracts/pipeline-file.ts';
import { validateEnvironment } from '../../../src/contracts/environment.ts';
import { SERVER_NAME } from '../../../src/contracts/install-server.ts';
import { REAL_NODE } from '../../../src/devcluster/node-config.ts';
import { demoAgentInstall } from '../../../src/main/demo-agent-pod.ts';
import { HELLO_REPOSITORY } from '../../../src/main/demo-hello.ts';
import {
  helloEnvironment,
  helloPipeline,
  helloPipelineFile,
  POD_GIT_SECRET,
  runPodFlags,
} from '../../../src/main/demo-road.ts';

const runtimeBase = '127.0.0.1:5000/capstan/node@sha256:' + 'b'.repeat(64);
const target = {
  namespace: 'capstan-demo',
  project: 'demo',
  gitAddress: '10.200.0.1:41000',
  gitPort: 41000,
  username: 'capstan',
  password: 'secret',
};

describe('the demo’s road', () => {
  it('writes a pipeline file that runs the unit test, then builds the image to the cluster registry, on pushes to main', () => {
    const text = helloPipelineFile({ runtimeBase, registry: '127.0.0.1:5000' });
    const file = parsePipelineFile(text, '.capstan/pipeline.yaml');
    assert.deepEqual(file.triggers?.push?.branches, ['main']);
    const [test, image] = file.steps;
    assert.equal(test?.name, 'test');
    assert.equal((test as { image?: string }).image, runtimeBase);
    assert.deepEqual((test as { commands?: string[] }).commands, ['node --test']);
    const { build } = image as unknown as { build: Record<string, unknown> };
    assert.equal(build['registry'], '127.0.0.1:5000');
    assert.equal(build['repository'], HELLO_REPOSITORY);
    assert.deepEqual(build['args'], { BASE_IMAGE: runtimeBase });
  });

  it('polls hello-http.git where Pods reach it, and promotes its runs by digest into hello-http’s kustomization (pushing to the server Pod’s loopback)', () => {
    const pipeline = helloPipeline(target);
    assert.deepEqual(pipeline.metadata, { name: 'hello-http', namespace: 'capstan-demo' });
    assert.equal((pipeline['spec'] as { repoURL: string }).repoURL, 'http://10.200.0.1:41000/hello-http.git');
    const env = helloEnvironment(target);
    const checked = validateEnvironment(env);
    assert.ok(checked.ok, JSON.stringify(checked));
    const spec = env['spec'] as { source: unknown; config: Record<string, unknown> };
    assert.deepEqual(spec.source, { pipeline: { name: 'hello-http', branch: 'main' } });
    assert.equal(spec.config['file'], 'hello-http/kustomization.yaml');
    assert.equal(spec.config['repoURL'], 'http://127.0.0.1:41000/demo-config.git');
    assert.equal(spec.config['kustomizeImage'], 'hello-http');
    assert.deepEqual(spec.config['credentials'], { secretRef: { name: POD_GIT_SECRET } });
  });

  it('gives the demo’s server BuildKit’s flags, the demo namespace’s runs and the run Pods’ placement', () => {
    const buildkit = { image: 'bk@sha256:' + 'c'.repeat(64), address: 'tcp://10.96.0.50:1234' };
    const objects = demoAgentInstall({
      image: 'capstan@sha256:' + 'a'.repeat(64),
      applicationNamespace: 'capstan-demo',
      allowRepositoryHost: '10.200.0.1',
      buildkit,
    });
    const server = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === SERVER_NAME);
    const args =
      (server?.['spec'] as { template: { spec: { containers: { args?: string[] }[] } } }).template.spec
        .containers[0]?.args ?? [];
    const flag = (name: string) => args[args.indexOf(name) + 1];
    assert.equal(flag('--buildkit-image'), buildkit.image);
    assert.equal(flag('--buildkit-address'), buildkit.address);
    assert.equal(flag('--run-node-selector'), `${REAL_NODE.label}=${REAL_NODE.labelValue}`);
    assert.deepEqual(args.slice(-runPodFlags().length), runPodFlags());
    // The server may start run Pods in the demo namespace.
    assert.ok(
      objects.some(
        (o) =>
          o.kind === 'RoleBinding' &&
          o.metadata.namespace === 'capstan-demo' &&
          /pipeline|run/.test(o.metadata.name ?? ''),
      ),
      objects
        .filter((o) => o.kind === 'RoleBinding')
        .map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`)
        .join(', '),
    );
    // The server Pod reaches the git server on its loopback (where git sends credentials over http).
    const forwarded = demoAgentInstall({
      image: 'x',
      applicationNamespace: 'capstan-demo',
      allowRepositoryHost: '10.200.0.1',
      gitForward: '10.200.0.1:41000',
    }).find((o) => o.kind === 'Deployment' && o.metadata.name === SERVER_NAME);
    const containers = (
      forwarded?.['spec'] as {
        template: { spec: { containers: { name: string; env?: { name: string; value: string }[] }[] } };
      }
    ).template.spec.containers;
    assert.deepEqual(
      containers.map((c) => c.name),
      ['server', 'git-forward'],
    );
    assert.deepEqual(containers[1]?.env, [
      { name: 'TARGET', value: '10.200.0.1:41000' },
      { name: 'PORT', value: '41000' },
    ]);
    // Without BuildKit, none of it.
    const plain = demoAgentInstall({
      image: 'x',
      applicationNamespace: 'capstan-demo',
      allowRepositoryHost: 'h',
    });
    const plainServer = plain.find((o) => o.kind === 'Deployment' && o.metadata.name === SERVER_NAME);
    assert.ok(!JSON.stringify(plainServer).includes('--buildkit-image'));
  });
});
