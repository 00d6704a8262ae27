import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { heapProfileLines, summariseHeapProfile, type HeapProfileNode } from '../../../bench/heap-profile.ts';

const node = (
  functionName: string,
  url: string,
  selfSize: number,
  children: HeapProfileNode[] = [],
): HeapProfileNode => ({ callFrame: { functionName, url, lineNumber: 9 }, selfSize, children });

const SRC = 'file:///work/src';

/** root → main (ours) → watch (ours) → parse (ours) → JSON.parse (V8): the usual shape of a cache's bytes. */
const profile = {
  head: node('(root)', '', 0, [
    node('main', `${SRC}/main/agent.ts`, 100, [
      node('watch', `${SRC}/adapters/kube/watch.ts`, 0, [
        node('parseEvent', `${SRC}/adapters/kube/watch.ts`, 0, [node('parse', '', 3000)]),
        node('remember', `${SRC}/controller/managed-resources.ts`, 500),
      ]),
    ]),
    node('(V8 API)', '', 400),
  ]),
};

describe('summariseHeapProfile', () => {
  it('puts each sample down to the innermost three of our frames on its stack, largest first', () => {
    const summary = summariseHeapProfile(profile);
    assert.equal(summary.totalBytes, 4000);
    assert.deepEqual(
      summary.top.map((t) => [t.site, t.bytes]),
      [
        ['parseEvent (watch.ts:10) ← watch (watch.ts:10) ← main (agent.ts:10)', 3000],
        ['remember (managed-resources.ts:10) ← watch (watch.ts:10) ← main (agent.ts:10)', 500],
        ['(V8 API) (not ours)', 400],
        ['main (agent.ts:10)', 100],
      ],
    );
    assert.equal(summary.top[0]?.share, 0.75);
  });

  it('keeps the `top` largest, and reads "ours" by the URL marker given', () => {
    const summary = summariseHeapProfile(profile, { top: 1, mine: '/controller/' });
    assert.deepEqual(
      summary.top.map((t) => t.site),
      ['parse (not ours)'],
    );
    const lines = heapProfileLines('agent.heapprofile', summariseHeapProfile(profile, { top: 2 }));
    assert.match(lines[0] ?? '', /^agent\.heapprofile: 0\.0 MiB sampled alive/);
    assert.equal(lines.length, 6);
    assert.match(lines[4] ?? '', /^\| parseEvent .* \| 0\.0 \| 75\.0 % \|$/);
  });
});
