// The CLI in a CI job: the package as `npm pack` makes it, installed with `npm install -g`, run from
// another folder in a clean environment (env -i: PATH holds only the folders of node and git, no Go, an
// empty cache). Plain YAML renders, diffs and syncs against the real cluster at once, building nothing;
// Kustomize without kustomize says what to do (exit 3); with kustomize and helm on PATH, Kustomize and
// Helm sources work too.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import type { CliRun } from '../../src/testing/cli.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { fixture } from '../../src/testing/git.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const scratch = await mkdtemp(join(tmpdir(), 'capstan-clean-env-'));
after(() => rm(scratch, { recursive: true, force: true }));

let kubeconfig: string;
let kube: KubeClients;
let binaries: string;

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(command, [...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** A folder holding links to the given programs only. */
async function programs(name: string, paths: readonly string[]): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir);
  for (const path of paths) await symlink(path, join(dir, path.split('/').pop() ?? ''));
  return dir;
}

const prefix = join(scratch, 'prefix');
const work = join(scratch, 'work');
const home = join(scratch, 'home');
let nodeDir: string;
let gitDir: string;

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
  binaries = await ensureBinaries();
  // npm pack (its prepack compiles the sources) and npm install -g, as a user would.
  const npmEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}` };
  const packed = await run('npm', ['pack', '--pack-destination', scratch], npmEnv, ROOT);
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = (await readdir(scratch)).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack made a tarball');
  const installed = await run(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      join(scratch, tarball),
    ],
    npmEnv,
    scratch,
  );
  assert.equal(installed.code, 0, installed.stderr);
  await mkdir(work);
  await mkdir(home);
  nodeDir = await programs('node-only', [process.execPath]);
  gitDir = await programs('git-only', ['/usr/bin/git']);
});

/** `capstan ARGS` as installed, from another folder, in an environment holding only what is given. */
function capstan(args: readonly string[], extra: { path?: readonly string[] } = {}): Promise<CliRun> {
  const env = {
    PATH: [...(extra.path ?? []), nodeDir, gitDir].join(':'),
    HOME: home,
    CAPSTAN_CACHE_DIR: join(scratch, 'cache'),
    // No Go, even where one is installed in a system folder (the tool build's script looks there).
    CAPSTAN_GO: join(scratch, 'no-go'),
    NO_COLOR: '1',
  };
  return run(join(prefix, 'bin', 'capstan'), args, env, work);
}

describe('capstan installed with npm install -g, in a clean environment', () => {
  it('renders, diffs and syncs plain YAML at once, building nothing', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const help = await capstan(['--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: capstan <command>/);

    // Namespaced objects only: a cluster-scoped one would be owned by the first run's application.
    const dir = join(scratch, 'plain');
    await mkdir(dir);
    await writeFile(
      join(dir, 'app.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\ndata: { colour: blue }\n---\n' +
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  replicas: 1\n' +
        '  selector: { matchLabels: { app: web } }\n  template:\n    metadata: { labels: { app: web } }\n' +
        '    spec: { containers: [{ name: web, image: registry.example/web:1 }] }\n',
    );
    const rendered = await capstan(['render', dir]);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.match(rendered.stdout, /kind: Deployment/);
    const target = [
      '--app',
      `clean-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const diff = await capstan(['diff', dir, ...target]);
    assert.equal(diff.code, 1, diff.stderr);
    const synced = await capstan(['sync', dir, ...target]);
    assert.equal(synced.code, 0, synced.stderr);
    const clean = await capstan(['diff', dir, ...target]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    for (const r of [rendered, diff, synced, clean]) assert.doesNotMatch(r.stderr, /build/i);
  });

  it('a Kustomize source without kustomize and without Go: exit 3, saying what to do', async () => {
    const r = await capstan(['render', fixture('render', 'kustomize', 'base')]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /kustomize v5\.8\.1 is not installed and there is no Go toolchain to build it .*: put kustomize on PATH, set CAPSTAN_KUSTOMIZE to its path, or install Go/,
    );
    assert.doesNotMatch(r.stderr, /\s\d\s*$/, 'no exit code in the message');
  });

  it('with kustomize and helm on PATH: Kustomize and Helm sources render, diff and sync', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const tools = await programs('tools', [join(binaries, 'kustomize'), join(binaries, 'helm')]);
    // The chart without its CRD: a CustomResourceDefinition is cluster-wide, and the corpus test syncs
    // the same chart (under another application) beside this file; what is tested here is the tools.
    const chart = join(scratch, 'helm-web');
    await cp(fixture('render', 'helm', 'web'), chart, { recursive: true });
    await rm(join(chart, 'crds'), { recursive: true });
    for (const [source, app] of [
      [fixture('render', 'kustomize', 'base'), 'clean-kustomize'],
      [chart, 'clean-helm'],
    ] as const) {
      const target = ['--app', app, '--namespace', namespace, '--kubeconfig', kubeconfig];
      const rendered = await capstan(['render', source], { path: [tools] });
      assert.equal(rendered.code, 0, rendered.stderr);
      assert.match(rendered.stdout, /kind: /);
      const synced = await capstan(['sync', source, ...target], { path: [tools] });
      assert.equal(synced.code, 0, synced.stderr);
      const clean = await capstan(['diff', source, ...target], { path: [tools] });
      assert.equal(clean.code, 0, clean.stdout + clean.stderr);
      assert.doesNotMatch(synced.stderr + clean.stderr, /build/i);
    }
  });
});
