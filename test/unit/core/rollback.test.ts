import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  rollbackRequestTarget,
  rollbackTarget,
  type HistoryRecord,
  type RollbackTarget,
} from '../../../src/core/rollback.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const D = 'd'.repeat(40);

/** 1 ok A, 2 failed B, 3 ok B, 4 failed D, 5 ok C (current). */
const history: HistoryRecord[] = [
  { id: 1, revision: A, result: 'Succeeded' },
  { id: 2, revision: B, result: 'Failed' },
  { id: 3, revision: B, result: 'Succeeded' },
  { id: 4, revision: D, result: 'Failed' },
  { id: 5, revision: C, result: 'Succeeded' },
];

/** `revision (#id)`, or `no-target: message` / `usage: message`. */
function show(target: RollbackTarget<HistoryRecord>): string {
  if (!target.found) return `${target.why}: ${target.message}`;
  return `${target.revision.slice(0, 1)}${target.entry ? ` #${target.entry.id}` : ''}`;
}

describe('rollbackTarget: one rule for the CLI and the agent', () => {
  const cases: [name: string, entries: HistoryRecord[], wanted: string | undefined, want: string][] = [
    [
      'default: the latest successful entry before the current one with another revision',
      history,
      undefined,
      'b #3',
    ],
    ['an empty target is the default', history, '', 'b #3'],
    [
      'default: an entry of the current revision is skipped',
      [
        { id: 1, revision: B, result: 'Succeeded' },
        { id: 2, revision: A, result: 'Succeeded' },
        { id: 3, revision: A, result: 'Succeeded' },
      ],
      undefined,
      'b #1',
    ],
    [
      // The CLI compared digests here, the agent did not: a rollback renders with today's spec, so the
      // same revision would put back what runs now. Neither compares them any more.
      'default: the same revision with another digest is no target',
      [
        { id: 1, revision: A, result: 'Succeeded' },
        { id: 2, revision: A, result: 'Succeeded' },
      ],
      undefined,
      "no-target: application 'web' has no earlier successful sync to roll back to (capstan app history web)",
    ],
    [
      // The agent took status.sync.revision as the current one: after a comparison that only found a
      // new commit (not synced) it picked the entry that runs now. The current one is the last synced.
      'default: the current one is the last entry of the history, whatever was compared since',
      history.slice(0, 3),
      undefined,
      'a #1',
    ],
    [
      'default: nothing earlier',
      [{ id: 1, revision: A, result: 'Succeeded' }],
      undefined,
      "no-target: application 'web' has no earlier successful sync to roll back to (capstan app history web)",
    ],
    ['by id', history, '1', 'a #1'],
    ['by id, the history in any order', [...history].reverse(), '3', 'b #3'],
    [
      'by id of a failed entry',
      history,
      '2',
      "no-target: history entry 2 of application 'web' failed; roll back to a successful one: 1, 3, 5",
    ],
    [
      'an unknown id',
      history,
      '9',
      "no-target: application 'web' has no history entry 9; successful ones: 1, 3, 5",
    ],
    ['a revision prefix of a successful entry', history, 'bbbbbbb', 'b'],
    ['upper-case hex', history, 'AAAAAAA', 'a'],
    [
      // The CLI matched failed entries too; the agent only successful ones. A rollback puts back a
      // successful sync.
      'a revision prefix that only failed',
      history,
      'ddddddd',
      "no-target: no revision in the history of application 'web' starts with 'ddddddd' (among its successful syncs); give the full 40-hex SHA",
    ],
    [
      // The CLI accepted a full SHA not in the history, the agent refused it; the documented request
      // value is `<history id or full commit SHA>`: both take it.
      'a full SHA not in the history is taken as it is',
      history,
      'e'.repeat(40),
      'e',
    ],
    [
      'not a target',
      history,
      'v1.2',
      "usage: rollback takes a history ID or a commit SHA (7 to 40 hex digits), not 'v1.2'",
    ],
    [
      'a prefix of several revisions',
      [
        { id: 1, revision: `${'a'.repeat(8)}${'1'.repeat(32)}`, result: 'Succeeded' },
        { id: 2, revision: `${'a'.repeat(8)}${'2'.repeat(32)}`, result: 'Succeeded' },
        { id: 3, revision: C, result: 'Succeeded' },
      ],
      'aaaaaaaa',
      `usage: 'aaaaaaaa' matches several revisions in the history: ${'a'.repeat(8)}${'1'.repeat(32)}, ${'a'.repeat(8)}${'2'.repeat(32)}`,
    ],
  ];
  for (const [name, entries, wanted, want] of cases) {
    it(name, () => {
      assert.equal(show(rollbackTarget(entries, wanted, { application: 'web' })), want);
    });
  }
});

describe('rollbackRequestTarget: the target part of a request value', () => {
  const cases: [string, string | undefined][] = [
    ['1700000000000', undefined],
    ['1700000000000:', undefined],
    ['1700000000000:3', '3'],
    [`r1:${A}`, A],
  ];
  for (const [value, want] of cases) {
    it(`'${value}'`, () => {
      assert.equal(rollbackRequestTarget(value), want);
    });
  }
});
