// scripts/test-timings.ts: the reporter that gives scripts/test.ts each file's wall time and the run's counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import timings, { failuresOf, slowest } from '../../../scripts/test-timings.ts';

type Event = Parameters<typeof timings>[0] extends AsyncIterable<infer E> ? E : never;

async function report(events: Event[]): Promise<string> {
  async function* source(): AsyncGenerator<Event> {
    for (const event of events) yield await Promise.resolve(event);
  }
  let out = '';
  for await (const chunk of timings(source())) out += chunk;
  return out;
}

const file = (name: string) => `/repo/${name}`;
const pass = (name: string, path: string, nesting: number, type = 'test'): Event => ({
  type: 'test:pass',
  data: { name, file: file(path), nesting, details: { duration_ms: 5, type } },
});
const fileDone = (path: string, ms: number): Event => ({
  type: 'test:complete',
  data: { name: path, file: file(path), nesting: 0, details: { duration_ms: ms } },
});

describe('test-timings reporter', () => {
  it("writes each file's wall time and tests (suites not counted, a file's tests reported after it too), then the closing counts", async () => {
    const out = await report([
      pass('a one', 'a.test.ts', 1),
      pass('a two', 'a.test.ts', 1),
      pass('a suite', 'a.test.ts', 0, 'suite'),
      fileDone('a.test.ts', 2500),
      fileDone('b.test.ts', 7000),
      // Two files at a time: b's test is reported after b itself.
      pass('b one', 'b.test.ts', 0),
      { type: 'test:diagnostic', data: { nesting: 0, message: 'tests 3' } },
      { type: 'test:diagnostic', data: { nesting: 0, message: 'pass 3' } },
      { type: 'test:diagnostic', data: { nesting: 0, message: 'fail 0' } },
      // A file's own diagnostics are not the run's counts.
      { type: 'test:diagnostic', data: { nesting: 0, file: file('b.test.ts'), message: 'pass 1' } },
    ]);
    assert.deepEqual(out.split('\n'), [
      '# tests 3',
      '# pass 3',
      '# fail 0',
      '{"file":"a.test.ts","seconds":2.5,"tests":2}',
      '{"file":"b.test.ts","seconds":7,"tests":1}',
      '',
    ]);
    assert.deepEqual(
      slowest(out, 1).map((f) => f.file),
      ['b.test.ts'],
    );
    assert.deepEqual(
      slowest(out, 10).map((f) => f.file),
      ['b.test.ts', 'a.test.ts'],
    );
  });

  it('writes each failed test with the first lines of what it threw, and not the suite or file that failed because of it', async () => {
    const cause = new Error('expected Ready\nsecond line');
    const wrapped = Object.assign(new Error('test failed'), { failureType: 'testCodeFailure', cause });
    const subtests = Object.assign(new Error('1 subtest failed'), { failureType: 'subtestsFailed' });
    const hook = Object.assign(new Error('hook failed'), {
      failureType: 'hookFailed',
      cause: new TypeError('x is undefined'),
    });
    const long = new Error(Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n'));
    const fail = (name: string, nesting: number, error: Error, type = 'test'): Event => ({
      type: 'test:fail',
      data: { name, file: file('a.test.ts'), line: 7, nesting, details: { duration_ms: 5, type, error } },
    });
    const out = await report([
      fail('gets Ready', 1, wrapped),
      fail('the suite', 0, subtests, 'suite'),
      fail('a.test.ts', 0, subtests),
      fail('with a hook', 0, hook, 'suite'),
      fail('prints a lot', 1, long),
      fileDone('a.test.ts', 1000),
    ]);
    const failures = failuresOf(out);
    assert.deepEqual(
      failures.map((f) => [f.name, f.line, f.error.split('\n')[0]]),
      [
        ['gets Ready', 7, 'Error: expected Ready'],
        ['with a hook', 7, 'TypeError: x is undefined'],
        ['prints a lot', 7, 'Error: line 0'],
      ],
    );
    assert.equal(failures[0]?.error, 'Error: expected Ready\nsecond line');
    assert.equal(failures[2]?.error.split('\n').length, 15, 'cut to 14 lines and a mark');
    assert.deepEqual(
      slowest(out, 10),
      [{ file: 'a.test.ts', seconds: 1, tests: 2 }],
      'failures are not timings',
    );
  });
});
