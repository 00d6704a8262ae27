/**
 * The Pod of a pipeline run (docs/pipelines.md): one Pod per run, on the cluster where the Pipeline is.
 * The checkout is an init container of Capstan's own image; the steps follow as init containers, in
 * order, over one shared emptyDir workspace, the last step being the Pod's container: the kubelet runs
 * them one after the other and stops at the first that fails. The run's time limit is the Pod's
 * activeDeadlineSeconds; a step's own limit is kept by the run's watcher, which deletes the Pod.
 * Secrets reach only the container of the step that names them (secretKeyRef). Pure.
 */
import {
  buildStepContainer,
  buildStepVolumes,
  type BuildkitEndpoint,
  type RunImageBuild,
} from './build-step.ts';
import { CapstanError } from './errors.ts';
import {
  CACHE_MOUNT,
  CACHE_SAVE_CONTAINER,
  CACHE_VOLUME,
  cacheClaimName,
  cacheFlags,
  cacheSaveArgs,
  type CacheDefinition,
  type CacheOwner,
} from './pipeline-cache.ts';
import type { KubeObject } from './resource.ts';

/** Where the checkout is, in every container. */
export const WORKSPACE = '/workspace';
/** The checkout's container name (a step may not take it). */
export const CHECKOUT_CONTAINER = 'checkout';
/**
 * The group of the user of Capstan's image (its uid, CAPSTAN_UID of src/contracts/install-parts.ts):
 * a run with caches gives its Pod this fsGroup, so that the checkout and the save container may write
 * the cache volume.
 */
export const CAPSTAN_IMAGE_GROUP = 10001;
/** Labels of a run Pod: which pipeline, which run. */
export const RUN_LABELS = { pipeline: 'capstan.dev/pipeline', run: 'capstan.dev/run' } as const;

/** A run Pod found on the cluster: its name and the run it belongs to. */
export interface RunPodRef {
  readonly name: string;
  readonly runId: string;
}

/** The run Pods among `pods`: those with a run label and a name, not being deleted already. */
export function runPodsOf(pods: readonly KubeObject[]): RunPodRef[] {
  return pods.flatMap((pod) => {
    const runId = pod.metadata.labels?.[RUN_LABELS.run];
    const name = pod.metadata.name;
    return runId === undefined || name === undefined || pod.metadata.deletionTimestamp !== undefined
      ? []
      : [{ name, runId }];
  });
}

/** A step as the run Pod needs it (src/contracts/pipeline-file.ts is the file's full form). */
export interface RunStep {
  readonly name: string;
  readonly image?: string;
  readonly commands?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly secrets?: readonly { readonly env: string; readonly secret: string; readonly key: string }[];
  readonly workingDir?: string;
  readonly retries?: number;
  /** An image step (src/core/build-step.ts): built by the cluster's BuildKit, pushed. */
  readonly build?: RunImageBuild;
}

export interface RunPodInput {
  readonly namespace: string;
  readonly pipeline: string;
  /** The run's id: a DNS label (it names the Pod with the pipeline). */
  readonly runId: string;
  readonly repoURL: string;
  /** The full commit to check out. */
  readonly revision: string;
  /** The branch and the tag of the run, when it has them (image tags `{branch}`, `{tag}`). */
  readonly branch?: string;
  readonly tag?: string;
  /** Capstan's image, by digest: it does the checkout. */
  readonly capstanImage: string;
  readonly steps: readonly RunStep[];
  /** The whole run's time limit, in seconds. */
  readonly timeoutSeconds: number;
  readonly serviceAccountName: string;
  /** A Secret of the repository's credentials (username/password or sshPrivateKey), for the checkout only. */
  readonly credentialsSecret?: string;
  /** The cluster's BuildKit: needed when a step builds an image. */
  readonly buildkit?: BuildkitEndpoint;
  /** A kubernetes.io/dockerconfigjson Secret the image steps push with (the Pipeline's registrySecretRef). */
  readonly registrySecret?: string;
  /** Secrets to pull Capstan's image and the steps' images with. */
  readonly imagePullSecrets?: readonly string[];
  /**
   * The caches the steps name (src/core/pipeline-cache.ts): restored by the checkout from the
   * Pipeline's cache claim, saved by the last container once every step succeeded.
   */
  readonly caches?: { readonly owner: CacheOwner; readonly definitions: readonly CacheDefinition[] };
  /** Let the checkout fetch over http:// (the dev cluster's git server). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Added to the Pod spec (the dev cluster's real node: nodeSelector and tolerations). */
  readonly placement?: RunPlacement;
}

/** Where run Pods go: a node selector and tolerations added to their spec. */
export interface RunPlacement {
  readonly nodeSelector?: Record<string, string>;
  readonly tolerations?: readonly object[];
}

/** The run Pod's name: `<pipeline>-<run id>`, at most 63 characters. */
export function runPodName(pipeline: string, runId: string): string {
  return `${pipeline}-${runId}`.slice(0, 63).replace(/-+$/, '');
}

/** The Pod that runs `input`'s steps after its checkout. */
export function runPodManifest(input: RunPodInput): KubeObject {
  const caches = (input.caches?.definitions.length ?? 0) > 0 ? input.caches : undefined;
  const containers = [
    checkoutContainer(input),
    ...input.steps.map((step) => stepContainer(step, input)),
    ...(caches === undefined ? [] : [cacheSaveContainer(input, caches)]),
  ];
  const main = containers.pop();
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: runPodName(input.pipeline, input.runId),
      namespace: input.namespace,
      labels: { [RUN_LABELS.pipeline]: input.pipeline, [RUN_LABELS.run]: input.runId },
    },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: input.serviceAccountName,
      // Steps talk to no API server unless the pipeline's ServiceAccount is given a token on purpose.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      activeDeadlineSeconds: input.timeoutSeconds,
      terminationGracePeriodSeconds: 5,
      volumes: [
        { name: 'workspace', emptyDir: {} },
        ...input.steps.flatMap((step) => stepVolumes(step, input)),
        ...(caches === undefined
          ? []
          : [{ name: CACHE_VOLUME, persistentVolumeClaim: { claimName: cacheClaimName(input.pipeline) } }]),
      ],
      ...(caches === undefined ? {} : { securityContext: { fsGroup: CAPSTAN_IMAGE_GROUP } }),
      ...(input.imagePullSecrets
        ? { imagePullSecrets: input.imagePullSecrets.map((name) => ({ name })) }
        : {}),
      initContainers: containers,
      containers: [main],
      ...(input.placement?.nodeSelector ? { nodeSelector: input.placement.nodeSelector } : {}),
      ...(input.placement?.tolerations ? { tolerations: input.placement.tolerations } : {}),
    },
  };
}

const workspaceMount = { name: 'workspace', mountPath: WORKSPACE };

/** The checkout: `capstan pipeline checkout` in Capstan's image, as a non-root user. */
function checkoutContainer(input: RunPodInput): object {
  const secret = input.credentialsSecret;
  const fromSecret = (name: string, key: string) => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key, optional: true } },
  });
  return {
    name: CHECKOUT_CONTAINER,
    image: input.capstanImage,
    imagePullPolicy: 'IfNotPresent',
    args: [
      'pipeline',
      'checkout',
      ...(input.allowInsecureHttp === true ? ['--allow-http'] : []),
      '--repo',
      input.repoURL,
      '--revision',
      input.revision,
      '--dest',
      WORKSPACE,
      ...(input.caches === undefined || input.caches.definitions.length === 0
        ? []
        : cacheFlags(input.caches.owner, input.caches.definitions)),
    ],
    env: [
      { name: 'HOME', value: '/tmp' },
      ...(secret === undefined
        ? []
        : [fromSecret('CAPSTAN_GIT_USERNAME', 'username'), fromSecret('CAPSTAN_GIT_PASSWORD', 'password')]),
    ],
    volumeMounts: [
      workspaceMount,
      ...(input.caches === undefined || input.caches.definitions.length === 0 ? [] : [cacheMount]),
    ],
    securityContext: capstanSecurity,
  };
}

const cacheMount = { name: CACHE_VOLUME, mountPath: CACHE_MOUNT };
const capstanSecurity = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};

/** The last container: saves the caches, in Capstan's image; it runs only when every step succeeded. */
function cacheSaveContainer(input: RunPodInput, caches: NonNullable<RunPodInput['caches']>): object {
  return {
    name: CACHE_SAVE_CONTAINER,
    image: input.capstanImage,
    imagePullPolicy: 'IfNotPresent',
    args: cacheSaveArgs(caches.owner, caches.definitions, WORKSPACE),
    env: [{ name: 'HOME', value: '/tmp' }],
    volumeMounts: [workspaceMount, cacheMount],
    securityContext: capstanSecurity,
  };
}

/** An image step's volumes (its client certificate, the registry credentials); none for a command step. */
function stepVolumes(step: RunStep, input: RunPodInput): object[] {
  if (step.build === undefined) return [];
  return buildStepVolumes({
    name: step.name,
    buildkit: buildkitOf(step, input),
    ...(input.registrySecret === undefined ? {} : { registrySecret: input.registrySecret }),
  });
}

/** The cluster's BuildKit, which an image step needs. */
function buildkitOf(step: RunStep, input: RunPodInput): BuildkitEndpoint {
  if (input.buildkit !== undefined) return input.buildkit;
  throw new CapstanError(
    'PIPELINE_BUILDKIT_MISSING',
    `step ${step.name} of Pipeline/${input.namespace}/${input.pipeline} builds an image, but this Capstan has no BuildKit configured: install it (docs/pipelines.md, "Image steps") and give the agent its address`,
    { subject: `Pipeline/${input.namespace}/${input.pipeline}` },
  );
}

/** A step's container: an image build, or its commands in the image's shell, in its working folder. */
function stepContainer(step: RunStep, input: RunPodInput): object {
  if (step.build !== undefined) {
    return buildStepContainer({
      name: step.name,
      build: step.build,
      buildkit: buildkitOf(step, input),
      revision: {
        commit: input.revision,
        ...(input.branch === undefined ? {} : { branch: input.branch }),
        ...(input.tag === undefined ? {} : { tag: input.tag }),
      },
      sourceURL: input.repoURL,
      ...(input.registrySecret === undefined ? {} : { registrySecret: input.registrySecret }),
      workspace: WORKSPACE,
    });
  }
  if (step.image === undefined || step.commands === undefined) {
    throw new CapstanError(
      'PIPELINE_STEP_INVALID',
      `step ${step.name} of Pipeline/${input.namespace}/${input.pipeline} has neither commands nor build`,
      { subject: `Pipeline/${input.namespace}/${input.pipeline}` },
    );
  }
  return {
    name: step.name,
    image: step.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', stepScript(step.commands, step.retries ?? 0)],
    workingDir: step.workingDir === undefined ? WORKSPACE : `${WORKSPACE}/${step.workingDir}`,
    env: [
      { name: 'CI', value: 'true' },
      { name: 'CAPSTAN_REVISION', value: input.revision },
      ...Object.entries(step.env ?? {}).map(([name, value]) => ({ name, value })),
      ...(step.secrets ?? []).map((s) => ({
        name: s.env,
        valueFrom: { secretKeyRef: { name: s.secret, key: s.key } },
      })),
    ],
    volumeMounts: [workspaceMount],
  };
}

/**
 * The shell script of a step: the commands run by `sh -e`, each echoed first (`+ npm test`); a failed
 * attempt is run again up to `retries` times. The commands go in as one argument of `sh -ec`, never
 * spliced into the outer script.
 */
export function stepScript(commands: readonly string[], retries: number): string {
  const body = commands.join('\n');
  const attempt = `sh -exc "$CAPSTAN_STEP"`;
  const quoted = `'${body.replaceAll("'", `'\\''`)}'`;
  if (retries === 0) return `CAPSTAN_STEP=${quoted}\nexec ${attempt}`;
  return [
    `CAPSTAN_STEP=${quoted}`,
    `attempt=1`,
    `until ${attempt}; do`,
    `  status=$?`,
    `  [ "$attempt" -gt ${retries} ] && exit "$status"`,
    `  attempt=$((attempt + 1))`,
    `  echo "capstan: the step failed (exit $status); attempt $attempt of ${retries + 1}" >&2`,
    `done`,
  ].join('\n');
}
