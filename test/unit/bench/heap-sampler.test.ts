import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { summariseHeapProfile } from '../../../bench/heap-profile.ts';
import { HeapSampler, INSPECT_BRK_FLAG } from '../../../bench/heap-sampler.ts';

// A real Node.js process under its real inspector: it keeps about 8 MiB alive in a function of its own.
const PROGRAM = `
function keepArrays() { globalThis.kept = Array.from({ length: 2000 }, (_, i) => new Array(512).fill(i)); }
keepArrays();
process.stdout.write('kept\\n');
setInterval(() => {}, 1000);
`;

test('samples the live heap of a running process from its first allocation, by allocating function', async (t) => {
  const child = spawn(process.execPath, [INSPECT_BRK_FLAG, '-e', PROGRAM], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  const sampler = await HeapSampler.attach(child);
  t.after(() => {
    sampler.close();
  });
  const kept = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('kept')) resolve();
    });
  });
  // The process waits at its first line until sampling has started: its allocations are all seen.
  await sampler.start(16 * 1024);
  await kept;
  const profile = await sampler.take();
  const summary = summariseHeapProfile(profile, { mine: '[eval' });
  const bytes = summary.top.filter((s) => s.site.includes('keepArrays')).reduce((n, s) => n + s.bytes, 0);
  assert.ok(bytes > 4 * 2 ** 20, `keepArrays holds ${String(bytes)} bytes in the profile`);
});

test('says when the process never listens', async () => {
  const child = spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await assert.rejects(HeapSampler.attach(child, 10_000), /exited \(3\) before it listened/);
});
