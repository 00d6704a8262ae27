// Adopting a run whose driver stopped (adoptPipelineRun): the executor is told how many lines of each
// step the Store has (a line Capstan wrote itself about an unreadable log is not one of them), the
// lines after them are stored, and the end is recorded. A HeldRunExecutor plays the Pod that went on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { resolvePipelineSpec } from '../../../src/contracts/pipeline.ts';
import {
  adoptPipelineRun,
  queuedRecord,
  type PipelineRunRequest,
} from '../../../src/pipelines/run-pipeline.ts';
import type { AdoptOptions } from '../../../src/ports/run-executor.ts';
import { eventually } from '../../../src/testing/eventually.ts';
import { HeldRunExecutor } from '../../../src/testing/held-run-executor.ts';
import { contractRunPod } from '../../../src/testing/run-executor-contract.ts';

const FILE = `steps:
  - { name: build, image: busybox, commands: ['true'] }
  - { name: test, image: busybox, commands: ['true'] }
`;

describe('adopting a run', () => {
  it('skips the lines the Store has of each step, stores the rest, and records the end', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const executor = new HeldRunExecutor();
    const runId = 'adopt1';
    const request: PipelineRunRequest = {
      namespace: 'team-a',
      pipeline: 'web',
      spec: resolvePipelineSpec({ repoURL: 'https://git.example.com/team/web.git' }),
      fileText: FILE,
      runId,
      revision: 'a'.repeat(40),
      branch: 'main',
      trigger: 'push',
      triggeredBy: 'webhook:github',
      queued: true,
    };
    // What the driver before left: the run Running, some lines, its Pod going (held, no one following).
    await store.runs.create({
      ...queuedRecord(request, ['checkout', 'build', 'test'], new Date().toISOString()),
      phase: 'Running',
    });
    const time = new Date().toISOString();
    await store.runs.appendLogs(runId, [
      { step: 'checkout', time, line: 'checked out' },
      { step: 'build', time, line: 'one' },
      { step: 'build', time, line: 'capstan: the log of step build could not be read: a reset' },
      { step: 'build', time, line: 'two' },
    ]);
    const detached = await executor.execute(contractRunPod('team-a', runId), {
      stepTimeoutsMs: {},
      masked: [],
      onLog: () => undefined,
      onState: () => undefined,
      detach: AbortSignal.abort(),
    });
    assert.equal(detached.outcome, 'Detached');

    const adopting = adoptPipelineRun(request, {
      store: store.runs,
      executor,
      readSecret: () => Promise.resolve(undefined),
      now: () => new Date(),
      pod: { capstanImage: 'capstan:test' },
    });
    await eventually(() => executor.runs.get(runId)?.followed === true, { what: 'the run adopted' });
    const held = executor.runs.get(runId);
    assert.deepEqual((held?.options as AdoptOptions).skipLines, { checkout: 1, build: 2 });
    held?.options.onLog('build', 'three');
    executor.succeed(runId);
    const record = await adopting;
    assert.equal(record.phase, 'Succeeded');
    assert.deepEqual(
      record.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['build', 'Succeeded'],
        ['test', 'Succeeded'],
      ],
    );
    assert.deepEqual(
      (await store.runs.logs(runId, { step: 'build', limit: 10 })).map((l) => l.line),
      ['one', 'capstan: the log of step build could not be read: a reset', 'two', 'three'],
    );
    assert.deepEqual(executor.started, [runId], 'adopting made no Pod');
    await store.close();
  });
});
