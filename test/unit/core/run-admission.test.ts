import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admitRun, type ActiveRun, type ConcurrencyRules } from '../../../src/core/run-admission.ts';

const run = (id: string, phase: ActiveRun['phase'], branch?: string, trigger = 'push'): ActiveRun => ({
  id,
  phase,
  trigger,
  ...(branch === undefined ? {} : { branch }),
});

describe('admitRun', () => {
  const one: ConcurrencyRules = { maxRuns: 1, cancelOlder: true };
  const table: [string, ActiveRun[], ActiveRun, ConcurrencyRules, string[], string[]][] = [
    ['a first run starts', [], run('n', 'Queued', 'main'), one, [], ['n']],
    [
      'a newer push to the branch cancels the running one and starts',
      [run('a', 'Running', 'main')],
      run('n', 'Queued', 'main'),
      one,
      ['a'],
      ['n'],
    ],
    [
      'a push to another branch waits for the free slot',
      [run('a', 'Running', 'main')],
      run('n', 'Queued', 'dev'),
      one,
      [],
      [],
    ],
    [
      'without cancelOlder the newer push waits',
      [run('a', 'Running', 'main')],
      run('n', 'Queued', 'main'),
      { maxRuns: 1, cancelOlder: false },
      [],
      [],
    ],
    [
      'two slots: the waiting older run starts before the new one',
      [run('a', 'Running', 'x'), run('b', 'Queued', 'y')],
      run('n', 'Queued', 'z'),
      { maxRuns: 2, cancelOlder: true },
      [],
      ['b'],
    ],
    [
      'a manual run never cancels a push',
      [run('a', 'Running', 'main')],
      run('n', 'Queued', 'main', 'manual'),
      one,
      [],
      [],
    ],
    [
      'a push never cancels a manual run',
      [run('a', 'Running', 'main', 'manual')],
      run('n', 'Queued', 'main'),
      one,
      [],
      [],
    ],
    [
      'a tag run (no branch) cancels nothing',
      [run('a', 'Running', 'main')],
      run('n', 'Queued', undefined, 'tag'),
      one,
      [],
      [],
    ],
    [
      'queued and running runs of the branch are all cancelled',
      [run('a', 'Running', 'main'), run('b', 'Queued', 'main')],
      run('n', 'Queued', 'main'),
      one,
      ['a', 'b'],
      ['n'],
    ],
  ];
  for (const [what, active, incoming, rules, cancel, start] of table) {
    it(what, () => {
      const admission = admitRun(active, incoming, rules);
      assert.deepEqual(admission.cancel, cancel);
      assert.deepEqual(admission.start, start);
    });
  }
});
