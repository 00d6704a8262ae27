// `capstan pipeline list|runs|get|logs -f|run|cancel|rerun` as a user types them, logged in with an API
// token (capstan login --token-stdin) to a real `capstan server` that drives runs (its controller, the
// Lease, the real API server, a real git server, its SQLite Store). The runs' Pods are not the subject
// here: the server's executor holds them (HeldRunExecutor), and the test writes a step's lines through
// the executor's log callback, which the controller masks and stores as it does for a real Pod.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { KubePipelineDirectory } from '../../src/adapters/kube/pipelines.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../../src/contracts/project.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  freshNamespace,
  installApplicationCrd,
  installPipelineCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer, type GitServer } from '../../src/testing/git.ts';
import { HeldRunExecutor } from '../../src/testing/held-run-executor.ts';
import { adminHeaders, startTestServer } from '../../src/testing/server.ts';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'capstan.js');
const git: GitServer = await startGitServer(after);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-cli-pipeline-'));
const executor = new HeldRunExecutor();
let kube: KubeClients;
let admin: KubeCluster;
let pipelineType: ResourceType;
let projectType: ResourceType;
let base = '';
let home = '';
const env = { ...process.env, CAPSTAN_CONFIG: join(scratch, 'login.json') };

const FILE = `triggers:
  manual: true
  push: { branches: [main] }
steps:
  - name: test
    image: busybox
    commands: [echo hi]
`;

before(async () => {
  const cluster = await testCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  await installApplicationCrd(admin);
  projectType = await installProjectCrd(admin);
  pipelineType = await installPipelineCrd(admin);
});

after(async () => {
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

/** Runs `capstan …` as a user does; resolves with its exit code and output. */
function capstan(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const ok = (r: { code: number; stdout: string; stderr: string }) => {
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

/** The server, driving runs (its controller over the Lease) into the held executor. */
async function startServer(t: { name: string; after: (fn: () => Promise<void>) => void }): Promise<void> {
  home = await freshNamespace(t, kube);
  ({ base } = await startTestServer(t.after.bind(t), {
    kubeconfig: (await testCluster()).adminKubeconfig,
    namespace: home,
    database: join(scratch, `server-${randomBytes(3).toString('hex')}.db`), // a server of its own per test
    repositoryHosts: ['127.0.0.1'], // the test git server is on loopback
    pipelines: { capstanImage: 'capstan:test', allowInsecureHttp: true, executor },
  }));
}

/** An API token of `role` in `project`, made by the admin through the API. */
async function token(project: string, role: 'viewer' | 'deployer'): Promise<string> {
  const headers = await adminHeaders(admin, base, home);
  await eventually(async () => {
    const page = await fetch(`${base}/api/v1/projects`, { headers });
    return ((await page.json()) as { items: { name: string }[] }).items.some((p) => p.name === project);
  });
  const created = await fetch(`${base}/api/v1/tokens`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: `${role}-cli`, project, role, expiresInDays: 1 }),
  });
  assert.equal(created.status, 201);
  return ((await created.json()) as { token: string }).token;
}

interface RunJson {
  id: string;
  phase: string;
  trigger: string;
  triggeredBy: string;
  revision: string;
  rerunOf?: string;
  cancelledBy?: string;
}

describe('capstan pipeline through the server', { timeout: 420_000 }, () => {
  it('lists, runs by hand, follows the log to the end, re-runs and cancels; a viewer is refused with exit 4', async (t) => {
    await startServer(t);
    const team = await freshNamespace(t, kube);
    const project = `p-${team}`.slice(0, 60);
    await admin.apply(
      projectType,
      {
        apiVersion: PROJECT_API_VERSION,
        kind: PROJECT_KIND,
        metadata: { name: project },
        spec: { applicationNamespaces: [team], destinations: [{ cluster: 'in-cluster', namespace: team }] },
      },
      { fieldManager: 'capstan-test' },
    );
    t.after(() => admin.delete(projectType, '', project).then(() => undefined));
    await kube.core.createNamespacedSecret({ namespace: team, body: gitSecretBody(git) });
    const repo = `app-${randomBytes(3).toString('hex')}`;
    const head = await git.createRepository(repo, { files: { '.capstan/pipeline.yaml': FILE } });
    await admin.apply(
      pipelineType,
      {
        apiVersion: PIPELINE_API_VERSION,
        kind: PIPELINE_KIND,
        metadata: { name: 'web', namespace: team },
        spec: { repoURL: git.url(repo), project, credentials: { secretRef: { name: 'git' } } },
      },
      { fieldManager: 'capstan-test' },
    );

    // Without a login: a clear error, exit 4.
    const anonymous = await capstan(['pipeline', 'list', '-n', team]);
    assert.equal(anonymous.code, 4);
    assert.match(anonymous.stderr, /log in first \(capstan login SERVER\)/);

    // A viewer lists and reads, but may not run.
    ok(await capstan(['login', base, '--token-stdin'], await token(project, 'viewer')));
    const listed = ok(await capstan(['pipeline', 'list', '-n', team]));
    assert.match(listed, /^NAME\s+PROJECT\s+LAST RUN\s+PHASE\s+REVISION\s+AGE$/m);
    assert.match(listed, new RegExp(`^web\\s+${project}\\s+-\\s+-\\s+-\\s+-$`, 'm'));
    const refused = await capstan(['pipeline', 'run', 'web', '-n', team]);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /SERVER_FORBIDDEN.*pipelines\.run/);
    const missing = await capstan(['pipeline', 'get', 'nope', '-n', team]);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /PIPELINE_NOT_FOUND/);
    const usage = await capstan(['pipeline', 'run', '-n', team]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /needs the pipeline NAME/);
    const both = await capstan(['pipeline', 'run', 'web', '-n', team, '--branch', 'main', '--tag', 'v1']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --branch or --tag, not both/);

    // A deployer runs it by hand; the run records the token.
    const deployer = await token(project, 'deployer');
    ok(await capstan(['login', base, '--token-stdin'], deployer));
    // Waiting is done with the API (a CLI process per look would be slow); what is checked, with the CLI.
    const runsNow = async (): Promise<RunJson[]> => {
      const page = await fetch(`${base}/api/v1/runs?namespace=${team}`, {
        headers: { authorization: `Bearer ${deployer}` },
      });
      return ((await page.json()) as { items: RunJson[] }).items;
    };
    const requested = ok(await capstan(['pipeline', 'run', 'web', '-n', team, '--branch', 'main']));
    assert.match(requested, /run of .*\/web requested \(refs\/heads\/main\) by token:/);
    const started = await eventually(
      async () => (await runsNow()).find((r) => r.phase === 'Running') ?? false,
      { what: 'the run by hand to start' },
    );
    const json = ok(await capstan(['pipeline', 'runs', 'web', '-n', team, '-o', 'json']));
    const run = (JSON.parse(json) as { items: RunJson[] }).items.find((r) => r.id === started.id);
    assert.ok(run);
    assert.equal(run.trigger, 'manual');
    assert.equal(run.revision, head);
    assert.match(run.triggeredBy, /^token:/);
    const wide = ok(await capstan(['pipeline', 'runs', '-n', team, '-o', 'wide']));
    assert.match(
      wide,
      new RegExp(`^${run.id}\\s+web\\s+Running\\s+manual\\s+main\\s+${head.slice(0, 12)}\\s+.*token:`, 'm'),
    );

    // logs -f prints the lines as the step writes them and exits 0 when the run succeeds.
    const held = await eventually(() => executor.runs.get(run.id) ?? false, { what: 'the held run' });
    held.options.onLog('test', 'first line');
    const following = capstan(['pipeline', 'logs', run.id, '-f']);
    await eventually(async () => {
      const page = await fetch(`${base}/api/v1/runs/${run.id}/logs`, {
        headers: { authorization: `Bearer ${deployer}` },
      });
      return JSON.stringify(await page.json()).includes('first line');
    });
    assert.equal(ok(await capstan(['pipeline', 'logs', run.id])), '[test] first line\n');
    held.options.onLog('test', 'second line');
    executor.succeed(run.id);
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout, '[test] first line\n[test] second line\n');
    assert.match(followed.stderr, new RegExp(`run ${run.id} Succeeded`));
    const described = ok(await capstan(['pipeline', 'get', 'web', '-n', team]));
    assert.match(described, new RegExp(`Last run:\\s+${run.id} Succeeded \\(manual of ${head.slice(0, 12)}`));
    const one = JSON.parse(ok(await capstan(['pipeline', 'get', '--run', run.id, '-o', 'json']))) as RunJson;
    assert.equal(one.phase, 'Succeeded');

    // Re-run, then cancel the re-run; a follow of a cancelled run exits 4.
    ok(await capstan(['pipeline', 'rerun', run.id]));
    const rerun = await eventually(
      async () => (await runsNow()).find((r) => r.rerunOf === run.id && r.phase === 'Running') ?? false,
      { what: 'the re-run to start' },
    );
    assert.match(rerun.triggeredBy, /^token:/, 'the server sealed the re-run: its by is believed');
    const cancelled = JSON.parse(
      ok(await capstan(['pipeline', 'cancel', rerun.id, '-o', 'json'])),
    ) as RunJson;
    assert.equal(cancelled.phase, 'Cancelled');
    assert.match(cancelled.cancelledBy ?? '', /^token:/);
    const afterCancel = await capstan(['pipeline', 'logs', rerun.id, '-f']);
    assert.equal(afterCancel.code, 4);
    assert.match(afterCancel.stderr, /Cancelled/);
  });

  it('approves a fork’s run that waits and revokes its author; a viewer may not approve', async (t) => {
    await startServer(t);
    const team = await freshNamespace(t, kube);
    const project = `f-${team}`.slice(0, 60);
    await admin.apply(
      projectType,
      {
        apiVersion: PROJECT_API_VERSION,
        kind: PROJECT_KIND,
        metadata: { name: project },
        spec: { applicationNamespaces: [team], destinations: [{ cluster: 'in-cluster', namespace: team }] },
      },
      { fieldManager: 'capstan-test' },
    );
    t.after(() => admin.delete(projectType, '', project).then(() => undefined));
    await kube.core.createNamespacedSecret({ namespace: team, body: gitSecretBody(git) });
    const repo = `fork-${randomBytes(3).toString('hex')}`;
    const prFile = `triggers:\n  pullRequest: { branches: [main] }\nsteps:\n  - name: test\n    image: busybox\n    commands: [echo hi]\n`;
    await git.createRepository(repo, { files: { '.capstan/pipeline.yaml': prFile } });
    const head = await git.commit(repo, { branch: 'forked', files: { 'src/main.js': 'fork()\n' } });
    await admin.apply(
      pipelineType,
      {
        apiVersion: PIPELINE_API_VERSION,
        kind: PIPELINE_KIND,
        metadata: { name: 'forks', namespace: team },
        spec: {
          repoURL: git.url(repo),
          project,
          credentials: { secretRef: { name: 'git' } },
          forkPullRequests: 'RequireApproval',
        },
      },
      { fieldManager: 'capstan-test' },
    );
    // A fork's pull request, as the agent's receiver writes it.
    await new KubePipelineDirectory(admin).requestRun(
      { namespace: team, name: 'forks' },
      {
        id: `webhook-github-${randomBytes(4).toString('hex')}`,
        kind: 'pullRequest',
        ref: 'refs/pull/3/head',
        revision: head,
        pullRequest: {
          number: 3,
          sourceBranch: 'forked',
          targetBranch: 'main',
          fromFork: true,
          author: 'mallory',
        },
        by: 'webhook:github',
        at: new Date().toISOString(),
      },
    );
    ok(await capstan(['login', base, '--token-stdin'], await token(project, 'viewer')));
    const waiting = await eventually(
      async () => {
        const listed = await capstan([
          'pipeline',
          'runs',
          'forks',
          '-n',
          team,
          '--phase',
          'WaitingForApproval',
          '-o',
          'json',
        ]);
        return (JSON.parse(ok(listed)) as { items: RunJson[] }).items[0] ?? false;
      },
      { what: 'the fork’s run waiting for approval' },
    );
    assert.equal(executor.runs.has(waiting.id), false, 'no Pod while it waits');
    const refused = await capstan(['pipeline', 'approve', waiting.id]);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /SERVER_FORBIDDEN.*pipelines\.run/);
    ok(await capstan(['login', base, '--token-stdin'], await token(project, 'deployer')));
    const approved = ok(await capstan(['pipeline', 'approve', waiting.id]));
    assert.match(
      approved,
      new RegExp(`^run ${waiting.id} approved by token:.*mallory's next pull requests run without waiting`),
    );
    await eventually(() => executor.runs.has(waiting.id), { what: 'the approved run’s Pod' });
    executor.succeed(waiting.id);
    const again = await capstan(['pipeline', 'approve', waiting.id]);
    assert.equal(again.code, 4);
    assert.match(again.stderr, /PIPELINE_RUN_NOT_WAITING/);
    assert.match(
      ok(await capstan(['pipeline', 'revoke', 'forks', 'mallory', '-n', team])),
      /^mallory's pull requests from forks wait for approval again/,
    );
    const twice = await capstan(['pipeline', 'revoke', 'forks', 'mallory', '-n', team]);
    assert.equal(twice.code, 4);
    assert.match(twice.stderr, /PIPELINE_AUTHOR_NOT_APPROVED/);
  });
});
