// The demo's road to production (docs/promotions.md): the sample `hello` image's two Environments, `dev`
// (hello-kustomize, its kustomization's image, promoted by hand) and `staging` (hello-helm, its chart's
// values, following dev and asking for an approval), so that `capstan env list` and the web UI show
// them on a fresh demo. The demo's API server drives their promotions (`--promotions`).
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND } from '../contracts/environment.ts';
import type { KubeObject } from '../core/resource.ts';
import { applyAsDemo } from './demo-hello.ts';
import { until } from './demo-state.ts';

/** The demo's Environments: the Application each one deploys, and where its image reference lives. */
export const DEMO_ENVIRONMENTS = [
  {
    name: 'dev',
    application: 'hello-kustomize',
    file: 'kustomize/overlays/demo/kustomization.yaml',
    image: { kustomizeImage: 'registry.invalid/hello' },
  },
  {
    name: 'staging',
    application: 'hello-helm',
    file: 'helm/hello/values.yaml',
    image: { yamlPath: 'image.reference' },
    from: 'dev',
  },
] as const;

type DemoEnvironment = (typeof DEMO_ENVIRONMENTS)[number];

/** Where the Environments live and what their promotions commit to. */
export interface DemoEnvironmentsTarget {
  /** The namespace of the demo's Applications (an Environment's Application is in its namespace). */
  readonly namespace: string;
  readonly project: string;
  /** The demo configuration repository, as the Applications fetch it. */
  readonly repoURL: string;
  /** The repository credentials Secret of that namespace, when the repository asks for one. */
  readonly secretRef?: string;
}

/** One demo Environment as a Kubernetes object. */
export function demoEnvironment(env: DemoEnvironment, target: DemoEnvironmentsTarget): KubeObject {
  return {
    apiVersion: ENVIRONMENT_API_VERSION,
    kind: ENVIRONMENT_KIND,
    metadata: { name: env.name, namespace: target.namespace },
    spec: {
      project: target.project,
      application: env.application,
      config: {
        repoURL: target.repoURL,
        file: env.file,
        ...env.image,
        ...(target.secretRef === undefined ? {} : { credentials: { secretRef: { name: target.secretRef } } }),
        insecureHttp: true,
      },
      ...('from' in env ? { source: { environment: env.from } } : {}),
      gates: { healthyFor: '10s', approval: 'from' in env ? 'Required' : 'None' },
    },
  };
}

/** Creates (or updates) the demo's Environments, once the API server serves their kind. */
export async function createEnvironments(
  admin: KubeCluster,
  target: DemoEnvironmentsTarget,
  options: { readonly logs: string },
): Promise<void> {
  const type = await until(
    'the Environment kind served',
    { timeoutMs: 60_000, logs: options.logs },
    async () => admin.resourceType(ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND, { refresh: true }),
  );
  for (const env of DEMO_ENVIRONMENTS) await applyAsDemo(admin, type, demoEnvironment(env, target));
}
