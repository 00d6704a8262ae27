// The whole test suite, tier by tier: static checks, unit (pure), integration (real cluster, real git),
// node (a real node: containers that run, as root), e2e (browser). Prints the count per tier and a closing "N passed, N failed" line; exits non-zero on
// any failure. Usage: node scripts/test.ts [--tier unit|integration|node|e2e] [--keep-cluster] [--rebuild-images]
// (--rebuild-images: the node tier builds its images again instead of taking them from the machine's image cache)
import { spawn } from 'node:child_process';
import { existsSync, globSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { attach, down, up } from '../src/devcluster/cluster.ts';
import { IMAGE_CACHE_ENV } from '../src/devcluster/image-cache.ts';
import { clusterPaths } from '../src/devcluster/layout.ts';
import { takeLock } from '../src/devcluster/lockfile.ts';
import { DEFAULT_TEST_CLUSTER, TEST_CLUSTER_ENV } from '../src/testing/cluster.ts';
import { nodeTestClusterName } from '../src/testing/real-node.ts';
import { exitWithUsageOnHelp } from './usage.ts';

const TIERS = ['unit', 'integration', 'node', 'e2e'] as const;
type Tier = (typeof TIERS)[number];

interface TierResult {
  tier: string;
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  note: string;
}

exitWithUsageOnHelp(import.meta.filename);
const { values } = parseArgs({
  options: {
    tier: { type: 'string', multiple: true },
    'keep-cluster': { type: 'boolean', default: false },
    'no-checks': { type: 'boolean', default: false },
    'rebuild-images': { type: 'boolean', default: false },
  },
  strict: true,
});
const selected = (values.tier ?? [...TIERS]) as Tier[];
for (const t of selected) {
  if (!TIERS.includes(t)) {
    console.error(`test: unknown tier '${t}' (expected ${TIERS.join(', ')})`);
    process.exit(2);
  }
}
const root = join(import.meta.dirname, '..');
const results: TierResult[] = [];
const t0 = Date.now();
const banner = (text: string) => {
  console.log(`\n=== ${text} ${'='.repeat(Math.max(0, 90 - text.length))}`);
};

function exec(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: 'inherit' });
    child.on('close', (code) => {
      resolve(code ?? 1);
    });
    child.on('error', () => {
      resolve(127);
    });
  });
}

/** Runs node's test runner on the files of one tier and reads the counts from its TAP summary. */
async function runNodeTests(
  tier: string,
  files: string[],
  options: { concurrency: number; env?: NodeJS.ProcessEnv },
): Promise<TierResult> {
  const started = Date.now();
  const tap = join(await mkdtemp(join(tmpdir(), 'capstan-test-')), `${tier}.tap`);
  const code = await exec(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${options.concurrency}`,
      '--test-timeout=600000',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...files,
    ],
    options.env,
  );
  const summary = existsSync(tap) ? await readFile(tap, 'utf8') : '';
  const count = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(summary)?.[1] ?? 0);
  const failed = count('fail') + count('cancelled');
  return {
    tier,
    passed: count('pass'),
    // A runner that died without a summary counts as one failure, never as a pass.
    failed: code !== 0 && failed === 0 ? 1 : failed,
    skipped: count('skipped') + count('todo'),
    seconds: (Date.now() - started) / 1000,
    note: code !== 0 && failed === 0 ? `test runner exited with ${code}` : '',
  };
}

function filesOf(pattern: string): string[] {
  return globSync(pattern, { cwd: root }).sort();
}

async function checks(): Promise<void> {
  banner('static checks: typecheck, lint, format');
  const steps: [string, string, string[]][] = [
    [
      'typecheck',
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'],
    ],
    [
      'typecheck-ui',
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'ui/tsconfig.json', '--noEmit'],
    ],
    ['lint', process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '--max-warnings', '0', '.']],
    [
      'format',
      process.execPath,
      [join(root, 'node_modules/prettier/bin/prettier.cjs'), '--check', '--log-level', 'warn', '.'],
    ],
  ];
  for (const [name, command, args] of steps) {
    const started = Date.now();
    const code = await exec(command, args);
    results.push({
      tier: `check:${name}`,
      passed: code === 0 ? 1 : 0,
      failed: code === 0 ? 0 : 1,
      skipped: 0,
      seconds: (Date.now() - started) / 1000,
      note: '',
    });
  }
}

async function unit(): Promise<void> {
  banner('unit tests (pure)');
  results.push(await runNodeTests('unit', filesOf('test/unit/**/*.test.ts'), { concurrency: 2 }));
}

async function integration(): Promise<void> {
  banner('integration tests (real kube-apiserver, real git)');
  const name = process.env[TEST_CLUSTER_ENV] ?? DEFAULT_TEST_CLUSTER;
  const started = Date.now();
  const failed = (note: string) => {
    results.push({
      tier: 'integration',
      passed: 0,
      failed: 1,
      skipped: 0,
      seconds: (Date.now() - started) / 1000,
      note,
    });
  };
  // Two runs on one machine must not share the cluster: the one that started it stops it when it ends,
  // under the other, and fault tests restart its API server. The second run is refused, naming the first.
  const folder = clusterPaths(name).root;
  mkdirSync(folder, { recursive: true });
  const held = takeLock(join(folder, 'test-run.lock'), `test run in ${root}`);
  if ('heldBy' in held) {
    const other = held.heldBy;
    console.error(
      `\nintegration: the test cluster '${name}' is in use by another test run (process ${String(other.pid)}` +
        `${other.what ? `, ${other.what}` : ''}${other.since ? `, since ${other.since}` : ''}), so the integration tier FAILS; ` +
        `wait for it to finish, or run beside it on a cluster of its own: ${TEST_CLUSTER_ENV}=capstan-test-2 ./scripts/test.sh`,
    );
    failed('test cluster in use by another run');
    return;
  }
  let ours = false;
  try {
    if (await attach(name)) {
      console.log(`reusing the running cluster '${name}'`);
    } else {
      await up({
        name,
        progress: (line) => {
          console.log(`[cluster] ${line}`);
        },
      });
      ours = true;
    }
  } catch (error) {
    console.error(
      `\nintegration: the test cluster could not start, so the integration tier FAILS:\n${error instanceof Error ? error.message : String(error)}`,
    );
    failed('cluster did not start');
    held.release();
    return;
  }
  try {
    const env = { ...process.env, [TEST_CLUSTER_ENV]: name };
    const regular = filesOf('test/integration/**/*.test.ts').filter(
      (f) => !f.endsWith('.fault.test.ts') && !f.endsWith('.node.test.ts'),
    );
    const faults = filesOf('test/integration/**/*.fault.test.ts');
    const a = await runNodeTests('integration', regular, { concurrency: 2, env });
    // Fault tests stop and restart parts of the shared cluster: one file at a time, after the rest.
    banner('integration fault tests (API server restarts, git server hangs), one at a time');
    const b =
      faults.length > 0
        ? await runNodeTests('integration-faults', faults, { concurrency: 1, env })
        : undefined;
    results.push(a);
    if (b) results.push(b);
  } finally {
    if (ours && !values['keep-cluster']) {
      const { stopped } = await down(name);
      console.log(`stopped the test cluster '${name}' (${stopped.join(', ')})`);
    }
    held.release();
  }
}

/**
 * The real node's tests (*.node.test.ts): one file at a time, on one cluster of their own that the
 * first file starts, the next ones attach to, and the last test removes. Their images come from the
 * machine's image cache (built once per state of their inputs) unless --rebuild-images.
 */
async function node(): Promise<void> {
  banner('node tests (a real node: containerd, kubelet, kube-proxy in a namespace of their own; needs root)');
  const env = values['rebuild-images'] ? { ...process.env, [IMAGE_CACHE_ENV]: 'refresh' } : process.env;
  try {
    results.push(
      await runNodeTests('node', filesOf('test/integration/**/*.node.test.ts'), { concurrency: 1, env }),
    );
  } finally {
    // The last test removes the cluster; a run that failed before it must not leave the node behind.
    if (!values['keep-cluster']) await down(nodeTestClusterName()).catch(() => undefined);
  }
}

async function e2e(): Promise<void> {
  const files = filesOf('test/e2e/**/*.test.ts');
  banner('e2e tests (browser)');
  if (files.length === 0) {
    results.push({
      tier: 'e2e',
      passed: 0,
      failed: 0,
      skipped: 0,
      seconds: 0,
      note: 'no e2e test files',
    });
    return;
  }
  // Debian's chromium (installed when missing), and the UI built from the current sources.
  const browser = await exec('bash', ['scripts/setup-browser.sh']);
  const built = browser === 0 ? await exec('bash', ['scripts/build-ui.sh']) : browser;
  if (built !== 0) {
    results.push({
      tier: 'e2e',
      passed: 0,
      failed: files.length,
      skipped: 0,
      seconds: 0,
      note: browser === 0 ? 'the web UI did not build' : 'chromium could not be installed',
    });
    return;
  }
  results.push(await runNodeTests('e2e', files, { concurrency: 1 }));
}

if (!values['no-checks'] && values.tier === undefined) await checks();
for (const tier of selected) {
  if (tier === 'unit') await unit();
  if (tier === 'integration') await integration();
  if (tier === 'node') await node();
  if (tier === 'e2e') await e2e();
}

const total = results.reduce(
  (a, r) => ({ passed: a.passed + r.passed, failed: a.failed + r.failed, skipped: a.skipped + r.skipped }),
  { passed: 0, failed: 0, skipped: 0 },
);
banner('summary');
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(
  `${'tier'.padEnd(20)}${pad('passed', 8)}${pad('failed', 8)}${pad('skipped', 9)}${pad('time', 9)}`,
);
for (const r of results) {
  console.log(
    `${r.tier.padEnd(20)}${pad(r.passed, 8)}${pad(r.failed, 8)}${pad(r.skipped, 9)}${pad(`${r.seconds.toFixed(1)}s`, 9)}${r.note ? `   ${r.note}` : ''}`,
  );
}
console.log(`(whole run: ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
console.log(`total: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exitCode = total.failed > 0 || total.passed === 0 ? 1 : 0;
