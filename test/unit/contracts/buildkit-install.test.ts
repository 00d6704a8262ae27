import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUILDKIT_DEFAULTS,
  buildkitManifests,
  buildkitServerName,
} from '../../../src/contracts/buildkit-install.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

interface PodSpec {
  hostNetwork?: boolean;
  containers: { securityContext: { privileged?: boolean }; volumeMounts: { name: string }[] }[];
  volumes: { name: string; persistentVolumeClaim?: object; hostPath?: { path: string } }[];
}

const find = (objects: KubeObject[], kind: string) => objects.find((o) => o.kind === kind);
const podSpec = (objects: KubeObject[]) =>
  (
    find(objects, 'Deployment') as unknown as {
      spec: { strategy: { type: string }; template: { spec: PodSpec } };
    }
  ).spec;

describe('buildkitManifests', () => {
  const objects = buildkitManifests({ image: 'example.org/buildkit@sha256:' + 'a'.repeat(64) });

  it('puts the one privileged container in a namespace of its own, marked privileged for Pod Security', () => {
    const namespace = find(objects, 'Namespace');
    assert.ok(namespace);
    assert.equal(namespace.metadata.name, BUILDKIT_DEFAULTS.namespace);
    assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    for (const object of objects.filter((o) => o.kind !== 'Namespace'))
      assert.equal(object.metadata.namespace, BUILDKIT_DEFAULTS.namespace, object.kind);
    assert.equal(podSpec(objects).template.spec.containers[0]?.securityContext.privileged, true);
    assert.equal(podSpec(objects).template.spec.hostNetwork, undefined);
  });

  it('keeps the cache on a claim that outlives the Pod, owned by one Pod at a time', () => {
    const claim = find(objects, 'PersistentVolumeClaim') as unknown as {
      spec: { resources: { requests: { storage: string } } };
    };
    assert.equal(claim.spec.resources.requests.storage, BUILDKIT_DEFAULTS.cacheSize);
    assert.equal(podSpec(objects).strategy.type, 'Recreate');
    assert.ok(
      podSpec(objects).template.spec.volumes.some((v) => v.name === 'cache' && v.persistentVolumeClaim),
    );
  });

  it('serves over mutual TLS only, and trusts a private registry’s CA for that host', () => {
    const withCa = buildkitManifests({
      image: 'x',
      registryCAs: [{ host: '127.0.0.1:5000', caPem: 'PEM' }],
      cache: { hostPath: '/var/lib/capstan/buildkit' },
      hostNetwork: true,
    });
    const toml = (find(withCa, 'ConfigMap') as unknown as { data: Record<string, string> }).data[
      'buildkitd.toml'
    ];
    assert.match(toml ?? '', /address = \["tcp:\/\/0\.0\.0\.0:1234"\]/);
    assert.match(toml ?? '', /\[grpc\.tls\][^[]*ca = "\/etc\/buildkit\/tls\/ca\.crt"/);
    assert.match(
      toml ?? '',
      /\[registry\."127\.0\.0\.1:5000"\]\n {2}http = false\n {2}ca = \["\/etc\/buildkit\/registry-ca\/0\.crt"\]/,
    );
    assert.equal(find(withCa, 'PersistentVolumeClaim'), undefined);
    assert.equal(
      podSpec(withCa).template.spec.volumes.find((v) => v.name === 'cache')?.hostPath?.path,
      '/var/lib/capstan/buildkit',
    );
    assert.equal(podSpec(withCa).template.spec.hostNetwork, true);
    assert.equal(buildkitServerName(), 'buildkitd.capstan-buildkit.svc');
  });
});
