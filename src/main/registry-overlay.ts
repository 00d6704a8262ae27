// The overlay an operator writes so that the installed API server's Pod reaches the image registry that
// BuildKit pushed to, under another address than the images name (docs/pipelines.md, "Reproducible"):
// on the dev cluster's real node, images name the registry 127.0.0.1:<r> (the node's loopback, where
// containerd and buildkitd reach it), and a Pod reaches it at the node's address 10.200.0.1:<r>
// (docs/real-node.md, "Registry"). The server gets `--registry-endpoint <name>=<pod address>`, and the
// registry's CA in a ConfigMap named by NODE_EXTRA_CA_CERTS (its certificate names both addresses).
import { SERVER_NAME } from '../contracts/install-server.ts';
import type { KubeObject } from '../core/resource.ts';

/** Where the CA lands in the server's container. */
export const REGISTRY_CA_DIR = '/etc/capstan/registry-ca';
const VOLUME = 'registry-ca';

/** The registry as image references name it, as Pods reach it, and the PEM of its CA. */
export interface PodRegistry {
  readonly address: string;
  readonly podAddress: string;
  readonly ca: string;
}

type Container = {
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
};
type PodSpec = { containers: Container[]; volumes?: Record<string, unknown>[] };

/** A ConfigMap `name` in `namespace` holding the registry's CA under `ca.crt`. */
export function registryCaConfigMap(name: string, namespace: string, registry: PodRegistry): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'capstan' } },
    data: { 'ca.crt': registry.ca },
  };
}

/**
 * install.yaml's objects with the API server's Deployment (`deployment`, default install.yaml's) reaching
 * `registry` from its Pod: `--registry-endpoint`, the CA from the ConfigMap `caConfigMap` (which the
 * caller applies, registryCaConfigMap) mounted and named by NODE_EXTRA_CA_CERTS. Other objects unchanged.
 */
export function serverReachesRegistry(
  objects: readonly KubeObject[],
  options: { readonly registry: PodRegistry; readonly caConfigMap: string; readonly deployment?: string },
): KubeObject[] {
  const name = options.deployment ?? SERVER_NAME;
  const { address, podAddress } = options.registry;
  return objects.map((object) => {
    if (object.kind !== 'Deployment' || object.metadata.name !== name) return object;
    const spec = object['spec'] as { template: { spec: PodSpec } };
    const pod = spec.template.spec;
    const containers = pod.containers.map((c, i) =>
      i > 0
        ? c
        : {
            ...c,
            args: [...(c.args ?? []), '--registry-endpoint', `${address}=${podAddress}`],
            env: [...(c.env ?? []), { name: 'NODE_EXTRA_CA_CERTS', value: `${REGISTRY_CA_DIR}/ca.crt` }],
            volumeMounts: [
              ...(c.volumeMounts ?? []),
              { name: VOLUME, mountPath: REGISTRY_CA_DIR, readOnly: true },
            ],
          },
    );
    const volumes = [
      ...(pod.volumes ?? []),
      { name: VOLUME, configMap: { name: options.caConfigMap, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    ];
    return {
      ...object,
      spec: { ...spec, template: { ...spec.template, spec: { ...pod, containers, volumes } } },
    };
  });
}
