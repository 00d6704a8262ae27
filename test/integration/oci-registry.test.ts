// The registry side of reproducible provenance (src/adapters/registry/) against a real registry
// (Debian's docker-registry, CNCF distribution, on loopback with TLS and htpasswd): an index with a
// BuildKit-shaped attestation is pushed, made reproducible, its tags moved; failures name the registry
// and the reference, and only transient ones are retried.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciRegistry } from '../../src/adapters/registry/oci-registry.ts';
import { parsePipelineFile } from '../../src/contracts/pipeline-file.ts';
import { reproducibleImages } from '../../src/pipelines/reproducible-images.ts';
import { RegistryAttestations } from '../../src/adapters/registry/reproducible-attestation.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { blobOf, OCI_INDEX, OCI_MANIFEST } from '../../src/core/provenance.ts';
import { createPki } from '../../src/devcluster/pki.ts';
import { freePort } from '../../src/devcluster/ports.ts';
import { startProcess, stopProcess, type ProcessRecord } from '../../src/devcluster/processes.ts';
import {
  prepareRegistry,
  registryPassword,
  waitRegistryReady,
  type RegistryState,
} from '../../src/devcluster/registry.ts';

let root: string;
let state: RegistryState;
let record: ProcessRecord | undefined;
let ca: string;
let dockerConfig: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'capstan-oci-registry-'));
  const pki = await createPki(join(root, 'pki'));
  const prepared = await prepareRegistry({ root, pki, port: await freePort(), logs: root });
  state = prepared.state;
  const started = startProcess(prepared.start);
  record = started;
  await waitRegistryReady(state, started, Date.now() + 60_000);
  ca = await readFile(state.caFile, 'utf8');
  dockerConfig = await readFile(state.authFile, 'utf8');
});

after(async () => {
  if (record) await stopProcess(record);
  await rm(root, { recursive: true, force: true });
});

/** Pushes an index as BuildKit does: an image and an attestation with one build's id and times. */
async function pushBuild(registry: OciRegistry, repository: string, build: string): Promise<string> {
  const config = Buffer.from(
    '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
  );
  await registry.putBlob(repository, config);
  const image = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        ...descriptor(blobOf(config.toString())),
      },
      layers: [],
    }),
  );
  await registry.putManifest(repository, image.digest, image.bytes, OCI_MANIFEST);
  const statement = blobOf(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: 'https://slsa.dev/provenance/v1',
      subject: [
        { name: `pkg:docker/${state.address}/${repository}@main`, digest: { sha256: image.digest.slice(7) } },
      ],
      predicate: {
        runDetails: {
          builder: { id: '' },
          metadata: {
            invocationId: build,
            startedOn: `2026-12-07T01:00:0${build.length % 10}Z`,
            finishedOn: '2026-12-07T01:00:09Z',
          },
        },
      },
    }),
  );
  await registry.putBlob(repository, statement.bytes);
  const empty = Buffer.from('{}');
  await registry.putBlob(repository, empty);
  const attestation = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.docker.attestation.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...descriptor(blobOf('{}')), data: 'e30=' },
      layers: [
        {
          mediaType: 'application/vnd.in-toto+json',
          ...descriptor(statement),
          annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1' },
        },
      ],
    }),
  );
  await registry.putManifest(repository, attestation.digest, attestation.bytes, OCI_MANIFEST);
  const index = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, ...descriptor(image), platform: { architecture: 'amd64', os: 'linux' } },
        {
          mediaType: OCI_MANIFEST,
          ...descriptor(attestation),
          annotations: {
            'vnd.docker.reference.digest': image.digest,
            'vnd.docker.reference.type': 'attestation-manifest',
          },
          platform: { architecture: 'unknown', os: 'unknown' },
        },
      ],
    }),
  );
  await registry.putManifest(repository, index.digest, index.bytes, OCI_INDEX);
  await registry.putManifest(repository, 'main', index.bytes, OCI_INDEX);
  return index.digest;
}

function descriptor(blob: { digest: string; size: number }) {
  return { digest: blob.digest, size: blob.size };
}

function registryWith(password: string, options: { attempts?: number } = {}): OciRegistry {
  return new OciRegistry({
    registry: state.address,
    credentials: { username: state.username, password },
    ca,
    retryDelayMs: 10,
    ...options,
  });
}

const identity = (repository: string) => ({
  image: `${state.address}/${repository}`,
  commit: 'a'.repeat(40),
  step: 'image',
  sourceDateEpoch: 1_700_000_000,
});

describe('reproducible attestations on a real registry', () => {
  it('gives two builds of one commit one index, moves the tag to it, and changes nothing the second time', async () => {
    const registry = registryWith(registryPassword(state));
    const repository = 'samples/attested';
    const port = new RegistryAttestations({ ca });
    const first = await pushBuild(registry, repository, 'firstbuildid0000000000000');
    const one = await port.make({
      image: `${state.address}/${repository}`,
      digest: first,
      tags: ['main'],
      identity: identity(repository),
      dockerConfig,
    });
    const second = await pushBuild(registry, repository, 'secondbuildid000000000000');
    assert.notEqual(second, first);
    const two = await port.make({
      image: `${state.address}/${repository}`,
      digest: second,
      tags: ['main'],
      identity: identity(repository),
      dockerConfig,
    });
    assert.equal(two, one);
    assert.notEqual(one, first);
    const tagged = await registry.manifest(repository, 'main');
    assert.equal(blobOf(tagged.bytes.toString('utf8')).digest, one);
    assert.equal(tagged.mediaType, OCI_INDEX);
    // Already reproducible: the same digest again.
    assert.equal(
      await port.make({
        image: `${state.address}/${repository}`,
        digest: one,
        tags: [],
        identity: identity(repository),
        dockerConfig,
      }),
      one,
    );
  });

  it('names the registry and the reference when the registry refuses, and does not retry what a retry cannot fix', async () => {
    const registry = registryWith('not-the-password');
    await assert.rejects(
      registry.manifest('samples/attested', 'main'),
      (e: unknown) =>
        e instanceof CapstanError &&
        e.code === 'PIPELINE_REGISTRY_FAILED' &&
        !e.retryable &&
        e.message.includes(`GET ${state.address}/samples/attested:main: the registry answered 401`) &&
        !e.message.includes('not-the-password') &&
        !e.message.includes('attempts'),
    );
    const missing = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      registryWith(registryPassword(state)).manifest('samples/attested', missing),
      new RegExp(
        `GET ${state.address}/samples/attested@${missing}: the registry answered 404: MANIFEST_UNKNOWN`,
      ),
    );
  });

  it('retries a registry it cannot reach a bounded number of times, then says so', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const registry = new OciRegistry({ registry: address, ca, attempts: 3, retryDelayMs: 10 });
    await assert.rejects(
      registry.manifest('samples/attested', 'main'),
      (e: unknown) =>
        e instanceof CapstanError &&
        e.code === 'PIPELINE_REGISTRY_UNREACHABLE' &&
        e.retryable &&
        e.message.startsWith(`GET ${address}/samples/attested:main: `) &&
        e.message.endsWith('(after 3 attempts)'),
    );
  });

  it('records a run’s images with their attestations made reproducible, or fails naming the step and the image', async () => {
    const registry = registryWith(registryPassword(state));
    const repository = 'samples/recorded';
    const built = await pushBuild(registry, repository, 'recordedbuild000000000000');
    const file = parsePipelineFile(
      [
        'steps:',
        '  - name: image',
        '    build: { registry: r, repository: samples/recorded }',
        '  - name: plain',
        '    build: { registry: r, repository: samples/plain, provenance: false }',
        '',
      ].join('\n'),
      '.capstan/pipeline.yaml',
    );
    const image = `${state.address}/${repository}`;
    const pushed = [
      {
        step: 'image',
        reference: `${image}@${built}`,
        digest: built,
        tags: ['main'],
        sourceDateEpoch: 1_700_000_000,
      },
      {
        step: 'plain',
        reference: `${state.address}/samples/plain@${built}`,
        digest: built,
        tags: [],
        sourceDateEpoch: 1,
      },
    ];
    const context = {
      file,
      commit: 'a'.repeat(40),
      attestations: new RegistryAttestations({ ca }),
      dockerConfig: () => Promise.resolve(dockerConfig),
    };
    const done = await reproducibleImages(pushed, context);
    assert.equal(done.failure, undefined);
    const expected = await new RegistryAttestations({ ca }).make({
      image,
      digest: built,
      tags: [],
      identity: identity(repository),
      dockerConfig,
    });
    assert.deepEqual(done.images, [
      { step: 'image', reference: `${image}@${expected}`, digest: expected, tags: ['main'] },
      // provenance: false: as the step pushed it.
      { step: 'plain', reference: `${state.address}/samples/plain@${built}`, digest: built, tags: [] },
    ]);
    const wrong = JSON.stringify({
      auths: { [state.address]: { auth: Buffer.from(`${state.username}:nope`).toString('base64') } },
    });
    const refused = await reproducibleImages(pushed, {
      ...context,
      dockerConfig: () => Promise.resolve(wrong),
    });
    assert.match(
      refused.failure ?? '',
      new RegExp(
        `^step image: the provenance attestation of ${image}@${built} was not made reproducible: GET ${image}@${built}: the registry answered 401`,
      ),
    );
    // Every image is recorded, the refused one as BuildKit pushed it.
    assert.deepEqual(refused.images, [
      { step: 'image', reference: `${image}@${built}`, digest: built, tags: ['main'] },
      { step: 'plain', reference: `${state.address}/samples/plain@${built}`, digest: built, tags: [] },
    ]);
  });

  it('does not fail a run when the registry does not answer the process that rewrites: BuildKit’s index is recorded, and the run says why', async () => {
    // A registry address nothing listens on (as the dev cluster's 127.0.0.1:<r> is from a Pod, unless
    // the server maps it to the node's address with --registry-endpoint: the next case).
    const address = `127.0.0.1:${await freePort()}`;
    const built = `sha256:${'1'.repeat(64)}`;
    const file = parsePipelineFile(
      ['steps:', '  - name: image', '    build: { registry: r, repository: samples/away }', ''].join('\n'),
      '.capstan/pipeline.yaml',
    );
    const pushed = [
      {
        step: 'image',
        reference: `${address}/samples/away@${built}`,
        digest: built,
        tags: ['main'],
        sourceDateEpoch: 1_700_000_000,
      },
    ];
    const done = await reproducibleImages(pushed, {
      file,
      commit: 'b'.repeat(40),
      attestations: new RegistryAttestations({ ca }),
      dockerConfig: () => Promise.resolve(undefined),
    });
    assert.equal(done.failure, undefined);
    assert.match(
      done.notice ?? '',
      new RegExp(
        `^step image: the provenance attestation of ${address}/samples/away@${built} was not made reproducible: .*\\(attested, not reproducible\\)$`,
      ),
    );
    assert.deepEqual(done.images, [
      { step: 'image', reference: `${address}/samples/away@${built}`, digest: built, tags: ['main'] },
    ]);
  });

  it('reaches a registry at the endpoint mapped to the name its images carry (--registry-endpoint): credentials, references and messages name the registry, TLS the endpoint', async () => {
    // A name nothing resolves (.invalid), as 127.0.0.1:<r> is to a Pod; the registry answers at its address.
    const name = `capstan-registry.invalid:${String(state.port)}`;
    const repository = 'samples/mirrored';
    const direct = registryWith(registryPassword(state));
    const built = await pushBuild(direct, repository, 'mirroredbuild000000000000');
    // The Pipeline's credentials name the registry as its images do.
    const auth = Buffer.from(`${state.username}:${registryPassword(state)}`).toString('base64');
    const config = JSON.stringify({ auths: { [name]: { auth } } });
    const request = {
      image: `${name}/${repository}`,
      digest: built,
      tags: ['main'],
      identity: { ...identity(repository), image: `${name}/${repository}` },
      dockerConfig: config,
    };
    // Without the mapping the name leads nowhere: the registry does not answer.
    await assert.rejects(
      new OciRegistry({ registry: name, ca, attempts: 1 }).manifest(repository, built),
      (e: unknown) =>
        e instanceof CapstanError &&
        e.code === 'PIPELINE_REGISTRY_UNREACHABLE' &&
        e.message.startsWith(`GET ${name}/${repository}@${built}: `),
    );
    // With it: the blobs uploaded (the registry's upload locations name the endpoint), the index and
    // the tag put, all authorised with the name's credentials.
    const mapped = new RegistryAttestations({ ca, endpoints: { [name]: state.address } });
    const made = await mapped.make(request);
    assert.notEqual(made, built);
    const tagged = await direct.manifest(repository, 'main');
    assert.equal(blobOf(tagged.bytes.toString('utf8')).digest, made);
    // The same commit's build again through the mapping: the same index.
    const again = await pushBuild(direct, repository, 'mirroredagain000000000000');
    assert.equal(await mapped.make({ ...request, digest: again }), made);
    // An endpoint that does not answer is named in the message, beside the registry's name.
    const away = `127.0.0.1:${String(await freePort())}`;
    await assert.rejects(
      new OciRegistry({ registry: name, endpoint: away, ca, attempts: 1 }).manifest(repository, made),
      (e: unknown) =>
        e instanceof CapstanError &&
        e.code === 'PIPELINE_REGISTRY_UNREACHABLE' &&
        e.message.startsWith(`GET ${name}/${repository}@${made} (through ${away}): `),
    );
  });
});
