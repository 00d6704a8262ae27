// `--help` on every command and script: each command and sub-command of the CLI, and each script of
// scripts/ and bench/ that runs on its own, prints its usage and exits 0 (no stack trace, no run).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { leadingComment } from '../../../scripts/usage.ts';
import { main } from '../../../src/cli/main.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

const COMMANDS: readonly string[] = [
  'render',
  'diff',
  'sync',
  'import',
  'import argocd',
  'import flux',
  'app',
  ...[
    'create',
    'list',
    'get',
    'history',
    'diff',
    'sync',
    'refresh',
    'rollback',
    'release-hold',
    'delete',
    'wait',
  ].map((c) => `app ${c}`),
  'cluster',
  'cluster add',
  'cluster list',
  'cluster remove',
  'pipeline',
  ...['list', 'runs', 'get', 'logs', 'run', 'cancel', 'rerun', 'checkout'].map((c) => `pipeline ${c}`),
  'dev-cluster',
  ...['up', 'down', 'status', 'kubeconfig'].map((c) => `dev-cluster ${c}`),
  'demo',
  'demo up',
  'demo down',
  'agent',
  'server',
  'login',
  'logout',
  'audit',
  'dev-git-server',
];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(file: string, args: readonly string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [file, ...args], {
      cwd: ROOT,
      env: { ...process.env, CAPSTAN_STATE_DIR: '/nonexistent-capstan-state', NO_COLOR: '1' },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** The CLI's main in this process, its standard output and error captured (help runs nothing else). */
async function inProcess(args: readonly string[]): Promise<Run> {
  const out = { stdout: '', stderr: '' };
  const writes = {
    stdout: process.stdout.write.bind(process.stdout),
    stderr: process.stderr.write.bind(process.stderr),
  };
  const capture = (stream: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array) => {
      out[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  try {
    return { code: await main(args), ...out };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
}

/** The scripts that run on their own: they read their arguments, run as the main module, or have help. */
function entryScripts(): string[] {
  return [...globSync('scripts/*.ts', { cwd: ROOT }), ...globSync('bench/*.ts', { cwd: ROOT })]
    .filter((file) => file !== join('scripts', 'usage.ts'))
    .filter((file) =>
      /process\.argv|import\.meta\.main|exitWithUsageOnHelp\(/.test(readFileSync(join(ROOT, file), 'utf8')),
    )
    .sort();
}

describe('--help on every command and script', () => {
  it('each command and sub-command of capstan prints its usage and exits 0', async () => {
    const failures: string[] = [];
    for (const command of COMMANDS) {
      const r = await inProcess([...command.split(' '), '--help']);
      if (r.code !== 0 || !/^Usage: capstan /.test(r.stdout))
        failures.push(`capstan ${command} --help: exit ${r.code}: ${(r.stdout + r.stderr).slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('each script of scripts/ and bench/ prints its leading comment and exits 0', async () => {
    const scripts = entryScripts();
    assert.ok(scripts.includes(join('bench', 'run.ts')) && scripts.length >= 10, scripts.join(', '));
    const failures: string[] = [];
    for (const script of scripts) {
      const r = await run(join(ROOT, script), ['--help']);
      const usage = leadingComment(join(ROOT, script));
      if (r.code !== 0 || usage.trim() === '' || r.stdout !== usage)
        failures.push(`${script} --help: exit ${r.code}: ${(r.stdout + r.stderr).slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });
});
