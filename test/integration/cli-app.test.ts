// `capstan app` against the real API server, as a user runs it: the process, its output and its exit
// codes. The agent is not running here: where a command waits for it, the test plays its part and
// writes the Application's status through the status subresource, as the agent does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationCrd,
  REQUEST_ANNOTATIONS,
  RESOURCES_FINALIZER,
  type Application,
  type ApplicationStatus,
  type HistoryEntry,
} from '../../src/contracts/application.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  freshNamespace,
  kubeClients,
  openProject,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { startGitServer, type GitServer } from '../../src/testing/git.ts';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'capstan.js');
const REPO = 'https://git.example.com/team/config.git';
const SHA_A = 'a'.repeat(40);
const SHA_B = 'b'.repeat(40);
let kubeconfig: string;
let kube: KubeClients;
let admin: KubeCluster;
let appType: ResourceType;
const git: GitServer = await startGitServer(after);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-cli-app-'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `capstan app …`; the promise ends with the process. */
function capstan(
  args: string[],
  options: { stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> & { exited: () => boolean; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, 'app', ...args], {
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  let done = false;
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(options.stdin ?? '');
  const promise = new Promise<Run>((resolve) => {
    child.on('close', (code) => {
      done = true;
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  return Object.assign(promise, { exited: () => done, stderr: () => stderr });
}

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig }));
  // The CRD for real (left installed: other test files use it too); force, as others apply it too.
  const crdType = await admin.resourceType('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  assert.ok(crdType);
  await admin.apply(crdType, applicationCrd(), { fieldManager: 'capstan-test', force: true });
  appType = await eventually(
    async () =>
      (await admin.resourceType(APPLICATION_API_VERSION, APPLICATION_KIND, { refresh: true })) ?? false,
    { what: 'the Application CRD served' },
  );
});
after(async () => {
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

const target = (namespace: string) => ['-n', namespace, '--kubeconfig', kubeconfig];
const appName = () => `app-${randomBytes(3).toString('hex')}`;

async function getApp(namespace: string, name: string): Promise<Application | undefined> {
  return (await admin.get(appType, namespace, name)) as Application | undefined;
}

const appPath = (namespace: string, name: string) =>
  `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`;

/** What the agent does: a merge patch of the status subresource. */
async function writeStatus(namespace: string, name: string, status: ApplicationStatus): Promise<void> {
  const res = await admin.client.call('PATCH', `${appPath(namespace, name)}/status`, {
    body: { status },
    contentType: 'application/merge-patch+json',
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

async function patchApp(namespace: string, name: string, body: unknown): Promise<void> {
  const res = await admin.client.call('PATCH', appPath(namespace, name), {
    body,
    contentType: 'application/merge-patch+json',
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

/** The value of a request annotation, once the CLI has set it. */
function requestOf(namespace: string, name: string, kind: keyof typeof REQUEST_ANNOTATIONS): Promise<string> {
  return eventually(
    async () => (await getApp(namespace, name))?.metadata.annotations?.[REQUEST_ANNOTATIONS[kind]] ?? false,
    { what: `the ${kind} request annotation`, timeoutMs: 20_000 },
  );
}

const now = () => new Date().toISOString();
const condition = (
  type: string,
  status: 'True' | 'False',
  reason: string,
  message: string,
  generation = 1,
) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: now(),
  observedGeneration: generation,
});
const history = (id: number, revision: string, result: 'Succeeded' | 'Failed'): HistoryEntry => ({
  id,
  revision,
  result,
  startedAt: '2025-01-31T12:00:00Z',
  finishedAt: '2025-01-31T12:00:03Z',
  author: 'Ada <ada@example.com>',
  message: `commit ${id}`,
});

/** A status the agent could have written: synced at SHA_A, healthy, two resources and a history. */
const SYNCED: ApplicationStatus = {
  observedGeneration: 1,
  conditions: [condition('Ready', 'True', 'Synced', 'synced to aaaaaaaaaaaa and healthy')],
  sync: { status: 'Synced', revision: SHA_A, digest: 'sha256:0123' },
  health: { status: 'Healthy' },
  resources: [
    {
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      namespace: 'web',
      name: 'api',
      syncStatus: 'Synced',
      health: { status: 'Healthy' },
    },
    { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'settings', syncStatus: 'Synced' },
  ],
  operation: {
    phase: 'Succeeded',
    type: 'sync',
    revision: SHA_A,
    startedAt: '2025-01-31T12:00:00Z',
    finishedAt: '2025-01-31T12:00:03Z',
    message: '2 created',
  },
  history: [history(1, SHA_B, 'Succeeded'), history(2, SHA_A, 'Succeeded')],
};

async function created(namespace: string, name: string, extra: string[] = []): Promise<void> {
  const r = await capstan(['create', name, '--repo', REPO, ...extra, ...target(namespace)]);
  assert.equal(r.code, 0, r.stderr);
}

describe('capstan app create', () => {
  it('creates from flags, and creating again is idempotent (server-side apply)', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const args = [
      'create',
      'web',
      '--repo',
      REPO,
      '--revision',
      'main',
      '--path',
      'apps/web',
      '--dest-namespace',
      'web',
      '--auto-sync',
      '--prune',
      '--self-heal',
      '--create-namespace',
      '--interval',
      '5m',
      '--type',
      'kustomize',
      ...target(namespace),
    ];
    const first = await capstan(args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'application.capstan.dev/web created\n');
    const live = await getApp(namespace, 'web');
    assert.ok(live);
    assert.deepEqual(live.spec, {
      source: { repoURL: REPO, targetRevision: 'main', path: 'apps/web', type: 'kustomize' },
      destination: { namespace: 'web' },
      syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] },
      interval: '5m',
    });
    assert.ok(
      (live.metadata.managedFields as { manager: string; operation: string }[]).some(
        (f) => f.manager === 'capstan-cli' && f.operation === 'Apply',
      ),
    );

    const again = await capstan(args);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'application.capstan.dev/web unchanged\n');
    assert.equal((await getApp(namespace, 'web'))?.metadata.resourceVersion, live.metadata.resourceVersion);

    const changed = await capstan([...args.filter((a) => a !== '--self-heal'), '-o', 'json']);
    assert.equal(changed.code, 0, changed.stderr);
    const printed = JSON.parse(changed.stdout) as Application;
    assert.equal(printed.spec.syncPolicy?.automated?.selfHeal, undefined, 'a flag left out is removed');
    assert.equal(printed.metadata.managedFields, undefined);
  });

  it('creates from a file (and standard input), in the namespace given or the file’s', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const file = join(scratch, `${namespace}.yaml`);
    await writeFile(
      file,
      `apiVersion: capstan.dev/v1alpha1
kind: Application
metadata:
  name: one
spec:
  source:
    repoURL: ${REPO}
    path: apps/one
---
apiVersion: capstan.dev/v1alpha1
kind: Application
metadata:
  name: two
  namespace: ${namespace}
spec:
  source:
    repoURL: ${REPO}
  syncPolicy:
    automated: {}
status:
  health: { status: Healthy }
`,
    );
    const r = await capstan(['create', '-f', file, ...target(namespace)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'application.capstan.dev/one created\napplication.capstan.dev/two created\n');
    assert.equal((await getApp(namespace, 'one'))?.spec.source.path, 'apps/one');
    assert.deepEqual((await getApp(namespace, 'two'))?.spec.syncPolicy, { automated: {} });
    assert.equal((await getApp(namespace, 'two'))?.status, undefined, 'status is the agent’s, never applied');

    const piped = await capstan(['create', '-f', '-', ...target(namespace), '-o', 'yaml'], {
      stdin: JSON.stringify({
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: 'three' },
        spec: { source: { repoURL: REPO } },
      }),
    });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal((parseYaml(piped.stdout) as Application).metadata.name, 'three');

    const elsewhere = await capstan(['create', '-f', file, '-n', 'default', '--kubeconfig', kubeconfig]);
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /namespace '.*' is not the --namespace 'default'/);
  });

  it('refuses an invalid Application before sending it, naming the field (exit 4), and bad flags (exit 2)', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const invalid: [string[], RegExp][] = [
      [['create', 'Web', '--repo', REPO], /metadata\.name: must be a Kubernetes object name.* \(NAME\)/],
      [
        ['create', 'web', '--repo', 'http://git.local/c.git'],
        /spec\.source\.repoURL: a plain http:\/\/ URL needs insecureHttp/,
      ],
      [
        ['create', 'web', '--repo', REPO, '--path', '../up'],
        /spec\.source\.path: must stay inside the repository.*\(--path\)/,
      ],
      [
        ['create', 'web', '--repo', REPO, '--interval', '10ms'],
        /spec\.interval: must be at least 1s \(--interval\)/,
      ],
    ];
    for (const [args, message] of invalid) {
      const r = await capstan([...args, ...target(namespace)]);
      assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /APPLICATION_INVALID/);
      assert.match(r.stderr, message);
    }
    const file = join(scratch, `${namespace}-bad.yaml`);
    await writeFile(
      file,
      `apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {name: bad}\nspec:\n  source: {repoURL: ${REPO}}\n  destinaton: {namespace: web}\n`,
    );
    const fromFile = await capstan(['create', '-f', file, ...target(namespace)]);
    assert.equal(fromFile.code, 4);
    assert.match(
      fromFile.stderr,
      /bad\.yaml:1 \(bad\) is not valid; nothing was sent:\n {2}spec\.destinaton: unknown field/,
    );

    const usage: [string[], RegExp][] = [
      [['create', 'web'], /needs --repo/],
      [['create', 'web', '--repo', REPO, '--type', 'jsonnet'], /--type must be directory, kustomize or helm/],
      [['create', 'web', '--repo', REPO, '--prune'], /--prune and --self-heal go with --auto-sync/],
      [['create', 'web', '--repo', REPO, '--interval', 'soon'], /--interval must be a duration/],
      [['create', 'web', '--repo', REPO, '--bogus'], /Unknown option '--bogus'/],
      [
        ['create', 'web', '--repo', REPO, '--timeout', '1m'],
        /--timeout is not an option of 'capstan app create'/,
      ],
      [['list', '-o', 'xml'], /-o must be one of table, json, yaml, wide/],
      [['history', 'web', '-o', 'wide'], /-o must be one of table, json, yaml, not 'wide'/],
    ];
    for (const [args, message] of usage) {
      const r = await capstan([...args, ...target(namespace)]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.equal((await admin.list(appType, namespace)).length, 0, 'nothing was created');
  });
});

describe('capstan app list, get and history', () => {
  it('prints tables, -o wide, json and yaml from what the agent reported', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await created(namespace, 'web', ['--path', 'apps/web']);
    await created(namespace, 'api');
    await writeStatus(namespace, 'web', {
      ...SYNCED,
      hold: { revision: SHA_A, fromRevision: SHA_B, reason: 'rolled back', since: now() },
    });

    const list = await capstan(['list', ...target(namespace)]);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME +SYNC +HEALTH +REVISION +AGE$/);
    assert.match(lines[1] ?? '', /^api +- +- +- +\d+s$/);
    assert.match(lines[2] ?? '', /^web +Synced +Healthy +aaaaaaaaaaaa +\d+s$/);

    const wide = await capstan(['list', '-o', 'wide', ...target(namespace)]);
    assert.match(wide.stdout, /^NAME +SYNC +HEALTH +REVISION +AGE +REPO +PATH +MESSAGE\n/);
    assert.match(
      wide.stdout,
      /\nweb +Synced +Healthy +aaaaaaaaaaaa +\d+s +https:\/\/git\.example\.com\/team\/config\.git +apps\/web +synced to aaaaaaaaaaaa and healthy\n/,
    );
    const all = await capstan(['list', '-A', '--kubeconfig', kubeconfig]);
    assert.match(all.stdout, new RegExp(`\\n${namespace} +web +Synced`));

    const json = JSON.parse((await capstan(['list', '-o', 'json', ...target(namespace)])).stdout) as {
      kind: string;
      items: Application[];
    };
    assert.equal(json.kind, 'List');
    assert.deepEqual(
      json.items.map((i) => i.metadata.name),
      ['api', 'web'],
    );
    const yaml = parseYaml((await capstan(['list', '-o', 'yaml', ...target(namespace)])).stdout) as {
      items: Application[];
    };
    assert.equal(yaml.items[1]?.status?.sync?.revision, SHA_A);

    const get = await capstan(['get', 'web', ...target(namespace)]);
    assert.equal(get.code, 0, get.stderr);
    for (const expected of [
      /^Name: +web$/m,
      new RegExp(`^Namespace: +${namespace}$`, 'm'),
      /^Source: +https:\/\/git\.example\.com\/team\/config\.git$/m,
      /^ {2}Path: +apps\/web$/m,
      new RegExp(`^Destination: +in-cluster, namespace ${namespace}$`, 'm'),
      /^Sync policy: +manual \(sync on request\); every 3m/m,
      /^Sync: +Synced at aaaaaaaaaaaa$/m,
      /^Health: +Healthy$/m,
      /^Last operation: +sync Succeeded at aaaaaaaaaaaa, started .* ago, took 3\.0s: 2 created$/m,
      /^Hold: active on aaaaaaaaaaaa \(rolled back from bbbbbbbbbbbb\)/m,
      // The age grows with the machine's load: seconds, or minutes and seconds.
      /^ {2}Ready +True +Synced +(\d+m)?\d+s +synced to aaaaaaaaaaaa and healthy$/m,
      /^ {2}Deployment\/web\/api +Synced +Healthy +-$/m,
      /^ {2}ConfigMap\/web\/settings +Synced +- +-$/m,
    ])
      assert.match(get.stdout, expected);
    const getJson = JSON.parse(
      (await capstan(['get', 'web', '-o', 'json', ...target(namespace)])).stdout,
    ) as Application;
    assert.equal(getJson.status?.hold?.revision, SHA_A);
    const getYaml = parseYaml(
      (await capstan(['get', 'web', '-o', 'yaml', ...target(namespace)])).stdout,
    ) as Application;
    assert.equal(getYaml.spec.source.repoURL, REPO);

    const historyRun = await capstan(['history', 'web', ...target(namespace)]);
    assert.equal(historyRun.code, 0, historyRun.stderr);
    assert.match(historyRun.stdout, /^ID +REVISION +RESULT +STARTED +DURATION +AUTHOR +MESSAGE\n/);
    assert.match(
      historyRun.stdout,
      /\n1 +bbbbbbbbbbbb +Succeeded +2025-01-31T12:00:00Z +3\.0s +Ada <ada@example\.com> +commit 1\n/,
    );
    assert.match(historyRun.stdout, /\n2 +aaaaaaaaaaaa +Succeeded /);
    assert.match(historyRun.stdout, /\nHold: active on aaaaaaaaaaaa/);
    const noHold = await capstan(['history', 'api', ...target(namespace)]);
    assert.match(noHold.stdout, /No syncs recorded for application 'api' yet\.\n\nHold: none/);
    const historyJson = JSON.parse(
      (await capstan(['history', 'web', '-o', 'json', ...target(namespace)])).stdout,
    ) as {
      hold: { revision: string };
      history: HistoryEntry[];
    };
    assert.equal(historyJson.hold.revision, SHA_A);
    assert.deepEqual(
      historyJson.history.map((h) => h.id),
      [1, 2],
    );
    const historyYaml = parseYaml(
      (await capstan(['history', 'web', '-o', 'yaml', ...target(namespace)])).stdout,
    ) as {
      history: HistoryEntry[];
    };
    assert.equal(historyYaml.history.length, 2);

    const missing = await capstan(['get', 'nothing', ...target(namespace)]);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /APPLICATION_NOT_FOUND.*application 'nothing' was not found in namespace/);
    const empty = await freshNamespace(t, kube);
    const none = await capstan(['list', ...target(empty)]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /No applications found in namespace/);
  });
});

describe('capstan app sync, refresh, rollback and release-hold', () => {
  it('set the request annotations to fresh request ids', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = appName();
    await created(namespace, name);
    await writeStatus(namespace, name, SYNCED);

    const before = Date.now();
    const refresh = await capstan(['refresh', name, ...target(namespace)]);
    assert.equal(refresh.code, 0, refresh.stderr);
    const refreshId = await requestOf(namespace, name, 'refresh');
    assert.match(refreshId, /^\d+$/);
    assert.ok(Number(refreshId) >= before && Number(refreshId) <= Date.now());
    assert.equal(
      refresh.stdout,
      `application.capstan.dev/${name} refresh requested (capstan.dev/refresh=${refreshId})\n`,
    );

    const sync = await capstan(['sync', name, '--no-wait', '-o', 'json', ...target(namespace)]);
    assert.equal(sync.code, 0, sync.stderr);
    const printed = JSON.parse(sync.stdout) as { annotation: string; value: string };
    assert.equal(printed.annotation, 'capstan.dev/sync');
    assert.equal(await requestOf(namespace, name, 'sync'), printed.value);

    // rollback: by default to the successful entry before the current one (1); or to a given one.
    const rollback = await capstan(['rollback', name, '--no-wait', ...target(namespace)]);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.match(await requestOf(namespace, name, 'rollback'), /^\d+:1$/);
    const byRevision = await capstan(['rollback', name, 'bbbbbbb', '--no-wait', ...target(namespace)]);
    assert.equal(byRevision.code, 0, byRevision.stderr);
    await eventually(async () =>
      new RegExp(`^\\d+:${SHA_B}$`).test(await requestOf(namespace, name, 'rollback')),
    );
    const unknown = await capstan(['rollback', name, '7', '--no-wait', ...target(namespace)]);
    assert.equal(unknown.code, 4);
    assert.match(unknown.stderr, /no history entry 7; successful ones: 1, 2/);

    const noHold = await capstan(['release-hold', name, ...target(namespace)]);
    assert.equal(noHold.code, 0, noHold.stderr);
    assert.match(noHold.stdout, /holds no rollback: nothing to release/);
    await writeStatus(namespace, name, { hold: { revision: SHA_B } });
    const release = await capstan(['release-hold', name, ...target(namespace)]);
    assert.equal(release.code, 0, release.stderr);
    assert.match(await requestOf(namespace, name, 'releaseHold'), /^\d+$/);

    // A re-applied spec keeps the requests: they are not the CLI's applied configuration.
    await created(namespace, name);
    assert.ok((await getApp(namespace, name))?.metadata.annotations?.['capstan.dev/sync']);
  });

  it('sync waits until the agent has handled the request, and exits 0 on success, 4 on failure', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = appName();
    await created(namespace, name);
    await writeStatus(namespace, name, SYNCED);

    const run = capstan(['sync', name, '--timeout', '60s', ...target(namespace)]);
    const id = await requestOf(namespace, name, 'sync');
    // The agent starts: the request is handled, the operation runs. Not finished yet.
    await writeStatus(namespace, name, {
      handledRequests: { sync: id },
      operation: { phase: 'Running', type: 'sync', revision: SHA_B, startedAt: now(), message: 'applying' },
    });
    await delay(1000);
    assert.equal(run.exited(), false, 'still waiting while the operation runs');
    await writeStatus(namespace, name, {
      sync: { status: 'Synced', revision: SHA_B },
      operation: {
        phase: 'Succeeded',
        type: 'sync',
        revision: SHA_B,
        startedAt: '2025-01-31T12:00:00Z',
        finishedAt: '2025-01-31T12:00:02Z',
        message: '1 configured, 1 unchanged',
      },
    });
    const done = await run;
    assert.equal(done.code, 0, done.stderr);
    assert.match(
      done.stderr,
      /requested sync of application '.*' \(capstan\.dev\/sync=\d+\); waiting for the agent/,
    );
    assert.match(done.stderr, /• sync Running at bbbbbbbbbbbb: applying/);
    assert.match(done.stdout, /^RESOURCE +SYNC +HEALTH +MESSAGE\n/);
    assert.match(
      done.stdout,
      /\nSynced application '.*' at bbbbbbbbbbbb: 1 configured, 1 unchanged \(2\.0s\)\n$/,
    );

    const failing = capstan(['sync', name, '--timeout', '60s', '-o', 'json', ...target(namespace)]);
    const second = await eventually(async () => {
      const value = await requestOf(namespace, name, 'sync');
      return value !== id && value;
    });
    await writeStatus(namespace, name, {
      handledRequests: { sync: second },
      operation: {
        phase: 'Failed',
        type: 'sync',
        revision: SHA_B,
        startedAt: now(),
        finishedAt: now(),
        message: 'the plan failed for 1 object(s)',
      },
    });
    const failed = await failing;
    assert.equal(failed.code, 4, failed.stderr);
    assert.equal((JSON.parse(failed.stdout) as Application).status?.operation?.phase, 'Failed');
  });

  it('rollback waits for its result; a wait without an agent runs out with exit 1', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = appName();
    await created(namespace, name);
    await writeStatus(namespace, name, SYNCED);

    const run = capstan(['rollback', name, '1', '--timeout', '60s', ...target(namespace)]);
    const id = await requestOf(namespace, name, 'rollback');
    assert.match(id, /^\d+:1$/);
    await writeStatus(namespace, name, {
      handledRequests: { rollback: id },
      hold: { revision: SHA_B, fromRevision: SHA_A, reason: 'rolled back' },
      operation: {
        phase: 'Succeeded',
        type: 'rollback',
        revision: SHA_B,
        startedAt: now(),
        finishedAt: now(),
        message: '1 configured',
      },
    });
    const done = await run;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /Rolled back application '.*' to bbbbbbbbbbbb \(history 1\): 1 configured/);
    assert.match(done.stdout, /Hold: active on bbbbbbbbbbbb \(rolled back from aaaaaaaaaaaa\)/);

    const timedOut = await capstan(['sync', name, '--timeout', '2s', ...target(namespace)]);
    assert.equal(timedOut.code, 1, timedOut.stderr);
    assert.match(
      timedOut.stderr,
      /the agent did not finish the sync request '\d+' of application '.*' within 2s/,
    );
    const refresh = await capstan(['refresh', name, '--wait', '--timeout', '1s', ...target(namespace)]);
    assert.equal(refresh.code, 1, refresh.stderr);
  });
});

describe('capstan app delete', () => {
  it('with cascade (the default), keeps the finalizer so the agent deletes the resources first', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = appName();
    await created(namespace, name);
    await writeStatus(namespace, name, SYNCED);

    const r = await capstan(['delete', name, ...target(namespace)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^application\\.capstan\\.dev/${name} deleted\\nThe agent deletes the 2 resource`),
    );
    const deleting = await getApp(namespace, name);
    assert.ok(deleting?.metadata.deletionTimestamp, 'being deleted');
    assert.deepEqual(deleting.metadata.finalizers, [RESOURCES_FINALIZER]);

    // Waiting: the agent prunes, then removes its finalizer, and the object goes.
    const waiting = capstan(['delete', name, '--wait', '--timeout', '60s', ...target(namespace)]);
    await eventually(() => waiting.stderr().includes('waiting for application'), { what: 'the wait' });
    await delay(1000);
    assert.equal(waiting.exited(), false, 'waits while the finalizer is there');
    await patchApp(namespace, name, { metadata: { finalizers: null } });
    const gone = await waiting;
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stderr, /is gone/);
    assert.equal(await getApp(namespace, name), undefined);

    const again = await capstan(['delete', name, ...target(namespace)]);
    assert.equal(again.code, 4);
    assert.match(again.stderr, /was not found/);
  });

  it('without cascade, removes the finalizer first: the Application goes, its resources stay (orphaned)', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = appName();
    await created(namespace, name);
    // The agent puts its finalizer on every Application it sees.
    await patchApp(namespace, name, { metadata: { finalizers: [RESOURCES_FINALIZER] } });
    await writeStatus(namespace, name, SYNCED);

    const r = await capstan(['delete', name, '--cascade=false', '-o', 'json', ...target(namespace)]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      name,
      namespace,
      cascade: false,
      orphaned: ['Deployment/web/api', 'ConfigMap/web/settings'],
    });
    assert.equal(await getApp(namespace, name), undefined, 'gone at once: no finalizer held it');

    const table = await capstan(['delete', 'x', '--cascade=maybe', ...target(namespace)]);
    assert.equal(table.code, 2);
    assert.match(table.stderr, /--cascade must be true or false/);
  });
});

describe('capstan app wait', () => {
  it('waits for Healthy at the current generation', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = appName();
    await created(namespace, name);
    const run = capstan(['wait', name, '--for', 'health', '--timeout', '60s', ...target(namespace)]);
    // Healthy, but for an older spec: not yet.
    await writeStatus(namespace, name, { observedGeneration: 0, health: { status: 'Healthy' } });
    await delay(700);
    await writeStatus(namespace, name, {
      observedGeneration: 1,
      health: { status: 'Progressing', message: '1/2' },
    });
    await delay(700);
    assert.equal(run.exited(), false);
    await writeStatus(namespace, name, { health: { status: 'Healthy' } });
    const done = await run;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout, `application.capstan.dev/${name} condition met\n`);
  });

  it('runs out with exit 1, ends at once when Stalled, and refuses what it cannot wait for', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const name = appName();
    await created(namespace, name);
    await writeStatus(namespace, name, {
      observedGeneration: 1,
      conditions: [condition('Ready', 'False', 'OutOfSync', 'out of sync')],
    });
    const timedOut = await capstan(['wait', name, '--timeout', '2s', ...target(namespace)]);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /is not Ready after 2s: Ready=False: OutOfSync: out of sync/);

    await writeStatus(namespace, name, {
      conditions: [
        condition('Ready', 'False', 'InvalidSpec', 'bad'),
        condition('Stalled', 'True', 'InvalidSpec', 'spec.interval: bad'),
      ],
    });
    const stalled = await capstan(['wait', name, '--for', 'sync', '--timeout', '60s', ...target(namespace)]);
    assert.equal(stalled.code, 1);
    assert.match(stalled.stderr, /is stalled.*Stalled: InvalidSpec: spec\.interval: bad/);

    const bad = await capstan(['wait', name, '--for', 'dinner', ...target(namespace)]);
    assert.equal(bad.code, 2);
    const missing = await capstan(['wait', 'nothing', ...target(namespace)]);
    assert.equal(missing.code, 4);
  });
});

describe('capstan app diff', () => {
  it('renders the source here and diffs it against the cluster, as capstan diff does', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `cli-app-${namespace}`;
    await git.createRepository(repo, {
      files: {
        'apps/web/settings.yaml':
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n',
      },
    });
    const env = { CAPSTAN_GIT_USERNAME: git.username, CAPSTAN_GIT_PASSWORD: git.password };
    const created = await capstan([
      'create',
      'web',
      '--repo',
      git.url(repo),
      '--insecure-http',
      '--path',
      'apps/web',
      '--type',
      'directory',
      ...target(namespace),
    ]);
    assert.equal(created.code, 0, created.stderr);

    const before = await capstan(['diff', 'web', ...target(namespace)], { env });
    assert.equal(before.code, 1, before.stderr);
    assert.match(before.stdout, /\+\+\+ desired\/ConfigMap\/.*settings/);
    assert.match(before.stdout, new RegExp(`ConfigMap/${namespace}/settings +create`));

    // An object made by hand is adopted only where the project allows it: refused by the default one.
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'settings' }, data: { level: 'info' } },
    });
    const refused = await capstan(['diff', 'web', ...target(namespace)], { env });
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      new RegExp(
        `refused by project 'default'.*ConfigMap/${namespace}/settings: exists and was not created by Capstan.*\\[adoption\\]`,
      ),
    );
    // In a project that allows adoption, only the ownership marks differ.
    const project = await openProject(admin, namespace);
    const patched = await admin.client.call(
      'PATCH',
      `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/web`,
      { body: { spec: { project } }, contentType: 'application/merge-patch+json' },
    );
    assert.equal(patched.status, 200);
    const json = await capstan(['diff', 'web', '-o', 'json', ...target(namespace)], { env });
    assert.equal(json.code, 1, json.stderr);
    const report = JSON.parse(json.stdout) as {
      changes: { resource: string; action: string }[];
      revision: string;
    };
    assert.match(report.revision, /^[0-9a-f]{40}$/);
    assert.deepEqual(
      report.changes.map((c) => [c.resource, c.action]),
      [[`ConfigMap/${namespace}/settings`, 'configure']],
      'only the ownership marks differ',
    );
    const synced = await new Promise<Run>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          CLI,
          'sync',
          '--repo',
          git.url(repo),
          '--insecure-http',
          '--path',
          'apps/web',
          // As the Application would: its owner name and marks.
          '--app',
          `${namespace}/web`,
          '--namespace',
          namespace,
          '--kubeconfig',
          kubeconfig,
        ],
        { env: { ...process.env, ...env, NO_COLOR: '1' } },
      );
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => {
        resolve({ code: code ?? -1, stdout: '', stderr });
      });
    });
    assert.equal(synced.code, 0, synced.stderr);
    const after = await capstan(['diff', 'web', ...target(namespace)], { env });
    assert.equal(after.code, 0, after.stdout + after.stderr);
    assert.match(after.stdout, /No differences/);
  });
});
