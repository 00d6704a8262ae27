// The HeldRunExecutor of the pipeline tests passes the same contract as KubeRunExecutor on a real API
// server (test/integration/run-executor.test.ts): here the test plays the node, scripting how each run ends.
import { describe } from 'node:test';
import { HeldRunExecutor, stepsOf } from '../../../src/testing/held-run-executor.ts';
import { runExecutorContract } from '../../../src/testing/run-executor-contract.ts';

describe('HeldRunExecutor', () => {
  runExecutorContract('held', {
    open: () => {
      const executor = new HeldRunExecutor();
      return Promise.resolve({
        executor,
        namespace: 'team-a',
        prepare: (pod, ending) => {
          const id = pod.metadata.labels?.['capstan.dev/run'] ?? '';
          if (ending === 'succeeds')
            executor.script(id, { outcome: 'Succeeded', steps: stepsOf(pod, 'Succeeded') });
          if (ending === 'fails') {
            const done = stepsOf(pod, 'Succeeded');
            const last = done.pop();
            if (last === undefined) throw new Error('a run Pod has steps');
            executor.script(id, {
              outcome: 'Failed',
              steps: [...done, { ...last, phase: 'Failed', exitCode: 1 }],
              reason: 'Error',
              message: `step ${last.name} failed (exit code 1)`,
            });
          }
          return Promise.resolve(pod);
        },
      });
    },
  });
});
