/**
 * After an image step pushed an image with BuildKit's provenance attestation: the attestation made
 * reproducible (src/core/provenance.ts, through the ReproducibleAttestations port), so the run records
 * an index digest the same for every build of the commit (docs/pipelines.md, "Reproducible").
 */
import type { PipelineFile } from '../contracts/pipeline-file.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import type { ReproducibleAttestations } from '../ports/attestations.ts';
import type { RunImageRecord } from '../ports/store.ts';

export interface PushedStepImage extends RunImageRecord {
  /** SOURCE_DATE_EPOCH of its build, from the step's termination message. */
  readonly sourceDateEpoch?: number;
}

/**
 * Every image, those with provenance made reproducible; the first failure, naming the step and image;
 * and a notice when the registry did not answer the process that rewrites (the run keeps BuildKit's
 * index, attested but not reproducible: a dev cluster's registry on the node's loopback is out of reach
 * of the installed server's pod). A registry that answers and refuses fails the run.
 */
export async function reproducibleImages(
  images: readonly PushedStepImage[],
  context: {
    readonly file: PipelineFile;
    readonly commit: string;
    readonly attestations: ReproducibleAttestations | undefined;
    /** The push credentials (`.dockerconfigjson`), when the Pipeline has them. */
    readonly dockerConfig: () => Promise<string | undefined>;
  },
): Promise<{ images: RunImageRecord[]; failure?: string; notice?: string }> {
  const done: RunImageRecord[] = [];
  let failure: string | undefined;
  let notice: string | undefined;
  for (const { sourceDateEpoch, ...image } of images) {
    const step = context.file.steps.find((s) => s.name === image.step);
    const attested = step?.build !== undefined && step.build.provenance !== false;
    if (!attested || context.attestations === undefined || sourceDateEpoch === undefined) {
      done.push(image);
      continue;
    }
    const name = image.reference.slice(0, image.reference.lastIndexOf('@'));
    try {
      const dockerConfig = await context.dockerConfig();
      const digest = await context.attestations.make({
        image: name,
        digest: image.digest,
        tags: image.tags,
        identity: { image: name, commit: context.commit, step: image.step, sourceDateEpoch },
        ...(dockerConfig === undefined ? {} : { dockerConfig }),
      });
      done.push({ ...image, digest, reference: `${name}@${digest}` });
    } catch (error) {
      // Recorded as BuildKit pushed it; the run fails with the first such failure, unless the registry
      // was out of reach (then the run says so).
      done.push(image);
      const said = `step ${image.step}: the provenance attestation of ${image.reference} was not made reproducible: ${messageOf(error)}`;
      if (error instanceof CapstanError && error.code === 'PIPELINE_REGISTRY_UNREACHABLE')
        notice ??= `${said}; the image is recorded as BuildKit pushed it (attested, not reproducible)`;
      else failure ??= said;
    }
  }
  return {
    images: done,
    ...(failure === undefined ? {} : { failure }),
    ...(notice === undefined ? {} : { notice }),
  };
}
