/**
 * The contract every PipelineDirectory passes (DESIGN.md, "Tests": one contract suite per port, run
 * against the real adapter and any fake). The fake (fake-pipeline-directory.ts) runs it in the unit
 * tier; KubePipelineDirectory against a real API server (test/integration/pipeline-directory.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PIPELINE_API_VERSION, PIPELINE_DEFAULTS, PIPELINE_KIND } from '../contracts/pipeline.ts';
import { requesterOf, UNVERIFIED_PREFIX, type RunRequest } from '../contracts/pipeline-request.ts';
import { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import type { PipelineDirectory } from '../ports/pipelines.ts';

export interface PipelineDirectoryHarness {
  /** A directory over the harness's Pipelines: writing requests as given, or sealed with `requestKey`. */
  readonly directory: (requestKey?: Uint8Array) => PipelineDirectory;
  /** Two namespaces of their own, empty. */
  readonly namespaces: readonly [string, string];
  /** Makes the Pipeline exist. */
  create(object: KubeObject): Promise<void>;
  /** The run requests on a Pipeline, as the driver reads them from its annotations. */
  requests(namespace: string, name: string): Promise<readonly RunRequest[]>;
  /** The Pipeline's status as stored. */
  status(namespace: string, name: string): Promise<unknown>;
}

export interface PipelineDirectoryContractOptions {
  readonly open: (t: {
    after(fn: () => Promise<void>): void;
    readonly name: string;
  }) => Promise<PipelineDirectoryHarness>;
}

export const contractPipeline = (namespace: string, name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: PIPELINE_API_VERSION,
  kind: PIPELINE_KIND,
  metadata: { namespace, name },
  spec: { repoURL: 'https://git.example.com/team/app.git', ...spec },
});

const push = (id: string, by: string): RunRequest => ({
  id,
  kind: 'push',
  ref: 'refs/heads/main',
  revision: 'a'.repeat(40),
  by,
  at: '2026-03-01T00:00:00.000Z',
});

export function pipelineDirectoryContract(name: string, options: PipelineDirectoryContractOptions): void {
  describe(`PipelineDirectory contract: ${name}`, () => {
    readCases(options);
    writeCases(options);
  });
}

/** list and get: valid Pipelines with their defaults. */
function readCases(options: PipelineDirectoryContractOptions): void {
  it('lists every Pipeline with its defaults, those of one namespace, and gets one', async (t) => {
    const h = await options.open(t);
    const [a, b] = h.namespaces;
    await h.create(contractPipeline(a, 'web', { file: 'ci/pipeline.yaml', suspend: true }));
    await h.create(contractPipeline(b, 'api'));
    const ours = (await h.directory().list()).filter((p) => h.namespaces.includes(p.namespace));
    assert.deepEqual(ours.map((p) => `${p.namespace}/${p.name}`).sort(), [`${a}/web`, `${b}/api`].sort());
    const inA = await h.directory().list(a);
    assert.deepEqual(
      inA.map((p) => p.name),
      ['web'],
    );
    const [web] = inA;
    assert.ok(web);
    assert.equal(web.spec.file, 'ci/pipeline.yaml');
    assert.equal(web.spec.suspend, true);
    const api = await h.directory().get(b, 'api');
    assert.deepEqual(api?.spec, {
      project: PIPELINE_DEFAULTS.project,
      repoURL: 'https://git.example.com/team/app.git',
      credentialsSecret: undefined,
      file: PIPELINE_DEFAULTS.file,
      serviceAccountName: PIPELINE_DEFAULTS.serviceAccountName,
      registrySecret: undefined,
      pollInterval: undefined,
      suspend: false,
      forkPullRequests: PIPELINE_DEFAULTS.forkPullRequests,
    });
    assert.equal(await h.directory().get(a, 'missing'), undefined);
  });
}

/** Run requests (as given, or sealed) and status, onto existing Pipelines only. */
function writeCases(options: PipelineDirectoryContractOptions): void {
  it('writes a run request as given without a key, sealed with one; one request per ref', async (t) => {
    const h = await options.open(t);
    const [a] = h.namespaces;
    const key = new Uint8Array(32).fill(7);
    await h.create(contractPipeline(a, 'web'));
    await h.directory().requestRun({ namespace: a, name: 'web' }, push('first', 'webhook:github'));
    const [unsealed] = await h.requests(a, 'web');
    assert.equal(unsealed?.id, 'first');
    assert.equal(unsealed.seal, undefined);
    assert.equal(
      requesterOf({ namespace: a, name: 'web' }, unsealed, key),
      `${UNVERIFIED_PREFIX}webhook:github`,
    );
    // The same ref again: the later request takes the earlier one's place.
    await h.directory(key).requestRun({ namespace: a, name: 'web' }, push('second', 'alice'));
    const requests = await h.requests(a, 'web');
    assert.deepEqual(
      requests.map((r) => r.id),
      ['second'],
    );
    assert.equal(requesterOf({ namespace: a, name: 'web' }, requests[0] as RunRequest, key), 'alice');
  });

  it('writes the status (its approved fork authors read back with the Pipeline), and refuses a request or a status for a Pipeline that does not exist', async (t) => {
    const h = await options.open(t);
    const [a] = h.namespaces;
    await h.create(contractPipeline(a, 'web'));
    const status = { lastRun: { id: 'r1', phase: 'Running' as const, revision: 'b'.repeat(40) } };
    await h.directory().writeStatus(a, 'web', status);
    assert.deepEqual(await h.status(a, 'web'), status);
    // A field written alone keeps the others; an empty list replaces the list.
    const approved = [{ login: 'mallory', by: 'alice', at: '2026-12-06T00:00:00.000Z' }];
    assert.equal((await h.directory().get(a, 'web'))?.approvedForkAuthors, undefined, 'none listed yet');
    await h.directory().writeStatus(a, 'web', { approvedForkAuthors: approved });
    assert.deepEqual(await h.status(a, 'web'), { ...status, approvedForkAuthors: approved });
    // Read back with the Pipeline, by get and by list, as the server shows them.
    assert.deepEqual((await h.directory().get(a, 'web'))?.approvedForkAuthors, approved);
    const listed = (await h.directory().list(a)).find((p) => p.name === 'web');
    assert.deepEqual(listed?.approvedForkAuthors, approved);
    await h.directory().writeStatus(a, 'web', { approvedForkAuthors: [] });
    assert.deepEqual(await h.status(a, 'web'), { ...status, approvedForkAuthors: [] });
    assert.deepEqual((await h.directory().get(a, 'web'))?.approvedForkAuthors, []);
    // One after the other: both started at once, the second could reject before a handler was attached
    // (an unhandled rejection that failed the test when its answer came first).
    for (const action of [
      () => h.directory().requestRun({ namespace: a, name: 'gone' }, push('x', 'alice')),
      () => h.directory().writeStatus(a, 'gone', status),
    ]) {
      const error = await action().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof CapstanError, String(error));
      assert.equal(error.code, 'KUBE_NOT_FOUND');
    }
  });
}
