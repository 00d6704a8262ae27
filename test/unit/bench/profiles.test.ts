import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cpuSplit, cpuSplitBetween } from '../../../bench/proc.ts';
import {
  cpuProfileLines,
  cpuSplitLines,
  recordProfiles,
  summariseCpuProfile,
  summariseFolder,
  type CpuProfile,
} from '../../../bench/profiles.ts';
import { agentNodeFlags, AGENT_NODE_FLAGS_ENV } from '../../../bench/systems/capstan.ts';

/** A hand-written V8 profile: samples every 1000 µs from t = 1 000 000 µs. */
function profile(samples: number[]): CpuProfile {
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('reconcile', 'file:///work/src/controller/reconciler.ts', 41) },
      { id: 4, callFrame: frame('', 'file:///work/src/engine/plan.ts', 9) },
      { id: 5, callFrame: frame('(garbage collector)') },
    ],
    startTime: 1_000_000,
    endTime: 1_000_000 + samples.length * 1000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

describe('CPU profiles of the steady state', () => {
  it('sums self time per function, busy share without idle, largest first', () => {
    const s = summariseCpuProfile(profile([3, 3, 3, 4, 2, 2, 5, 3]));
    assert.deepEqual(
      s.top.map((f) => f.fn),
      ['reconcile (reconciler.ts:42)', '(idle)', '(anonymous) (plan.ts:10)', '(garbage collector)'],
    );
    // The last sample has no next delta: it counts 0.
    assert.equal(s.top[0]?.selfSeconds, 0.003);
    assert.equal(s.busySeconds, 0.005);
    assert.equal(s.top[0].share, 0.6);
    assert.equal(s.top.find((f) => f.fn === '(idle)')?.share, 0);
  });

  it('keeps only the samples of the window on the monotonic clock', () => {
    // Sample i is at 1 000 000 + (i + 1) * 1000 µs; the window holds samples 3 to 5 (plan, idle, idle).
    const s = summariseCpuProfile(profile([3, 3, 3, 4, 2, 2, 5, 3]), {
      fromMicros: 1_004_000,
      toMicros: 1_006_000,
      top: 2,
    });
    assert.equal(s.windowSeconds, 0.002);
    assert.deepEqual(
      s.top.map((f) => [f.fn, f.selfSeconds]),
      [
        ['(idle)', 0.002],
        ['(anonymous) (plan.ts:10)', 0.001],
      ],
    );
    assert.match(
      cpuProfileLines('capstan agent', s).join('\n'),
      /\| \(anonymous\) \(plan\.ts:10\) \| 0\.00 \| 100\.0 % \|/,
    );
  });

  it('writes a manifest and a summary beside the profiles, and summarises the folder again from them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-profiles-'));
    const file = join(dir, 'capstan-agent-x.cpuprofile');
    await writeFile(file, JSON.stringify(profile([3, 4, 3, 3])));
    const summary = await recordProfiles(
      dir,
      'Capstan',
      [{ process: 'capstan agent', format: 'cpuprofile', path: file, fromMicros: 0, toMicros: 2_000_000 }],
      [{ name: 'node', pid: 42, mainThread: 1.5, otherThreads: 0.25, children: 2 }],
    );
    assert.match(summary, /## Capstan/);
    assert.match(summary, /\| node \(42\) \| 1\.50 \| 0\.25 \| 2\.00 \| 3\.75 \|/);
    assert.match(summary, /reconcile \(reconciler\.ts:42\)/);
    await recordProfiles(dir, 'Flux', [
      { process: 'kustomize-controller', format: 'cpuprofile', path: join(dir, 'missing.cpuprofile') },
    ]);
    const written = await readFile(join(dir, 'summary.md'), 'utf8');
    assert.match(written, /## Capstan[\s\S]*## Flux/);
    assert.match(written, /kustomize-controller: no V8 profile at .*missing\.cpuprofile/);
    assert.deepEqual(Object.keys(JSON.parse(await readFile(join(dir, 'profiles.json'), 'utf8')) as object), [
      'Capstan',
      'Flux',
    ]);
    assert.match(
      (await summariseFolder(await mkdtemp(join(tmpdir(), 'bench-none-'))))[0] ?? '',
      /was the run made with --profile/,
    );
  });

  it('passes Node.js flags to the agent: --cpu-prof into the profile folder, then the ones given, flags only', () => {
    assert.deepEqual(agentNodeFlags(), []);
    assert.deepEqual(
      agentNodeFlags({ profile: { dir: '/p', name: 'a.cpuprofile' }, extra: ' --trace-gc  ' }),
      ['--cpu-prof', '--cpu-prof-dir=/p', '--cpu-prof-name=a.cpuprofile', '--trace-gc'],
    );
    assert.throws(
      () => agentNodeFlags({ extra: '--trace-gc rm' }),
      new RegExp(`${AGENT_NODE_FLAGS_ENV}: rm is not a Node.js flag`),
    );
  });

  it("splits a process's CPU into its main thread, its other threads and its children, from /proc", () => {
    const before = cpuSplit(process.pid);
    let x = 0;
    for (let i = 0; i < 2e7; i++) x += i % 3;
    assert.ok(x > 0);
    const grown = cpuSplitBetween(before, cpuSplit(process.pid));
    assert.equal(grown.pid, process.pid);
    assert.ok(grown.mainThread > 0, 'the loop ran on the main thread');
    // Two files read one after the other: a tick may fall between them, so a reading may be off by one.
    assert.ok(grown.otherThreads > -0.05 && grown.children >= 0);
    assert.deepEqual(cpuSplitLines([]), []);
  });
});
