/**
 * BuildKit's provenance attestation made reproducible (docs/pipelines.md, "Reproducible"). BuildKit
 * writes, in each build's SLSA statement, the fields that name that build: its invocation id (random)
 * and its start and finish times (moby/buildkit#3421), so the image index that holds the attestation
 * gets a new digest on every build of one commit. This rewrites only those fields: the id becomes one
 * derived from the image, the commit and the step, the times become the commit's (SOURCE_DATE_EPOCH);
 * everything else stays as BuildKit wrote it. Then the attestation manifest, its configuration and the
 * index are rewritten to name the new statement. Pure: JSON in, canonical JSON out (sorted keys, so
 * equal values give equal bytes and digests).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './digest.ts';
import { CapstanError } from './errors.ts';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const ATTESTATION_TYPE = 'vnd.docker.reference.type';
const ATTESTATION_MANIFEST = 'attestation-manifest';
const PREDICATE_TYPE = 'in-toto.io/predicate-type';
const SLSA = 'https://slsa.dev/provenance/';

/** An OCI descriptor (what an index or a manifest names). */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Readonly<Record<string, unknown>>;
}

/** What makes a build's statement the same for every build of one commit. */
export interface BuildIdentity {
  /** `<registry>/<repository>`. */
  readonly image: string;
  /** The full commit id. */
  readonly commit: string;
  /** The image step's name. */
  readonly step: string;
  /** SOURCE_DATE_EPOCH: the commit's time, in seconds. */
  readonly sourceDateEpoch: number;
}

/** A blob as it is pushed: its bytes and its descriptor's digest and size. */
export interface Blob {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly size: number;
}

export function blobOf(text: string): Blob {
  const bytes = Buffer.from(text, 'utf8');
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
}

/** The invocation id of a build of `identity`: the same for every build of that commit by that step. */
export function invocationIdOf(identity: BuildIdentity): string {
  const hash = createHash('sha256')
    .update(`capstan-build\n${identity.image}\n${identity.commit}\n${identity.step}\n`)
    .digest('hex');
  // The shape of BuildKit's own ids (25 lower-case alphanumerics), derived instead of random.
  return BigInt(`0x${hash}`).toString(36).slice(0, 25);
}

function invalid(message: string, subject: string): CapstanError {
  return new CapstanError('PIPELINE_ATTESTATION_INVALID', `${subject}: ${message}`, { subject });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Sets `fields` of `metadata` that exist: ids to the derived id, times to the commit's. */
function rewriteMetadata(
  metadata: unknown,
  fields: { id: string; started: string; finished: string },
  values: { id: string; time: string },
): void {
  if (!isRecord(metadata)) return;
  if (fields.id in metadata) metadata[fields.id] = values.id;
  if (fields.started in metadata) metadata[fields.started] = values.time;
  if (fields.finished in metadata) metadata[fields.finished] = values.time;
}

/**
 * The statement with the build's id and times made the commit's: SLSA v1 `runDetails.metadata`
 * (`invocationID`/`invocationId`, `startedOn`, `finishedOn`) and v0.2 `metadata`
 * (`buildInvocationID`/`buildInvocationId`, `buildStartedOn`, `buildFinishedOn`).
 */
export function reproducibleStatement(statement: unknown, identity: BuildIdentity, subject: string): unknown {
  if (!isRecord(statement) || !isRecord(statement['predicate']))
    throw invalid('the attestation layer is not an in-toto statement with a predicate', subject);
  const predicateType = statement['predicateType'];
  if (typeof predicateType !== 'string' || !predicateType.startsWith(SLSA))
    throw invalid(`the statement's predicateType is ${JSON.stringify(predicateType)}, not SLSA`, subject);
  const copy = structuredClone(statement) as Record<string, unknown> & { predicate: Record<string, unknown> };
  const values = {
    id: invocationIdOf(identity),
    time: new Date(identity.sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z'),
  };
  const runDetails = copy.predicate['runDetails'];
  const v1 = isRecord(runDetails) ? runDetails['metadata'] : undefined;
  for (const id of ['invocationID', 'invocationId'])
    rewriteMetadata(v1, { id, started: 'startedOn', finished: 'finishedOn' }, values);
  for (const id of ['buildInvocationID', 'buildInvocationId'])
    rewriteMetadata(
      copy.predicate['metadata'],
      { id, started: 'buildStartedOn', finished: 'buildFinishedOn' },
      values,
    );
  return copy;
}

/** An OCI index or image manifest as read from the registry. */
interface Manifest {
  readonly mediaType?: string;
  readonly manifests?: readonly Descriptor[];
  readonly layers?: readonly Descriptor[];
  readonly config?: Descriptor;
}

export function parseManifest(text: string, subject: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`not JSON (${(error as Error).message})`, subject);
  }
  if (!isRecord(value)) throw invalid('not a JSON object', subject);
  const manifest: Manifest = value;
  return manifest;
}

/** The attestation manifest's descriptor in an index, or undefined when the index holds none. */
export function attestationIn(index: Manifest, subject: string): Descriptor | undefined {
  const manifests: readonly Descriptor[] | undefined = index.manifests;
  if (index.mediaType !== OCI_INDEX || manifests === undefined)
    throw invalid(`not an OCI image index: its media type is ${String(index.mediaType)}`, subject);
  return manifests.find((m) => m.annotations?.[ATTESTATION_TYPE] === ATTESTATION_MANIFEST);
}

/** The in-toto layer of an attestation manifest that holds the SLSA statement. */
export function provenanceLayerIn(manifest: Manifest, subject: string): Descriptor {
  const layer = (manifest.layers ?? []).find((l) => (l.annotations?.[PREDICATE_TYPE] ?? '').startsWith(SLSA));
  if (layer === undefined) throw invalid('the attestation manifest has no SLSA provenance layer', subject);
  return layer;
}

/** What to push, in this order: blobs, the attestation manifest, then the index (then its tags). */
export interface ReproducibleAttestation {
  readonly statement: Blob;
  readonly config: Blob;
  readonly attestation: Blob;
  readonly index: Blob;
}

/**
 * The statement, the attestation's configuration (its `rootfs.diff_ids` name the layer), the
 * attestation manifest and the index, rewritten around the reproducible statement.
 */
export function reproducibleAttestation(input: {
  readonly index: Manifest;
  readonly attestation: Manifest;
  readonly statement: unknown;
  readonly config: unknown;
  readonly identity: BuildIdentity;
  readonly subject: string;
}): ReproducibleAttestation {
  const { subject } = input;
  const oldAttestation = attestationIn(input.index, subject);
  if (oldAttestation === undefined) throw invalid('the image index holds no attestation manifest', subject);
  const oldLayer = provenanceLayerIn(input.attestation, subject);
  const statement = blobOf(canonicalJson(reproducibleStatement(input.statement, input.identity, subject)));
  if (!isRecord(input.config)) throw invalid("the attestation's configuration is not a JSON object", subject);
  const config = blobOf(canonicalJson(replaceDigest(input.config, oldLayer.digest, statement.digest)));
  const layers = (input.attestation.layers ?? []).map((l) =>
    l.digest === oldLayer.digest ? { ...l, digest: statement.digest, size: statement.size } : l,
  );
  if (input.attestation.config === undefined)
    throw invalid('the attestation manifest has no config', subject);
  const attestation = blobOf(
    canonicalJson({
      ...input.attestation,
      config: { ...input.attestation.config, digest: config.digest, size: config.size },
      layers,
    }),
  );
  const manifests = (input.index.manifests ?? []).map((m) =>
    m.digest === oldAttestation.digest ? { ...m, digest: attestation.digest, size: attestation.size } : m,
  );
  const index = blobOf(canonicalJson({ ...input.index, manifests }));
  return { statement, config, attestation, index };
}

/** `value` with every string equal to `from` replaced by `to` (the layer's diff id in the config). */
function replaceDigest(value: unknown, from: string, to: string): unknown {
  if (value === from) return to;
  if (Array.isArray(value)) return value.map((v) => replaceDigest(v, from, to));
  if (isRecord(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceDigest(v, from, to)]));
  return value;
}
