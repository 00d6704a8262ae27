import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapstanError } from '../../../src/core/errors.ts';
import {
  blobOf,
  invocationIdOf,
  reproducibleAttestation,
  reproducibleStatement,
  type BuildIdentity,
} from '../../../src/core/provenance.ts';

const identity: BuildIdentity = {
  image: 'registry.example.com/samples/hello',
  commit: 'a'.repeat(40),
  step: 'image',
  sourceDateEpoch: 1_700_000_000,
};
const commitTime = '2023-11-14T22:13:20Z';
const image = `sha256:${'1'.repeat(64)}`;

interface Build {
  readonly id: string;
  readonly started: string;
  readonly finished: string;
}

/** A statement as BuildKit writes it (SLSA v0.2, mode=min), of one build. */
function statementV02(build: { id: string; started: string; finished: string }): unknown {
  return {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: 'https://slsa.dev/provenance/v0.2',
    subject: [
      { name: 'pkg:docker/registry.example.com/samples/hello@main', digest: { sha256: '1'.repeat(64) } },
    ],
    predicate: {
      builder: { id: '' },
      buildType: 'https://mobyproject.org/buildkit@v1',
      materials: [{ uri: 'pkg:docker/capstan/node@24', digest: { sha256: '2'.repeat(64) } }],
      invocation: { configSource: { entryPoint: 'Dockerfile' }, parameters: { frontend: 'dockerfile.v0' } },
      metadata: {
        buildInvocationID: build.id,
        buildStartedOn: build.started,
        buildFinishedOn: build.finished,
        completeness: { parameters: false, environment: true, materials: false },
        reproducible: false,
        'https://mobyproject.org/buildkit@v1#metadata': { vcs: { revision: 'a'.repeat(40) } },
      },
    },
  };
}

/** The same in SLSA v1 (BuildKit v0.34's default, its id as `invocationId`). */
function statementV1(build: { id: string; started: string; finished: string }): unknown {
  return {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: 'https://slsa.dev/provenance/v1',
    subject: [
      { name: 'pkg:docker/registry.example.com/samples/hello@main', digest: { sha256: '1'.repeat(64) } },
    ],
    predicate: {
      buildDefinition: {
        buildType: 'https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md',
      },
      runDetails: {
        builder: { id: '' },
        metadata: { invocationId: build.id, startedOn: build.started, finishedOn: build.finished },
      },
    },
  };
}

const builds: readonly [Build, Build] = [
  {
    id: 'kq2b0m9w3x1n8r7t6y5u4i3o2',
    started: '2026-12-07T01:02:03.123456789Z',
    finished: '2026-12-07T01:02:09.5Z',
  },
  { id: 'zz9y8x7w6v5u4t3s2r1q0p9o8', started: '2026-12-07T02:00:00.1Z', finished: '2026-12-07T02:00:04.2Z' },
];

/** An index, attestation manifest and config around a statement, as BuildKit pushes them. */
function pushed(statement: unknown) {
  const layer = blobOf(JSON.stringify(statement));
  const config = {
    architecture: 'unknown',
    os: 'unknown',
    config: {},
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  };
  const configBlob = blobOf(JSON.stringify(config));
  const attestation = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configBlob.digest,
      size: configBlob.size,
    },
    layers: [
      {
        mediaType: 'application/vnd.in-toto+json',
        digest: layer.digest,
        size: layer.size,
        annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' },
      },
    ],
  };
  const attestationBlob = blobOf(JSON.stringify(attestation));
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: image,
        size: 1234,
        platform: { architecture: 'amd64', os: 'linux' },
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: attestationBlob.digest,
        size: attestationBlob.size,
        annotations: {
          'vnd.docker.reference.digest': image,
          'vnd.docker.reference.type': 'attestation-manifest',
        },
        platform: { architecture: 'unknown', os: 'unknown' },
      },
    ],
  };
  return {
    index,
    attestation,
    statement,
    config,
    identity,
    subject: 'registry.example.com/samples/hello@sha256:x',
  };
}

describe('reproducible provenance', () => {
  it('rewrites only the build id and times of a v0.2 statement: the id from the commit, the times the commit’s', () => {
    const before = statementV02(builds[0]) as { predicate: { metadata: Record<string, unknown> } };
    const after = reproducibleStatement(before, identity, 's') as typeof before;
    assert.equal(after.predicate.metadata['buildInvocationID'], invocationIdOf(identity));
    assert.equal(after.predicate.metadata['buildStartedOn'], commitTime);
    assert.equal(after.predicate.metadata['buildFinishedOn'], commitTime);
    // Everything else as BuildKit wrote it; the input is not changed.
    const expected = structuredClone(before);
    Object.assign(expected.predicate.metadata, {
      buildInvocationID: invocationIdOf(identity),
      buildStartedOn: commitTime,
      buildFinishedOn: commitTime,
    });
    assert.deepEqual(after, expected);
    assert.equal(before.predicate.metadata['buildInvocationID'], builds[0].id);
  });

  it('rewrites SLSA v1’s runDetails.metadata the same way', () => {
    const after = reproducibleStatement(statementV1(builds[1]), identity, 's') as {
      predicate: { runDetails: { metadata: Record<string, unknown> } };
    };
    assert.deepEqual(after.predicate.runDetails.metadata, {
      invocationId: invocationIdOf(identity),
      startedOn: commitTime,
      finishedOn: commitTime,
    });
  });

  it('derives the invocation id from the image, the commit and the step alone', () => {
    const id = invocationIdOf(identity);
    assert.match(id, /^[0-9a-z]{25}$/);
    assert.equal(invocationIdOf({ ...identity, sourceDateEpoch: 1 }), id);
    assert.notEqual(invocationIdOf({ ...identity, commit: 'b'.repeat(40) }), id);
    assert.notEqual(invocationIdOf({ ...identity, step: 'other' }), id);
    assert.notEqual(invocationIdOf({ ...identity, image: 'registry.example.com/other' }), id);
  });

  it('gives two builds of one commit the same index digest, naming the new attestation, config and layer', () => {
    const [one, two] = builds.map((b) => reproducibleAttestation(pushed(statementV02(b))));
    assert.ok(one && two);
    assert.equal(one.index.digest, two.index.digest);
    assert.deepEqual(one.index.bytes, two.index.bytes);
    const index = JSON.parse(one.index.bytes.toString('utf8')) as {
      manifests: { digest: string; size: number }[];
    };
    assert.equal(index.manifests[0]?.digest, image, 'the image itself is not touched');
    assert.deepEqual(
      [index.manifests[1]?.digest, index.manifests[1]?.size],
      [one.attestation.digest, one.attestation.size],
    );
    const manifest = JSON.parse(one.attestation.bytes.toString('utf8')) as {
      config: { digest: string; size: number };
      layers: { digest: string; size: number; annotations: Record<string, string> }[];
    };
    assert.deepEqual([manifest.config.digest, manifest.config.size], [one.config.digest, one.config.size]);
    assert.deepEqual(
      [manifest.layers[0]?.digest, manifest.layers[0]?.size],
      [one.statement.digest, one.statement.size],
    );
    assert.equal(
      manifest.layers[0]?.annotations['in-toto.io/predicate-type'],
      'https://slsa.dev/provenance/v0.2',
    );
    const config = JSON.parse(one.config.bytes.toString('utf8')) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, [one.statement.digest]);
    // Canonical: sorted keys, so the bytes do not depend on the order BuildKit wrote them in.
    const statement = one.statement.bytes.toString('utf8');
    assert.ok(statement.indexOf('"_type"') < statement.indexOf('"predicate"'), statement);
    assert.ok(!statement.includes('\n'));
  });

  it('gives another commit another index digest', () => {
    const one = reproducibleAttestation(pushed(statementV02(builds[0])));
    const other = reproducibleAttestation({
      ...pushed(statementV02(builds[0])),
      identity: { ...identity, commit: 'c'.repeat(40) },
    });
    assert.notEqual(other.index.digest, one.index.digest);
  });

  it('refuses what is not BuildKit’s provenance, naming the image', () => {
    const noAttestation = pushed(statementV02(builds[0]));
    const index = { ...noAttestation.index, manifests: noAttestation.index.manifests.slice(0, 1) };
    assert.throws(
      () => reproducibleAttestation({ ...noAttestation, index }),
      (e: unknown) =>
        e instanceof CapstanError &&
        e.code === 'PIPELINE_ATTESTATION_INVALID' &&
        /samples\/hello@sha256:x: the image index holds no attestation manifest/.test(e.message),
    );
    assert.throws(
      () =>
        reproducibleStatement({ predicateType: 'https://spdx.dev/Document', predicate: {} }, identity, 'ref'),
      /ref: the statement's predicateType is "https:\/\/spdx.dev\/Document", not SLSA/,
    );
    assert.throws(
      () =>
        reproducibleAttestation({
          ...noAttestation,
          index: { mediaType: 'application/vnd.oci.image.manifest.v1+json' },
        }),
      /not an OCI image index/,
    );
  });
});
