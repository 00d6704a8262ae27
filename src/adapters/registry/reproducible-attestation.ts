/**
 * Makes a pushed image index's provenance attestation reproducible (src/core/provenance.ts): reads the
 * index BuildKit pushed, its attestation manifest, configuration and in-toto layer; pushes the rewritten
 * statement and configuration, then the attestation manifest and the index by digest, then moves the
 * tags to the index. The image itself is not touched. Returns the new index's digest.
 */
import {
  attestationIn,
  OCI_INDEX,
  OCI_MANIFEST,
  parseManifest,
  provenanceLayerIn,
  reproducibleAttestation,
  type BuildIdentity,
} from '../../core/provenance.ts';
import { CapstanError } from '../../core/errors.ts';
import type { ReproducibleAttestationRequest, ReproducibleAttestations } from '../../ports/attestations.ts';
import { credentialsFromDockerConfig, OciRegistry } from './oci-registry.ts';

export interface ReproducibleAttestationInput {
  readonly repository: string;
  /** The index BuildKit pushed. */
  readonly digest: string;
  readonly tags: readonly string[];
  readonly identity: BuildIdentity;
}

export async function pushReproducibleAttestation(
  registry: OciRegistry,
  input: ReproducibleAttestationInput,
): Promise<{ digest: string; changed: boolean }> {
  const subject = `${input.identity.image}@${input.digest}`;
  const index = parseManifest(
    (await registry.manifest(input.repository, input.digest)).bytes.toString('utf8'),
    subject,
  );
  const found = attestationIn(index, subject);
  if (found === undefined)
    throw new CapstanError(
      'PIPELINE_ATTESTATION_INVALID',
      `${subject}: the image index holds no attestation`,
      {
        subject,
      },
    );
  const attestationSubject = `${input.identity.image}@${found.digest}`;
  const attestation = parseManifest(
    (await registry.manifest(input.repository, found.digest)).bytes.toString('utf8'),
    attestationSubject,
  );
  const layer = provenanceLayerIn(attestation, attestationSubject);
  if (attestation.config === undefined)
    throw new CapstanError('PIPELINE_ATTESTATION_INVALID', `${attestationSubject}: no config`, {
      subject: attestationSubject,
    });
  const readJson = async (digest: string): Promise<unknown> => {
    const text = (await registry.blob(input.repository, digest)).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CapstanError('PIPELINE_ATTESTATION_INVALID', `${input.identity.image}@${digest}: not JSON`, {
        subject: `${input.identity.image}@${digest}`,
      });
    }
  };
  const rewritten = reproducibleAttestation({
    index,
    attestation,
    statement: await readJson(layer.digest),
    config: await readJson(attestation.config.digest),
    identity: input.identity,
    subject,
  });
  await registry.putBlob(input.repository, rewritten.statement.bytes);
  await registry.putBlob(input.repository, rewritten.config.bytes);
  await registry.putManifest(
    input.repository,
    rewritten.attestation.digest,
    rewritten.attestation.bytes,
    attestation.mediaType ?? OCI_MANIFEST,
  );
  await registry.putManifest(input.repository, rewritten.index.digest, rewritten.index.bytes, OCI_INDEX);
  for (const tag of input.tags)
    await registry.putManifest(input.repository, tag, rewritten.index.bytes, OCI_INDEX);
  return { digest: rewritten.index.digest, changed: rewritten.index.digest !== input.digest };
}

/**
 * The port over the registries' HTTP API: credentials from the request, an optional CA of the
 * registries, and the address to connect to for a registry that answers here at another one than its
 * images name (`endpoints`: registry → `host[:port]`; capstan server --registry-endpoint).
 */
export class RegistryAttestations implements ReproducibleAttestations {
  readonly #ca: string | undefined;
  readonly #endpoints: ReadonlyMap<string, string>;

  constructor(options: { ca?: string; endpoints?: Readonly<Record<string, string>> } = {}) {
    this.#ca = options.ca;
    this.#endpoints = new Map(Object.entries(options.endpoints ?? {}));
  }

  async make(request: ReproducibleAttestationRequest): Promise<string> {
    const slash = request.image.indexOf('/');
    const registryName = request.image.slice(0, slash);
    const credentials =
      request.dockerConfig === undefined
        ? undefined
        : credentialsFromDockerConfig(request.dockerConfig, registryName);
    const endpoint = this.#endpoints.get(registryName);
    const registry = new OciRegistry({
      registry: registryName,
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(credentials === undefined ? {} : { credentials }),
      ...(this.#ca === undefined ? {} : { ca: this.#ca }),
    });
    const result = await pushReproducibleAttestation(registry, {
      repository: request.image.slice(slash + 1),
      digest: request.digest,
      tags: request.tags,
      identity: request.identity,
    });
    return result.digest;
  }
}
