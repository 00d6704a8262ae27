// The whole test suite, tier by tier: static checks, unit (pure), integration (real cluster, real git),
// node (a real node: containers that run, as root), e2e (browser). Prints the count per tier and a closing "N passed, N failed" line; exits non-zero on
// any failure. Usage: node scripts/test.ts [--tier unit|integration|node|e2e] [--keep-cluster] [--rebuild-images]
// (--rebuild-images: the node tier builds its images again instead of taking them from the machine's image cache)
// With more than one tier, the node tier (then the static checks) runs beside the others (its output in a file,
// shown whole at the end).
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, globSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { attach, down, up } from '../src/devcluster/cluster.ts';
import { IMAGE_CACHE_ENV } from '../src/devcluster/image-cache.ts';
import { clusterPaths } from '../src/devcluster/layout.ts';
import { takeLock } from '../src/devcluster/lockfile.ts';
import { DEFAULT_TEST_CLUSTER, TEST_CLUSTER_ENV } from '../src/testing/cluster.ts';
import { NODE_TEST_CLUSTER_ENV, nodeTestClusterName } from '../src/testing/real-node.ts';
import { failuresOf, slowest, type FileTiming, type TestFailure } from './test-timings.ts';
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
  /** The tier's slowest files, slowest first (empty for the static checks). */
  slowest?: FileTiming[];
  /** Each failed test with the first lines of its error. */
  failures?: TestFailure[];
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
const t0 = Date.now();
const bannerLine = (text: string) => `\n=== ${text} ${'='.repeat(Math.max(0, 90 - text.length))}`;

/**
 * A sequence of tiers, one after the other. The main one writes to the terminal; a lane beside it writes
 * to a file of its own, shown whole once every lane has ended (so that no two tiers' lines mix).
 */
interface Lane {
  readonly log: (text: string) => void;
  readonly error: (text: string) => void;
  /** Where the lane's commands write: the terminal, or the lane's file. */
  readonly stdio: 'inherit' | number;
  readonly results: TierResult[];
}

const mainLane: Lane = {
  log: (text) => {
    console.log(text);
  },
  error: (text) => {
    console.error(text);
  },
  stdio: 'inherit',
  results: [],
};

function fileLane(file: string): Lane {
  const fd = openSync(file, 'w');
  const write = (text: string) => {
    writeSync(fd, `${text}\n`);
  };
  return { log: write, error: write, stdio: fd, results: [] };
}

const banner = (lane: Lane, text: string) => {
  lane.log(bannerLine(text));
};

function exec(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  lane: Lane = mainLane,
  limit?: { readonly minutes: number; readonly what: string },
): Promise<number> {
  return new Promise((resolve) => {
    const stdio: StdioOptions = lane.stdio === 'inherit' ? 'inherit' : ['ignore', lane.stdio, lane.stdio];
    const child = spawn(command, args, { cwd: root, env, stdio });
    // Past its limit the command is interrupted as Ctrl-C would (node's test runner then names the files
    // still running), and killed 30 s later if it has not ended.
    const timer =
      limit &&
      setTimeout(() => {
        lane.error(`\n${limit.what}: still running after ${String(limit.minutes)} minutes; interrupted`);
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
      }, limit.minutes * 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
    child.on('error', () => {
      resolve(127);
    });
  });
}

/** Runs node's test runner on the files of one tier and reads the counts and each file's time from its report. */
async function runNodeTests(
  tier: string,
  files: string[],
  options: {
    concurrency: number;
    /**
     * The tier's wall-clock limit. A file whose process never ends (a failed test that left a server
     * running keeps it alive, and node's runner waits for it: its timeouts bound tests and hooks, not a
     * file's process) then fails the tier by name instead of holding the run until CI's own limit.
     */
    minutes: number;
    env?: NodeJS.ProcessEnv;
    lane?: Lane;
  },
): Promise<TierResult> {
  const started = Date.now();
  const folder = await mkdtemp(join(tmpdir(), 'capstan-test-'));
  // One JSON line per file (its wall time) and the run's closing counts, as TAP writes them ('# pass 47').
  const report = join(folder, `${tier}.report`);
  const code = await exec(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${options.concurrency}`,
      '--test-timeout=600000',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${join(root, 'scripts/test-timings.ts')}`,
      `--test-reporter-destination=${report}`,
      ...files,
    ],
    options.env,
    options.lane,
    { minutes: options.minutes, what: `the ${tier} tier` },
  );
  const summary = existsSync(report) ? await readFile(report, 'utf8') : '';
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
    slowest: slowest(summary, 10),
    failures: failuresOf(summary),
  };
}

function filesOf(pattern: string): string[] {
  return globSync(pattern, { cwd: root }).sort();
}

async function checks(lane: Lane): Promise<void> {
  banner(lane, 'static checks: typecheck, lint, function lengths, format');
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
    // No function in src/ past a screen without a reason (DESIGN.md; the same count as the lint rule).
    ['function-lengths', process.execPath, [join(root, 'scripts/function-lengths.ts'), '--max', '80', 'src']],
    [
      'format',
      process.execPath,
      [join(root, 'node_modules/prettier/bin/prettier.cjs'), '--check', '--log-level', 'warn', '.'],
    ],
  ];
  for (const [name, command, args] of steps) {
    const started = Date.now();
    const code = await exec(command, args, process.env, lane);
    lane.results.push({
      tier: `check:${name}`,
      passed: code === 0 ? 1 : 0,
      failed: code === 0 ? 0 : 1,
      skipped: 0,
      seconds: (Date.now() - started) / 1000,
      note: '',
    });
  }
}

async function unit(lane: Lane): Promise<void> {
  banner(lane, 'unit tests (pure)');
  lane.results.push(
    await runNodeTests('unit', filesOf('test/unit/**/*.test.ts'), { concurrency: 2, minutes: 10, lane }),
  );
}

/**
 * Two runs on one machine must not share a tier's cluster: the one that started it stops it when it ends,
 * under the other; fault tests restart its API server; the node tier's last test removes it. The second
 * run's tier is refused, naming the first (the node tier had no such lock: a run that ended on a machine as
 * another began could take down what the other had just started). Returns the release, or undefined when
 * refused.
 */
function holdTestCluster(lane: Lane, name: string, tier: string): { release: () => void } | undefined {
  const folder = clusterPaths(name).root;
  mkdirSync(folder, { recursive: true });
  const held = takeLock(join(folder, 'test-run.lock'), `test run in ${root}`);
  if (!('heldBy' in held)) return held;
  const other = held.heldBy;
  const env = tier === 'node' ? NODE_TEST_CLUSTER_ENV : TEST_CLUSTER_ENV;
  lane.error(
    `\n${tier}: the test cluster '${name}' is in use by another test run (process ${String(other.pid)}` +
      `${other.what ? `, ${other.what}` : ''}${other.since ? `, since ${other.since}` : ''}), so the ${tier} tier FAILS; ` +
      `wait for it to finish, or run beside it on a cluster of its own: ${env}=${name}-2 ./scripts/test.sh`,
  );
  return undefined;
}

/** Whether this run started the shared test cluster: it stops it after the last tier that uses it. */
const testClusterRun = { ours: false };

/**
 * Runs `body` on the run's test cluster (integration and fault tiers, then the e2e tier): the run's lock on
 * it, the running one reused or a new one started, and that one stopped after the tier when `last`, so
 * that a run leaves no cluster behind (the e2e tier's files used to start one and leave it running).
 */
async function onTestCluster(
  lane: Lane,
  tier: string,
  last: boolean,
  body: (env: NodeJS.ProcessEnv) => Promise<void>,
): Promise<void> {
  const name = process.env[TEST_CLUSTER_ENV] ?? DEFAULT_TEST_CLUSTER;
  const started = Date.now();
  const failed = (note: string) => {
    lane.results.push({
      tier,
      passed: 0,
      failed: 1,
      skipped: 0,
      seconds: (Date.now() - started) / 1000,
      note,
    });
  };
  const held = holdTestCluster(lane, name, tier);
  if (held === undefined) {
    failed('test cluster in use by another run');
    return;
  }
  try {
    if (await attach(name)) {
      if (!testClusterRun.ours) lane.log(`reusing the running cluster '${name}'`);
    } else {
      await up({
        name,
        progress: (line) => {
          lane.log(`[cluster] ${line}`);
        },
      });
      testClusterRun.ours = true;
    }
  } catch (error) {
    lane.error(
      `\n${tier}: the test cluster could not start, so the ${tier} tier FAILS:\n${error instanceof Error ? error.message : String(error)}`,
    );
    failed('cluster did not start');
    held.release();
    return;
  }
  try {
    await body({ ...process.env, [TEST_CLUSTER_ENV]: name });
  } finally {
    if (last && testClusterRun.ours && !values['keep-cluster']) {
      const { stopped } = await down(name);
      testClusterRun.ours = false;
      lane.log(`stopped the test cluster '${name}' (${stopped.join(', ')})`);
    }
    held.release();
  }
}

async function integration(lane: Lane): Promise<void> {
  banner(lane, 'integration tests (real kube-apiserver, real git)');
  // Stopped after these tiers: the e2e tier gets a new one (on the cluster aged by the integration and fault
  // tiers, a promotion in ui-promotions once did not come within 240 s; on a new one it always has).
  await onTestCluster(lane, 'integration', true, async (env) => {
    const regular = filesOf('test/integration/**/*.test.ts').filter(
      (f) => !f.endsWith('.fault.test.ts') && !f.endsWith('.node.test.ts'),
    );
    const faults = filesOf('test/integration/**/*.fault.test.ts');
    const a = await runNodeTests('integration', regular, { concurrency: 2, minutes: 30, env, lane });
    // Fault tests stop and restart parts of the shared cluster: one file at a time, after the rest.
    banner(lane, 'integration fault tests (API server restarts, git server hangs), one at a time');
    const b =
      faults.length > 0
        ? await runNodeTests('integration-faults', faults, { concurrency: 1, minutes: 15, env, lane })
        : undefined;
    lane.results.push(a);
    if (b) lane.results.push(b);
  });
}

/**
 * The real node's tests (*.node.test.ts): one file at a time, on one cluster of their own that the
 * first file starts, the next ones attach to, and the last test removes. Their images come from the
 * machine's image cache (built once per state of their inputs) unless --rebuild-images.
 */
async function node(lane: Lane): Promise<void> {
  banner(
    lane,
    'node tests (a real node: containerd, kubelet, kube-proxy in a namespace of their own; needs root)',
  );
  const env = values['rebuild-images'] ? { ...process.env, [IMAGE_CACHE_ENV]: 'refresh' } : process.env;
  const started = Date.now();
  const held = holdTestCluster(lane, nodeTestClusterName(), 'node');
  if (held === undefined) {
    lane.results.push({
      tier: 'node',
      passed: 0,
      failed: 1,
      skipped: 0,
      seconds: (Date.now() - started) / 1000,
      note: 'test cluster in use by another run',
    });
    return;
  }
  try {
    lane.results.push(
      await runNodeTests('node', filesOf('test/integration/**/*.node.test.ts'), {
        concurrency: 1,
        minutes: 30,
        env,
        lane,
      }),
    );
  } finally {
    // The last test removes the cluster; a run that failed before it must not leave the node behind.
    if (!values['keep-cluster']) await down(nodeTestClusterName()).catch(() => undefined);
    held.release();
  }
}

async function e2e(lane: Lane): Promise<void> {
  const files = filesOf('test/e2e/**/*.test.ts');
  banner(lane, 'e2e tests (browser)');
  if (files.length === 0) {
    lane.results.push({
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
  const browser = await exec('bash', ['scripts/setup-browser.sh'], process.env, lane);
  const built = browser === 0 ? await exec('bash', ['scripts/build-ui.sh'], process.env, lane) : browser;
  if (built !== 0) {
    lane.results.push({
      tier: 'e2e',
      passed: 0,
      failed: files.length,
      skipped: 0,
      seconds: 0,
      note: browser === 0 ? 'the web UI did not build' : 'chromium could not be installed',
    });
    return;
  }
  await onTestCluster(lane, 'e2e', true, async (env) => {
    lane.results.push(await runNodeTests('e2e', files, { concurrency: 1, minutes: 15, env, lane }));
  });
}

const run: Record<Tier, (lane: Lane) => Promise<void>> = { unit, integration, node, e2e };
// The node tier runs beside the others: it has a cluster of its own, and its files mostly wait on a real
// node's pods, so the machine's cores have room for the other tiers meanwhile. The static checks follow
// it there, over the fault tests' waits. The rest run in order.
const besides: Tier[] = selected.length > 1 && selected.includes('node') ? ['node'] : [];
const withChecks = !values['no-checks'] && values.tier === undefined;
const sideLog = join(await mkdtemp(join(tmpdir(), 'capstan-test-')), 'beside.log');
const side = besides.length > 0 ? fileLane(sideLog) : undefined;
if (side)
  console.log(
    `the node tier${withChecks ? ' (then the static checks)' : ''} runs beside the other tiers; ` +
      `its output goes to ${sideLog}, shown whole at the end`,
  );
/** Runs one lane to its end; an error that escapes a tier fails that lane's run, never the other lane's. */
async function inLane(lane: Lane, steps: () => Promise<void>): Promise<void> {
  const started = Date.now();
  try {
    await steps();
  } catch (error) {
    lane.error(`\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    const note = `stopped by an error: ${error instanceof Error ? error.message : String(error)}`;
    lane.results.push({
      tier: 'error',
      passed: 0,
      failed: 1,
      skipped: 0,
      seconds: (Date.now() - started) / 1000,
      note,
    });
  }
}
await Promise.all([
  inLane(mainLane, async () => {
    if (withChecks && !side) await checks(mainLane);
    for (const tier of selected) if (!besides.includes(tier)) await run[tier](mainLane);
  }),
  inLane(side ?? mainLane, async () => {
    if (!side) return;
    for (const tier of besides) await run[tier](side);
    if (withChecks) await checks(side);
  }),
]);
// The test cluster this run started and no tier stopped (an error before the last tier on it, or the e2e
// tier's set-up failing before it reached the cluster) is stopped here: a run leaves no cluster behind.
if (testClusterRun.ours && !values['keep-cluster']) {
  const name = process.env[TEST_CLUSTER_ENV] ?? DEFAULT_TEST_CLUSTER;
  const { stopped } = await down(name).catch(() => ({ stopped: [] as string[] }));
  mainLane.log(`stopped the test cluster '${name}' (${stopped.join(', ')})`);
}
if (side) {
  closeSync(side.stdio as number);
  const what = [...besides, ...(withChecks ? ['static checks'] : [])].join(', ');
  console.log(bannerLine(`the output of what ran beside the other tiers (${what}), from ${sideLog}`));
  process.stdout.write(await readFile(sideLog, 'utf8'));
}
// The table keeps the tiers' order, wherever each ran.
const ORDER = ['check:', 'unit', 'integration', 'integration-faults', 'node', 'e2e', 'error'];
const order = (tier: string) =>
  ORDER.findLastIndex((t) => tier === t || (t.endsWith(':') && tier.startsWith(t)));
const results = [...mainLane.results, ...(side?.results ?? [])].sort((a, b) => order(a.tier) - order(b.tier));

const total = results.reduce(
  (a, r) => ({ passed: a.passed + r.passed, failed: a.failed + r.failed, skipped: a.skipped + r.skipped }),
  { passed: 0, failed: 0, skipped: 0 },
);
console.log(bannerLine('summary'));
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(
  `${'tier'.padEnd(20)}${pad('passed', 8)}${pad('failed', 8)}${pad('skipped', 9)}${pad('time', 9)}`,
);
for (const r of results) {
  console.log(
    `${r.tier.padEnd(20)}${pad(r.passed, 8)}${pad(r.failed, 8)}${pad(r.skipped, 9)}${pad(`${r.seconds.toFixed(1)}s`, 9)}${r.note ? `   ${r.note}` : ''}`,
  );
}
for (const r of results) {
  if (!r.slowest?.length) continue;
  console.log(`\nslowest files of ${r.tier} (wall time of each file, start-up included):`);
  for (const f of r.slowest)
    console.log(`${pad(`${f.seconds.toFixed(1)}s`, 9)}${pad(f.tests, 5)} tests  ${f.file}`);
}
// Last before the totals: a CI log is read from its tail, and it must say why a test failed, not only which.
const failures = results.flatMap((r) => (r.failures ?? []).map((f) => ({ tier: r.tier, ...f })));
if (failures.length > 0) console.log(`\nfailed tests (tier, file:line, test, then what it threw):`);
for (const f of failures) {
  console.log(
    `\n  ${f.tier}  ${relative(root, f.file)}${f.line === undefined ? '' : `:${f.line}`}  ${f.name}`,
  );
  console.log(f.error.replace(/^/gm, '    | '));
}
console.log(`(whole run: ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
console.log(`total: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exitCode = total.failed > 0 || total.passed === 0 ? 1 : 0;
