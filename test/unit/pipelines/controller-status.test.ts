// The pipeline controller's status writes (issue #19): a write of a run's end that fails is retried
// until the API server takes it; a newer run's status is never overwritten by an older run's retry;
// stop() drops the retries that wait; a run's Queued status whose check came back late (PostgreSQL
// answers two connections in any order) never overwrites its Running. A real SQLite Store, a HeldRunExecutor for the run Pods, a
// FakeClock for the waits between retries, and an API server that refuses writes when told.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND, type PipelineStatus } from '../../../src/contracts/pipeline.ts';
import { PipelineController } from '../../../src/pipelines/pipeline-controller.ts';
import type { PipelineSourceReader } from '../../../src/ports/pipelines.ts';
import type { RunStore } from '../../../src/ports/store.ts';
import { eventually } from '../../../src/testing/eventually.ts';
import { FakeClock } from '../../../src/testing/fake-clock.ts';
import { HeldRunExecutor } from '../../../src/testing/held-run-executor.ts';

const FILE = `concurrency: { maxRuns: 2, cancelOlder: false }
steps:
  - { name: test, image: busybox, commands: ['true'] }
`;
const SHA = 'a'.repeat(40);

const source: PipelineSourceReader = {
  readFile: () =>
    Promise.resolve({
      text: FILE,
      commit: {
        sha: SHA,
        author: 'Ann',
        email: 'ann@example.com',
        date: '2026-01-01T00:00:00Z',
        subject: 'x',
      },
    }),
  resolve: () => Promise.resolve({ sha: SHA, ref: 'refs/heads/main' }),
  refs: () => Promise.resolve(new Map([['refs/heads/main', SHA]])),
};

/**
 * The Store's runs, except that a question "which run is the Pipeline's latest" read while that run is
 * Queued is answered only once the run is Running: the answer of a slow connection, read before the
 * run started and delivered after.
 */
function lateLatest(runs: RunStore): RunStore {
  const list: RunStore['list'] = async (query) => {
    const answer = await runs.list(query);
    const latest = answer[0];
    if (query.limit === 1 && query.phase === undefined && latest?.phase === 'Queued')
      await eventually(async () => (await runs.get(latest.id))?.phase !== 'Queued', {
        what: 'the run started',
      });
    return answer;
  };
  return new Proxy(runs, {
    get: (target, key: keyof RunStore) => (key === 'list' ? list : target[key].bind(target)),
  });
}

function setup(options: { lateLatest?: boolean } = {}) {
  const store = openSqliteStore({ path: ':memory:' });
  const executor = new HeldRunExecutor();
  const clock = new FakeClock();
  const api = {
    refusing: false,
    status: undefined as PipelineStatus['lastRun'],
    refused: 0,
    written: [] as string[],
  };
  let ids = 0;
  const controller = new PipelineController({
    store: options.lateLatest === true ? lateLatest(store.runs) : store.runs,
    source,
    run: {
      executor,
      readSecret: () => Promise.resolve(undefined),
      now: () => new Date(),
      pod: { capstanImage: 'capstan:test' },
    },
    writeStatus: (_namespace, _name, status) => {
      if (api.refusing) {
        api.refused++;
        return Promise.reject(new Error('the server is currently unable to handle the request'));
      }
      api.status = status.lastRun;
      if (status.lastRun) api.written.push(`${status.lastRun.id} ${status.lastRun.phase}`);
      return Promise.resolve();
    },
    deletePod: () => Promise.resolve(),
    sleep: (ms, signal) => clock.sleep(ms, signal),
    newRunId: () => `run${String(++ids)}`,
  });
  controller.observe({
    type: 'ADDED',
    object: {
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name: 'web', namespace: 'team-a' },
      spec: { repoURL: 'https://git.example.com/team-a/web.git' },
    },
  });
  const run = async (n: number) => {
    const outcome = await controller.request('team-a', 'web', {
      id: `manual-${String(n)}`,
      kind: 'manual',
      ref: 'refs/heads/main',
      by: 'ann',
      at: new Date().toISOString(),
    });
    assert.ok('run' in outcome, 'a run');
    await eventually(() => executor.runs.get(outcome.run.id)?.followed === true, {
      what: 'the run Pod followed',
    });
    return outcome.run.id;
  };
  return { store, executor, clock, api, controller, run };
}

describe('the pipeline controller retries its status writes', () => {
  it("a run's end written while the API server refused it is written once it answers again", async () => {
    const { executor, clock, api, controller, run } = setup();
    const id = await run(1);
    assert.deepEqual(api.status, { id, phase: 'Running', revision: SHA });
    api.refusing = true;
    executor.succeed(id);
    await eventually(() => clock.pending === 1, { what: 'a retry waiting' });
    await clock.advance(1_000);
    await eventually(() => api.refused === 2 && clock.pending === 1, { what: 'the second retry waiting' });
    api.refusing = false;
    await clock.advance(2_000);
    await eventually(() => api.status?.phase === 'Succeeded', { what: 'the end written' });
    assert.deepEqual(api.status, { id, phase: 'Succeeded', revision: SHA });
    await eventually(() => controller.statusRetries === 0, { what: 'no retry left' });
    await controller.stop();
  });

  it("an older run's retry never overwrites the status of a newer run", async () => {
    const { executor, clock, api, controller, run } = setup();
    const older = await run(1);
    api.refusing = true;
    executor.succeed(older);
    await eventually(() => clock.pending === 1, { what: "the older run's retry waiting" });
    api.refusing = false;
    const newer = await run(2);
    assert.deepEqual(api.status, { id: newer, phase: 'Running', revision: SHA });
    await eventually(() => controller.statusRetries === 0, { what: "the older run's retry dropped" });
    await clock.advance(600_000);
    assert.deepEqual(api.status, { id: newer, phase: 'Running', revision: SHA });
    assert.equal(api.refused, 1);
    await controller.stop();
  });

  it('stop() drops the retries that wait', async () => {
    const { executor, clock, api, controller, run } = setup();
    const id = await run(1);
    api.refusing = true;
    executor.succeed(id);
    await eventually(() => clock.pending === 1, { what: 'a retry waiting' });
    await controller.stop();
    assert.equal(controller.statusRetries, 0);
    assert.equal(clock.pending, 0, 'the wait ended');
    api.refusing = false;
    await clock.advance(600_000);
    assert.equal(api.refused, 1, 'no retry after stop()');
    assert.deepEqual(api.status, { id, phase: 'Running', revision: SHA });
  });

  it("a run's Queued status checked late is not written over its Running", async () => {
    const { executor, api, controller, run } = setup({ lateLatest: true });
    const id = await run(1);
    await eventually(() => api.status?.phase === 'Running', { what: 'the Running status' });
    executor.succeed(id);
    await eventually(() => api.status?.phase === 'Succeeded', { what: 'the end written' });
    // Written in the phases' order; the Queued, when written, before the Running.
    const phases = api.written.map((w) => w.split(' ')[1]);
    assert.deepEqual(
      phases.filter((p) => p !== 'Queued'),
      ['Running', 'Succeeded'],
    );
    assert.ok(phases.lastIndexOf('Queued') < phases.indexOf('Running'), api.written.join(', '));
    await controller.stop();
  });
});
