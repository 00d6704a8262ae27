/**
 * An image step of a run Pod (docs/pipelines.md, "Image steps"): a container of the BuildKit image that
 * runs buildctl against the cluster's buildkitd over mutual TLS, with the checkout as its build context.
 * The commit's time is SOURCE_DATE_EPOCH and layer times are rewritten to it, so the same commit builds
 * the same image and the same digest; the image is labelled with its source and revision, gets BuildKit's
 * SLSA provenance attestation unless the step says `provenance: false`, and is pushed with the Pipeline's registry credentials, which only this container mounts.
 * The container's termination message says what happened: the pushed digests, or buildctl's last error
 * (the registry's reason when it refused the push). Pure.
 */
import { renderImageTags, type TagRevision } from './pipeline-tags.ts';

/** An image step as the pipeline file gives it (src/contracts/pipeline-file.ts ImageBuild). */
export interface RunImageBuild {
  readonly dockerfile?: string;
  readonly context?: string;
  readonly target?: string;
  readonly args?: Readonly<Record<string, string>>;
  readonly registry: string;
  readonly repository: string;
  readonly tags?: readonly string[];
  /** BuildKit's provenance attestation (an image index around the image), made reproducible by Capstan. Default true. */
  readonly provenance?: boolean;
}

/** The cluster's BuildKit as the build steps reach it (src/contracts/buildkit-install.ts). */
export interface BuildkitEndpoint {
  /** An image with buildctl, git and a shell (the same image as buildkitd's). */
  readonly image: string;
  /** `tcp://host:port` of buildkitd. */
  readonly address: string;
  /** The name buildkitd's certificate carries. */
  readonly serverName: string;
  /** A Secret in the Pipeline's namespace: ca.crt, tls.crt, tls.key of a client certificate. */
  readonly clientSecret: string;
}

export interface BuildStepInput {
  readonly name: string;
  readonly build: RunImageBuild;
  readonly buildkit: BuildkitEndpoint;
  readonly revision: TagRevision;
  /** The repository the image is built from (its org.opencontainers.image.source label). */
  readonly sourceURL: string;
  /** A kubernetes.io/dockerconfigjson Secret to push with. */
  readonly registrySecret?: string;
  /** Where the checkout is. */
  readonly workspace: string;
}

const DEFAULT_DOCKERFILE = 'Dockerfile';
const DEFAULT_CONTEXT = '.';
const CLIENT_TLS = '/capstan/buildkit';
const DOCKER_CONFIG = '/capstan/docker';
const METADATA = '/tmp/capstan-build.json';
/** The BuildKit image's non-root user (src/devcluster/buildkit-image.ts). */
const BUILD_USER = 65532;

/** The image a step pushes: `<registry>/<repository>`, with its tags for this revision. */
export function imageTarget(build: RunImageBuild, revision: TagRevision): { name: string; tags: string[] } {
  return {
    name: `${build.registry}/${build.repository}`,
    tags: renderImageTags(build.tags ?? ['{commit}'], revision),
  };
}

/** The step's volumes (the client certificate, the registry credentials); the Pod adds them. */
export function buildStepVolumes(
  input: Pick<BuildStepInput, 'name' | 'buildkit' | 'registrySecret'>,
): object[] {
  return [
    { name: `${input.name}-buildkit-tls`, secret: { secretName: input.buildkit.clientSecret } },
    ...(input.registrySecret === undefined
      ? []
      : [
          {
            name: `${input.name}-registry-auth`,
            secret: {
              secretName: input.registrySecret,
              items: [{ key: '.dockerconfigjson', path: 'config.json' }],
            },
          },
        ]),
  ];
}

/** The step's container: the build script with buildctl's arguments as its own (never spliced). */
export function buildStepContainer(input: BuildStepInput): object {
  const target = imageTarget(input.build, input.revision);
  return {
    name: input.name,
    image: input.buildkit.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', BUILD_SCRIPT, 'capstan-build', ...buildctlArguments(input, target)],
    workingDir: input.workspace,
    env: [
      { name: 'HOME', value: '/tmp' },
      { name: 'BUILDKIT_HOST', value: input.buildkit.address },
      { name: 'CAPSTAN_BUILDKIT_SERVER_NAME', value: input.buildkit.serverName },
      { name: 'CAPSTAN_IMAGE', value: target.name },
      { name: 'CAPSTAN_TAGS', value: target.tags.join(', ') || '(none: pushed by digest only)' },
      ...(input.registrySecret === undefined ? [] : [{ name: 'DOCKER_CONFIG', value: DOCKER_CONFIG }]),
    ],
    volumeMounts: [
      { name: 'workspace', mountPath: input.workspace, readOnly: true },
      { name: `${input.name}-buildkit-tls`, mountPath: CLIENT_TLS, readOnly: true },
      ...(input.registrySecret === undefined
        ? []
        : [{ name: `${input.name}-registry-auth`, mountPath: DOCKER_CONFIG, readOnly: true }]),
    ],
    securityContext: {
      runAsUser: BUILD_USER,
      runAsGroup: BUILD_USER,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** `buildctl build`'s arguments after the connection flags: inputs, labels, attestation, output. */
export function buildctlArguments(
  input: Pick<BuildStepInput, 'build' | 'sourceURL' | 'revision' | 'workspace'>,
  target: { name: string; tags: readonly string[] },
): string[] {
  const build = input.build;
  const context = `${input.workspace}/${build.context ?? DEFAULT_CONTEXT}`;
  const dockerfile = build.dockerfile ?? `${build.context ?? DEFAULT_CONTEXT}/${DEFAULT_DOCKERFILE}`;
  const slash = dockerfile.lastIndexOf('/');
  const opt = (value: string) => ['--opt', value];
  return [
    '--frontend',
    'dockerfile.v0',
    // BuildKit's built-in Dockerfile frontend: a `# syntax=` line would fetch a frontend image.
    ...opt('cmdline=builtin'),
    '--local',
    `context=${context}`,
    '--local',
    `dockerfile=${input.workspace}/${slash < 0 ? '.' : dockerfile.slice(0, slash)}`,
    ...opt(`filename=${slash < 0 ? dockerfile : dockerfile.slice(slash + 1)}`),
    ...(build.target === undefined ? [] : opt(`target=${build.target}`)),
    ...Object.entries(build.args ?? {}).flatMap(([k, v]) => opt(`build-arg:${k}=${v}`)),
    ...opt(`label:org.opencontainers.image.source=${input.sourceURL}`),
    ...opt(`label:org.opencontainers.image.revision=${input.revision.commit}`),
    // An attestation records its build (invocation id, start, finish: moby/buildkit#3421): the pushed
    // index's digest is the build's until Capstan rewrites those fields (src/core/provenance.ts).
    ...(build.provenance !== false
      ? [
          ...opt('attest:provenance=mode=min'),
          // The statement's runDetails.metadata.buildkit_metadata.vcs: the repository and the commit.
          ...opt(`vcs:source=${input.sourceURL}`),
          ...opt(`vcs:revision=${input.revision.commit}`),
        ]
      : []),
    '--output',
    imageOutput(target),
  ];
}

/** BuildKit's image output: pushed, OCI media types, layer times rewritten to SOURCE_DATE_EPOCH. */
function imageOutput(target: { name: string; tags: readonly string[] }): string {
  const names =
    target.tags.length === 0 ? target.name : target.tags.map((t) => `${target.name}:${t}`).join(',');
  // The output is CSV: a name list with commas is one quoted field.
  return [
    'type=image',
    `"name=${names}"`,
    'push=true',
    ...(target.tags.length === 0 ? ['push-by-digest=true'] : []),
    'oci-mediatypes=true',
    'rewrite-timestamp=true',
  ].join(',');
}

/**
 * The build step's script: the commit time as SOURCE_DATE_EPOCH, buildctl over mTLS (its output in the
 * step's log), then the pushed digest, or buildctl's last error line, as the termination message.
 */
const BUILD_SCRIPT = `set -u
epoch=$(git -c safe.directory='*' log -1 --format=%ct HEAD) || { echo "capstan: cannot read the commit's time" >&2; exit 2; }
export SOURCE_DATE_EPOCH="$epoch"
echo "capstan: building $CAPSTAN_IMAGE (SOURCE_DATE_EPOCH=$epoch)"
{ buildctl --addr "$BUILDKIT_HOST" --tlsservername "$CAPSTAN_BUILDKIT_SERVER_NAME" \\
    --tlscacert ${CLIENT_TLS}/ca.crt --tlscert ${CLIENT_TLS}/tls.crt --tlskey ${CLIENT_TLS}/tls.key \\
    build --progress plain --metadata-file ${METADATA} --opt "build-arg:SOURCE_DATE_EPOCH=$epoch" "$@" 2>&1
  echo $? > /tmp/capstan-build.status; } | tee /tmp/capstan-build.log
status=$(cat /tmp/capstan-build.status)
if [ "$status" != 0 ]; then
  { grep '^error:' /tmp/capstan-build.log || tail -n 1 /tmp/capstan-build.log; } | tail -n 1 | cut -c1-2000 > /dev/termination-log
  exit "$status"
fi
digest=$(grep -o '"containerimage.digest": *"sha256:[0-9a-f]*"' ${METADATA} | grep -o 'sha256:[0-9a-f]*')
[ -n "$digest" ] || { echo "capstan: buildctl wrote no image digest" | tee /dev/termination-log >&2; exit 2; }
printf 'digest=%s\nepoch=%s\n' "$digest" "$epoch" > /dev/termination-log
echo "capstan: pushed $CAPSTAN_IMAGE@$digest; tags: $CAPSTAN_TAGS"
`;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** What an image step pushed, from its termination message (a `digest=…` line). */
export interface PushedImage {
  /** What the tags point to: the image index holding the image and its attestation, or with `provenance: false` the image manifest. */
  readonly digest: string;
  /** SOURCE_DATE_EPOCH of the build (the commit's time, seconds). */
  readonly sourceDateEpoch?: number;
}

/** The image an image step's termination message names, if it names one. */
export function pushedImage(message: string | undefined): PushedImage | undefined {
  const fields = new Map(
    (message ?? '').split('\n').flatMap((line) => {
      const at = line.indexOf('=');
      return at < 0 ? [] : [[line.slice(0, at), line.slice(at + 1).trim()] as const];
    }),
  );
  const digest = fields.get('digest');
  if (digest === undefined || !DIGEST.test(digest)) return undefined;
  const epoch = Number(fields.get('epoch') ?? 'x');
  return Number.isSafeInteger(epoch) ? { digest, sourceDateEpoch: epoch } : { digest };
}
