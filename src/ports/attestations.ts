/**
 * Makes the provenance attestation an image step pushed reproducible (docs/pipelines.md,
 * "Reproducible"): the registry's side (src/adapters/registry/registry-attestations.ts).
 */
import type { BuildIdentity } from '../core/provenance.ts';

export interface ReproducibleAttestationRequest {
  /** `<registry>/<repository>`. */
  readonly image: string;
  /** The image index BuildKit pushed. */
  readonly digest: string;
  /** The tags to move to the rewritten index. */
  readonly tags: readonly string[];
  readonly identity: BuildIdentity;
  /** The push credentials: a `.dockerconfigjson` (`{"auths": …}`), when the Pipeline has one. */
  readonly dockerConfig?: string;
}

export interface ReproducibleAttestations {
  /** Pushes the rewritten attestation and index, moves the tags; returns the index's digest. */
  make(request: ReproducibleAttestationRequest): Promise<string>;
}
