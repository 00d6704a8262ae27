/**
 * `capstan pipeline attest-normalize`: makes the provenance attestation BuildKit pushed with an image
 * reproducible (docs/pipelines.md, "Reproducible"): rewrites the build's id and times in its SLSA
 * statement, pushes the statement, the attestation manifest and the index, moves the tags to that index
 * and prints its digest. The same commit then gives the same index digest.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { credentialsFromDockerConfig, OciRegistry } from '../../adapters/registry/oci-registry.ts';
import { pushReproducibleAttestation } from '../../adapters/registry/reproducible-attestation.ts';
import { registryEndpointsFlag } from '../flags.ts';
import { EXIT, UsageError } from '../output.ts';

export const ATTEST_HELP = `  attest-normalize   make an image's provenance attestation reproducible:
    --image REGISTRY/REPOSITORY@sha256:…   the image index BuildKit pushed
    --commit SHA --step NAME                the build's commit and image step (its derived invocation id)
    --source-date-epoch SECONDS             the commit's time (the statement's start and finish)
    --tag T (repeatable)                    tags to move to the new index
    --registry-ca FILE                      the registry's CA (default: the system's)
    --registry-endpoint REGISTRY=HOST[:PORT]
                                            reach REGISTRY at HOST[:PORT] (TLS checked against HOST)
    Credentials: DOCKER_CONFIG/config.json (default ~/.docker/config.json), its auths entry of the registry.
    Prints digest=sha256:… of the new index.
`;

/** `registry/repository@sha256:…` split; the registry is what precedes the first slash. */
function splitImage(image: string): { registry: string; repository: string; digest: string } {
  const match = /^([^/]+)\/(.+)@(sha256:[0-9a-f]{64})$/.exec(image);
  if (match === null) throw new UsageError(`--image ${image}: expected REGISTRY/REPOSITORY@sha256:<64 hex>`);
  return { registry: match[1] ?? '', repository: match[2] ?? '', digest: match[3] ?? '' };
}

async function dockerConfig(): Promise<string | undefined> {
  const dir = process.env['DOCKER_CONFIG'] ?? join(process.env['HOME'] ?? '/', '.docker');
  try {
    return await readFile(join(dir, 'config.json'), 'utf8');
  } catch {
    return undefined;
  }
}

export async function attestNormalize(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      image: { type: 'string' },
      commit: { type: 'string' },
      step: { type: 'string' },
      'source-date-epoch': { type: 'string' },
      tag: { type: 'string', multiple: true },
      'registry-ca': { type: 'string' },
      'registry-endpoint': { type: 'string', multiple: true },
    },
  });
  const { image, commit, step } = values;
  const epoch = Number(values['source-date-epoch']);
  if (image === undefined || commit === undefined || step === undefined || !Number.isSafeInteger(epoch))
    throw new UsageError(
      'capstan pipeline attest-normalize needs --image, --commit, --step and --source-date-epoch (seconds)',
    );
  const target = splitImage(image);
  const endpoint = registryEndpointsFlag('registry-endpoint', values['registry-endpoint'])[target.registry];
  const config = await dockerConfig();
  const credentials = config === undefined ? undefined : credentialsFromDockerConfig(config, target.registry);
  const ca = values['registry-ca'] === undefined ? undefined : await readFile(values['registry-ca'], 'utf8');
  const registry = new OciRegistry({
    registry: target.registry,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(credentials === undefined ? {} : { credentials }),
    ...(ca === undefined ? {} : { ca }),
  });
  const result = await pushReproducibleAttestation(registry, {
    repository: target.repository,
    digest: target.digest,
    tags: values.tag ?? [],
    identity: { image: `${target.registry}/${target.repository}`, commit, step, sourceDateEpoch: epoch },
  });
  process.stdout.write(`digest=${result.digest}\n`);
  return EXIT.ok;
}
