// Image steps on the dev cluster's real node (issue #19's acceptance): a sample application of our own
// (a tiny HTTP server with a unit test, FROM the cluster's Node.js base image given as a build argument)
// in a repository of the test git server; its tests run as a step, then BuildKit in the cluster builds
// and pushes the image. A failing test stops the run and pushes nothing; the fix is built, pushed by
// digest and tagged, and read back independently with skopeo; the same commit builds the same digest;
// a registry that refuses the push fails the run with its reason and leaves no tag.
// Node tier: needs root; runs on CAPSTAN_NODE_TEST_CLUSTER (default capstan-node-test).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPOSITORY_ROOT } from '../../src/devcluster/capstan-image.ts';
import { run } from '../../src/devcluster/exec.ts';
import type { RegistryState } from '../../src/devcluster/registry.ts';
import type { RunRecord, Store } from '../../src/ports/store.ts';
import {
  closePipelineNodeSetup,
  pipelineNodeSetup,
  provenanceWithSkopeo,
  registryPullSecret,
  runSampleOnNode,
  type NodeGitServer,
  type PipelineNodeSetup,
} from '../../src/testing/pipeline-node.ts';
import { sampleApp } from '../../src/testing/pipeline-sample.ts';
import { realNodeCluster } from '../../src/testing/real-node.ts';

let setup: PipelineNodeSetup;
let registry: RegistryState;
let git: NodeGitServer;
let gitRoot: string;
let nodeBase: string;
let store: Store;
/** The commit the provenance cases build. */
let fixedRevision = '';
const namespace = `image-${randomBytes(3).toString('hex')}`;
const repository = `samples/hello-${randomBytes(3).toString('hex')}`;

before(async () => {
  const cluster = await realNodeCluster();
  setup = await pipelineNodeSetup(cluster, namespace);
  ({ registry, git, gitRoot, nodeBase, store } = setup);
  await registryPullSecret(cluster, setup.kube, namespace, { name: 'wrong-password', password: 'not-it' });
});

after(() => closePipelineNodeSetup(setup));

/** Runs the pipeline at `revision` as the agent will, and returns its record. */
function runAt(
  revision: string,
  files: Record<string, string>,
  options: { registrySecret: string },
): Promise<RunRecord> {
  return runSampleOnNode(setup, {
    revision,
    files,
    registrySecret: options.registrySecret,
    triggeredBy: 'webhook',
  });
}

/** skopeo as a user would run it against the cluster's registry; rejects with its error. */
async function skopeo(args: readonly string[]): Promise<string> {
  const { stdout } = await run(
    'skopeo',
    [args[0] ?? 'inspect', '--authfile', registry.authFile, '--cert-dir', registry.certDir, ...args.slice(1)],
    { timeoutMs: 60_000 },
  );
  return stdout;
}

/**
 * `capstan pipeline attest-normalize` on an index of the fixed commit, as a user runs it with the
 * registry's credentials and CA; returns the reproducible index's digest.
 */
async function attestNormalize(reference: string): Promise<string> {
  const repo = join(gitRoot, 'repos', 'hello.git');
  const epoch = (await run('git', ['-C', repo, 'log', '-1', '--format=%ct', fixedRevision])).stdout.trim();
  const dockerConfig = await mkdtemp(join(tmpdir(), 'capstan-docker-'));
  try {
    await copyFile(registry.authFile, join(dockerConfig, 'config.json'));
    const { stdout } = await run(
      process.execPath,
      [
        join(REPOSITORY_ROOT, 'src', 'cli', 'main.ts'),
        'pipeline',
        'attest-normalize',
        '--image',
        reference,
        '--commit',
        fixedRevision,
        '--step',
        'image',
        '--source-date-epoch',
        epoch,
        '--tag',
        fixedRevision.slice(0, 12),
        '--tag',
        'main',
        '--registry-ca',
        registry.caFile,
      ],
      { timeoutMs: 120_000, env: { ...process.env, DOCKER_CONFIG: dockerConfig } },
    );
    const digest = /^digest=(sha256:[0-9a-f]{64})$/m.exec(stdout)?.[1];
    assert.ok(digest, stdout);
    return digest;
  } finally {
    await rm(dockerConfig, { recursive: true, force: true });
  }
}

/** The node's architecture as OCI names it (the platform BuildKit builds). */
function nodeArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/** Where BuildKit's provenance (SLSA v1) keeps what names one build: its id and its times. */
interface Provenance {
  runDetails?: { metadata?: Record<string, unknown> };
}

async function logOf(record: RunRecord): Promise<string> {
  const lines = await store.runs.logs(record.id, { limit: 10_000 });
  return lines.map((l) => `[${l.step}] ${l.line}`).join('\n');
}

interface OciIndex {
  readonly mediaType: string;
  readonly manifests: readonly {
    readonly digest: string;
    readonly platform?: { readonly os: string };
    readonly annotations?: Readonly<Record<string, string>>;
  }[];
}

describe('image steps with BuildKit in the cluster', () => {
  let fixed: { revision: string; record: RunRecord };

  it('stops at a failing test: the image step never runs and nothing is pushed', async () => {
    const files = sampleApp({ greeting: 'helo', nodeBase, registry: registry.address, repository });
    const revision = await git.commit('hello', files, 'a typo breaks the test');
    const record = await runAt(revision, files, { registrySecret: 'registry' });
    const log = await logOf(record);
    assert.equal(record.phase, 'Failed', log);
    assert.deepEqual(
      record.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['test', 'Failed'],
        ['image', 'Skipped'],
      ],
    );
    assert.match(record.statusMessage ?? '', /step test failed \(exit code 1\)/);
    assert.deepEqual(record.images, []);
    await assert.rejects(skopeo(['list-tags', `docker://${registry.address}/${repository}`]), /404|unknown/i);
  });

  it('builds and pushes the fix by digest, tagged and labelled, with a provenance attestation (the default), as skopeo reads it', async () => {
    const files = sampleApp({ greeting: 'hello', nodeBase, registry: registry.address, repository });
    const revision = await git.commit('hello', files, 'fix the greeting');
    const record = await runAt(revision, files, { registrySecret: 'registry' });
    const log = await logOf(record);
    assert.equal(record.phase, 'Succeeded', `${record.statusMessage ?? ''}\n${log}`);
    const [image] = record.images;
    assert.ok(image && record.images.length === 1, JSON.stringify(record.images));
    assert.equal(image.step, 'image');
    assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(image.reference, `${registry.address}/${repository}@${image.digest}`);
    assert.deepEqual(image.tags, [revision.slice(0, 12), 'main']);
    // The step logs BuildKit's index; the run records it with its attestation made reproducible.
    assert.ok(log.includes(`capstan: pushed ${registry.address}/${repository}@sha256:`), log);
    fixed = { revision, record };
    fixedRevision = revision;

    // The tags lead to the digest; the index holds the image and BuildKit's attestation for it.
    const byTag = JSON.parse(
      await skopeo(['inspect', '--raw', `docker://${registry.address}/${repository}:main`]),
    ) as OciIndex;
    const index = JSON.parse(await skopeo(['inspect', '--raw', `docker://${image.reference}`])) as OciIndex;
    assert.deepEqual(byTag, index);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    const platform = index.manifests.find((m) => m.platform?.os === 'linux');
    const attestation = index.manifests.find(
      (m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest',
    );
    assert.ok(platform && attestation, JSON.stringify(index));
    assert.equal(attestation.annotations?.['vnd.docker.reference.digest'], platform.digest);
    const attestationManifest = JSON.parse(
      await skopeo(['inspect', '--raw', `docker://${registry.address}/${repository}@${attestation.digest}`]),
    ) as { layers: { annotations?: Record<string, string> }[] };
    assert.ok(
      attestationManifest.layers.some((l) =>
        (l.annotations?.['in-toto.io/predicate-type'] ?? '').startsWith('https://slsa.dev/provenance/'),
      ),
      JSON.stringify(attestationManifest),
    );

    // The image's configuration: labels of its source and revision, created at the commit's time.
    const config = JSON.parse(
      await skopeo(['inspect', '--config', `docker://${registry.address}/${repository}@${platform.digest}`]),
    ) as { created: string; config: { Labels: Record<string, string>; Cmd: string[]; User: string } };
    assert.equal(config.config.Labels['org.opencontainers.image.source'], `${git.baseUrl}/hello.git`);
    assert.equal(config.config.Labels['org.opencontainers.image.revision'], revision);
    assert.deepEqual(config.config.Cmd, ['/app/server.js']);
    assert.equal(config.config.User, '65532');
    const commitTime = (
      await run('git', ['-C', join(gitRoot, 'repos', 'hello.git'), 'log', '-1', '--format=%cI', revision])
    ).stdout.trim();
    assert.equal(Date.parse(config.created), Date.parse(commitTime));
  });

  it('builds the same commit again to the same index digest: the same image and the same attestation', async () => {
    assert.ok(fixed, 'the previous case pushed an image');
    const files = sampleApp({ greeting: 'hello', nodeBase, registry: registry.address, repository });
    const again = await runAt(fixed.revision, files, { registrySecret: 'registry' });
    assert.equal(again.phase, 'Succeeded', again.statusMessage);
    const [first, second] = [fixed.record.images[0], again.images[0]];
    assert.ok(first && second);
    // Issue #19: the same commit builds the same digest, and that index carries the provenance.
    assert.equal(second.digest, first.digest);
    assert.equal(second.reference, first.reference);
    // Read independently: the tag leads to that index; it holds the image and the attestation, whose
    // statement is about that image and names the repository and the commit; the fields that name one
    // build are the commit's (docs/pipelines.md, "Reproducible").
    const tagged = (
      await skopeo(['inspect', '--format', '{{.Digest}}', `docker://${registry.address}/${repository}:main`])
    ).trim();
    assert.equal(tagged, first.digest);
    const index = JSON.parse(await skopeo(['inspect', '--raw', `docker://${first.reference}`])) as OciIndex;
    const image = index.manifests.find((m) => m.platform?.os === 'linux')?.digest;
    assert.match(image ?? '', /^sha256:/);
    const statement = (await provenanceWithSkopeo(registry, first.reference)) as {
      subject: unknown;
      predicate: Provenance;
    };
    assert.deepEqual(statement.subject, [
      {
        name: `pkg:docker/${registry.address}/${repository}@${fixed.revision.slice(0, 12)}?platform=linux%2F${nodeArch()}`,
        digest: { sha256: (image ?? '').slice(7) },
      },
      {
        name: `pkg:docker/${registry.address}/${repository}@main?platform=linux%2F${nodeArch()}`,
        digest: { sha256: (image ?? '').slice(7) },
      },
    ]);
    const metadata = statement.predicate.runDetails?.metadata ?? {};
    const vcs = (metadata['buildkit_metadata'] as { vcs?: Record<string, string> } | undefined)?.vcs;
    assert.deepEqual(
      vcs,
      { source: `${git.baseUrl}/hello.git`, revision: fixed.revision },
      JSON.stringify(metadata),
    );
    const commitTime = (
      await run('git', [
        '-C',
        join(gitRoot, 'repos', 'hello.git'),
        'log',
        '-1',
        '--format=%cI',
        fixed.revision,
      ])
    ).stdout.trim();
    assert.equal(Date.parse(String(metadata['startedOn'])), Date.parse(commitTime), JSON.stringify(metadata));
    assert.equal(Date.parse(String(metadata['finishedOn'])), Date.parse(commitTime));
    assert.match(String(metadata['invocationId']), /^[0-9a-z]{25}$/);
    // capstan pipeline attest-normalize, by hand on the recorded index, changes nothing: already reproducible.
    assert.equal(await attestNormalize(first.reference), first.digest);
  });

  it('with provenance: false, the same commit built twice pushes the same image manifest digest', async () => {
    const files = sampleApp({
      greeting: 'hello',
      nodeBase,
      registry: registry.address,
      repository,
      version: '2',
      provenance: false,
    });
    const revision = await git.commit('hello', files, 'no attestation: a reproducible digest');
    const first = await runAt(revision, files, { registrySecret: 'registry' });
    assert.equal(first.phase, 'Succeeded', first.statusMessage);
    const again = await runAt(revision, files, { registrySecret: 'registry' });
    assert.equal(again.phase, 'Succeeded', again.statusMessage);
    const [one, two] = [first.images[0], again.images[0]];
    assert.ok(one && two, JSON.stringify([first.images, again.images]));
    assert.equal(two.digest, one.digest);
    // Read independently: the tag leads to that digest, an image manifest with no attestation.
    const tagged = JSON.parse(
      await skopeo([
        'inspect',
        '--raw',
        `docker://${registry.address}/${repository}:${revision.slice(0, 12)}`,
      ]),
    ) as { mediaType: string; manifests?: unknown };
    assert.equal(tagged.mediaType, 'application/vnd.oci.image.manifest.v1+json', JSON.stringify(tagged));
    const digest = (
      await skopeo([
        'inspect',
        '--format',
        '{{.Digest}}',
        `docker://${registry.address}/${repository}:${revision.slice(0, 12)}`,
      ])
    ).trim();
    assert.equal(digest, one.digest);
  });

  it('fails the run with the registry’s reason when it refuses the push, and leaves no tag', async () => {
    const refused = `${repository}-refused`;
    const files = sampleApp({ greeting: 'hello', nodeBase, registry: registry.address, repository: refused });
    const revision = await git.commit('hello', files, 'push elsewhere');
    const record = await runAt(revision, files, { registrySecret: 'wrong-password' });
    const log = await logOf(record);
    assert.equal(record.phase, 'Failed', log);
    assert.deepEqual(
      record.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['test', 'Succeeded'],
        ['image', 'Failed'],
      ],
    );
    assert.match(record.statusMessage ?? '', /step image failed \(exit code 1\): .*(401|unauthorized)/i);
    assert.deepEqual(record.images, []);
    await assert.rejects(skopeo(['list-tags', `docker://${registry.address}/${refused}`]), /404|unknown/i);
  });
});
