// The demo's install of the agent on the real node: install.yaml's objects with an operator's overlay
// (node selector and toleration, pull Secret, the git server's address allowed) on the agent's and the
// API server's Deployments, a Service for the agent's health port, and a ServiceAccount the
// Applications apply as.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGENT_NAME, AGENT_SELECTOR, HEALTH_PORT, installManifests } from '../../../src/contracts/install.ts';
import { SERVER_NAME } from '../../../src/contracts/install-server.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { REAL_NODE } from '../../../src/devcluster/node-config.ts';
import {
  AGENT_HEALTH_SERVICE,
  AGENT_PULL_SECRET,
  DEMO_DEPLOYER,
  demoAgentInstall,
  placeAgentOnRealNode,
  REGISTRY_CA_CONFIG_MAP,
} from '../../../src/main/demo-agent-pod.ts';
import { REGISTRY_CA_DIR, serverReachesRegistry } from '../../../src/main/registry-overlay.ts';

const image = '127.0.0.1:5000/capstan/capstan@sha256:' + 'a'.repeat(64);
type Pod = {
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: string; effect: string }[];
  imagePullSecrets?: { name: string }[];
  containers: {
    args?: string[];
    image?: string;
    env?: { name: string; value?: string }[];
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  }[];
  volumes?: { name: string; configMap?: { name: string } }[];
};
const podOf = (objects: KubeObject[], name: string) => {
  const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
  assert.ok(d, `a Deployment ${name}`);
  return (d['spec'] as { template: { spec: Pod } }).template.spec;
};

describe('placeAgentOnRealNode', () => {
  const install = installManifests({ image });
  const placed = placeAgentOnRealNode(install, { pullSecret: 'reg', allowRepositoryHost: '10.200.0.1' });

  it('places the agent’s pods on the real node with the pull Secret and the git server’s host allowed', () => {
    const pod = podOf(placed, AGENT_NAME);
    assert.equal(pod.nodeSelector?.[REAL_NODE.label], REAL_NODE.labelValue);
    assert.deepEqual(pod.tolerations, [
      { key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' },
    ]);
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'reg' }]);
    const args = pod.containers[0]?.args ?? [];
    assert.deepEqual(args.slice(-2), ['--allow-repository-host', '10.200.0.1']);
    assert.deepEqual(args.slice(0, -2), podOf(install, AGENT_NAME).containers[0]?.args);
    assert.equal(pod.containers[0]?.image, image);
  });

  it('changes no other object, and not the objects it was given', () => {
    assert.equal(placed.length, install.length);
    placed.forEach((o, i) => {
      if (!(o.kind === 'Deployment' && o.metadata.name === AGENT_NAME)) assert.equal(o, install[i]);
    });
    assert.equal(podOf(install, AGENT_NAME).nodeSelector, undefined);
  });
});

describe('demoAgentInstall', () => {
  const objects = demoAgentInstall({
    image,
    applicationNamespace: 'capstan-demo',
    allowRepositoryHost: '10.200.0.1',
  });

  it('places the API server’s Deployment on the real node too, allowed the same repository host as the agent, and http:// for promotions', () => {
    const server = objects.filter((o) => o.metadata.name === SERVER_NAME);
    assert.deepEqual(
      server.filter((o) => ['Deployment', 'Service', 'ServiceAccount'].includes(o.kind)).length,
      3,
    );
    const pod = podOf(objects, SERVER_NAME);
    assert.equal(pod.nodeSelector?.[REAL_NODE.label], REAL_NODE.labelValue);
    assert.deepEqual(pod.imagePullSecrets, [{ name: AGENT_PULL_SECRET }]);
    const args = pod.containers[0]?.args ?? [];
    assert.deepEqual(args.slice(-3), ['--allow-repository-host', '10.200.0.1', '--promotions-allow-http']);
    const installed = podOf(installManifests({ image }), SERVER_NAME).containers[0]?.args;
    assert.ok(installed?.includes('--promotions'), 'install.yaml’s server drives promotions');
    assert.deepEqual(args.slice(0, -3), installed);
  });

  it('adds a Service for the agent’s health port, selecting the agent’s pods', () => {
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === AGENT_HEALTH_SERVICE);
    const spec = service?.['spec'] as {
      selector: Record<string, string>;
      ports: { port: number; targetPort: string }[];
    };
    assert.deepEqual(spec.selector, AGENT_SELECTOR);
    assert.deepEqual(
      spec.ports.map((p) => [p.port, p.targetPort]),
      [[HEALTH_PORT, 'health']],
    );
  });

  it('lets the agent impersonate the demo’s deployer in the Applications’ namespace, which may create namespaces and edit', () => {
    const impersonator = objects.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'capstan-impersonator',
    );
    const rules = (impersonator?.['rules'] ?? []) as { resourceNames?: string[] }[];
    assert.ok(rules[0]?.resourceNames?.includes(DEMO_DEPLOYER));
    const binding = objects.find(
      (o) => o.kind === 'RoleBinding' && o.metadata.name === 'capstan-impersonator',
    );
    assert.equal(binding?.metadata.namespace, 'capstan-demo');
    const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === DEMO_DEPLOYER);
    assert.equal(sa?.metadata.namespace, 'capstan-demo');
    const roles = objects
      .filter((o) => o.kind === 'ClusterRoleBinding' && (o.metadata.name ?? '').startsWith(DEMO_DEPLOYER))
      .map((o) => (o['roleRef'] as { name: string }).name)
      .sort();
    assert.deepEqual(roles, [DEMO_DEPLOYER, 'edit']);
    const own = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === DEMO_DEPLOYER);
    assert.deepEqual((own?.['rules'] as { resources: string[] }[])[0]?.resources, ['namespaces']);
  });
});

describe('the API server reaching the cluster registry from its Pod (serverReachesRegistry)', () => {
  const registry = {
    address: '127.0.0.1:41234',
    podAddress: '10.200.0.1:41234',
    ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  };

  it('gives the server --registry-endpoint from the images’ name to the Pod address, and the CA from a ConfigMap named by NODE_EXTRA_CA_CERTS', () => {
    const install = installManifests({ image });
    const reached = serverReachesRegistry(install, { registry, caConfigMap: 'reg-ca' });
    const pod = podOf(reached, SERVER_NAME);
    const before = podOf(install, SERVER_NAME);
    const [container] = pod.containers;
    assert.deepEqual(container?.args, [
      ...(before.containers[0]?.args ?? []),
      '--registry-endpoint',
      '127.0.0.1:41234=10.200.0.1:41234',
    ]);
    assert.deepEqual(container.env?.at(-1), {
      name: 'NODE_EXTRA_CA_CERTS',
      value: `${REGISTRY_CA_DIR}/ca.crt`,
    });
    assert.deepEqual(container.volumeMounts?.at(-1), {
      name: 'registry-ca',
      mountPath: REGISTRY_CA_DIR,
      readOnly: true,
    });
    assert.deepEqual(pod.volumes?.at(-1)?.configMap?.name, 'reg-ca');
    // The install's own volumes and mounts stay.
    assert.equal((pod.volumes ?? []).length, (before.volumes ?? []).length + 1);
    // Nothing else changes: the agent has no such flag.
    reached.forEach((o, i) => {
      if (!(o.kind === 'Deployment' && o.metadata.name === SERVER_NAME)) assert.equal(o, install[i]);
    });
  });

  it('in the demo: the CA’s ConfigMap right after the namespace (before the server’s pod needs it), the flag after the demo’s own', () => {
    const objects = demoAgentInstall({
      image,
      applicationNamespace: 'capstan-demo',
      allowRepositoryHost: '10.200.0.1',
      registry,
    });
    const at = objects.findIndex((o) => o.kind === 'ConfigMap' && o.metadata.name === REGISTRY_CA_CONFIG_MAP);
    assert.ok(at > 0);
    assert.equal(objects[at - 1]?.kind, 'Namespace');
    assert.equal(objects[at]?.metadata.namespace, objects[at - 1]?.metadata.name);
    assert.deepEqual(objects[at]?.['data'], { 'ca.crt': registry.ca });
    const args = podOf(objects, SERVER_NAME).containers[0]?.args ?? [];
    assert.deepEqual(args.slice(-3), [
      '--promotions-allow-http',
      '--registry-endpoint',
      '127.0.0.1:41234=10.200.0.1:41234',
    ]);
    assert.ok(!(podOf(objects, AGENT_NAME).containers[0]?.args ?? []).includes('--registry-endpoint'));
  });
});
