// Git wins, and `capstan diff` says so first: changes made with the real kubectl (scale, set image, edit)
// on objects capstan synced show in `diff` (exit 1), `sync` takes them back as the agent would, and
// `diff` is clean again. An immutable field that changed shows in one line as "would be replaced";
// another application's objects are taken over only with --adopt.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';

let kubeconfig: string;
let kube: KubeClients;
let kubectlPath: string;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-drift-'));

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
  kubectlPath = join(await ensureBinaries(), 'kubectl');
});
after(() => rm(scratch, { recursive: true, force: true }));

/** kubectl as a person runs it, against the test cluster. */
async function kubectl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await promisify(execFile)(kubectlPath, ['--kubeconfig', kubeconfig, ...args], {
    env: { ...process.env, ...env },
  });
  return stdout;
}

const deployment = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: ${image}
          env:
            - name: MODE
              value: blue
`;
const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  colour: blue
`;
const job = (command: string) => `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.example/migrate:1
          command: ['${command}']
`;

async function folder(files: Record<string, string>): Promise<string> {
  const dir = join(scratch, randomBytes(4).toString('hex'));
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

describe('capstan diff and sync: Git wins', () => {
  it('kubectl scale, set image and edit: diff shows each change (exit 1), sync puts it back, diff is clean', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const dir = await folder({
      'deployment.yaml': deployment('registry.example/web:1'),
      'config.yaml': configMap,
    });
    const target = [
      '--app',
      `drift-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const synced = await runCapstan(['sync', dir, ...target]);
    assert.equal(synced.code, 0, synced.stderr);

    // Three people's changes, with the real kubectl.
    await kubectl(['-n', namespace, 'scale', 'deployment/web', '--replicas=5']);
    await kubectl(['-n', namespace, 'set', 'image', 'deployment/web', 'web=registry.example/web:2']);
    await kubectl(['-n', namespace, 'edit', 'configmap/settings'], {
      KUBE_EDITOR: 'sed -i -e s/colour:\\ blue/colour:\\ red/',
    });
    assert.equal((await kube.apps.readNamespacedDeployment({ namespace, name: 'web' })).spec?.replicas, 5);

    const drift = await runCapstan(['diff', dir, ...target]);
    assert.equal(drift.code, 1, drift.stdout + drift.stderr);
    assert.match(drift.stdout, /^- {2}replicas: 5\n\+ {2}replicas: 2$/m);
    assert.match(drift.stdout, /^- +image: registry\.example\/web:2\n\+ +image: registry\.example\/web:1$/m);
    assert.match(drift.stdout, /^- {2}colour: red\n\+ {2}colour: blue$/m);
    assert.match(drift.stdout, new RegExp(`Deployment/${namespace}/web +configure`));
    assert.match(drift.stdout, new RegExp(`ConfigMap/${namespace}/settings +configure`));
    assert.doesNotMatch(drift.stderr, /conflict/i);

    const corrected = await runCapstan(['sync', dir, ...target]);
    assert.equal(corrected.code, 0, corrected.stderr);
    const live = await kube.apps.readNamespacedDeployment({ namespace, name: 'web' });
    assert.equal(live.spec?.replicas, 2);
    assert.equal(live.spec.template.spec?.containers.at(0)?.image, 'registry.example/web:1');
    const settings = await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' });
    assert.equal(settings.data?.['colour'], 'blue');

    const clean = await runCapstan(['diff', dir, ...target]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /No differences/);
  });

  it("a Secret changed with kubectl apply: diff shows that it changed, never a value, nor kubectl's copy of them", async (t) => {
    const namespace = await freshNamespace(t, kube);
    const secret = (password: string, labels = '') =>
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: ${namespace}\n${labels}stringData:\n  password: ${password}\n`;
    const dir = await folder({ 'secret.yaml': secret('git-s3cret-one') });
    const target = ['--app', `secret-${randomBytes(3).toString('hex')}`, '--namespace', namespace];
    const synced = await runCapstan(['sync', dir, ...target, '--kubeconfig', kubeconfig]);
    assert.equal(synced.code, 0, synced.stderr);
    // Someone applies another password with kubectl: it keeps a copy of it in clear, in an annotation.
    const changed = await folder({ 'secret.yaml': secret('kubectl-s3cret-two') });
    await kubectl(['apply', '-f', join(changed, 'secret.yaml')]);
    const live = await kube.core.readNamespacedSecret({ namespace, name: 'db' });
    const lastApplied =
      live.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'] ?? '';
    assert.match(lastApplied, /kubectl-s3cret-two/, 'kubectl wrote the value in clear');

    // The repository's next commit adds a label: the hunk then holds the annotations beside it.
    await writeFile(join(dir, 'secret.yaml'), secret('git-s3cret-one', '  labels: { tier: db }\n'));
    const drift = await runCapstan(['diff', dir, ...target, '--kubeconfig', kubeconfig]);
    assert.equal(drift.code, 1, drift.stdout + drift.stderr);
    assert.match(drift.stdout, new RegExp(`Secret/${namespace}/db +configure`));
    assert.match(
      drift.stdout,
      /^ {5}kubectl\.kubernetes\.io\/last-applied-configuration: "\*\*\* \(unchanged\)"$/m,
    );
    assert.match(drift.stdout, /password: "\*\*\* \(new value\)"/);
    const json = await runCapstan(['diff', dir, ...target, '-o', 'json', '--kubeconfig', kubeconfig]);
    assert.equal(json.code, 1, json.stderr);
    const output = drift.stdout + drift.stderr + json.stdout + json.stderr;
    for (const value of ['git-s3cret-one', 'kubectl-s3cret-two'])
      for (const form of [value, Buffer.from(value).toString('base64')])
        assert.ok(!output.includes(form), `the diff shows ${form}`);
  });

  it('an immutable field that changed: one line naming it in diff (exit 1) and in sync; --replace re-creates', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const target = [
      '--app',
      `immutable-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const first = await runCapstan(['sync', await folder({ 'job.yaml': job('migrate') }), ...target]);
    assert.equal(first.code, 0, first.stderr);
    const changed = await folder({ 'job.yaml': job('migrate-again') });

    const diff = await runCapstan(['diff', changed, ...target]);
    assert.equal(diff.code, 1, diff.stdout + diff.stderr);
    assert.match(
      diff.stdout,
      new RegExp(
        `^Job/${namespace}/migrate: would be replaced: immutable field spec\\.template changed \\(a sync with --replace`,
        'm',
      ),
    );
    assert.match(diff.stdout, new RegExp(`Job/${namespace}/migrate +replace`));
    assert.doesNotMatch(diff.stdout + diff.stderr, /PodTemplateSpec|core\.PodSpec/, 'no Go struct dump');

    const refused = await runCapstan(['sync', changed, ...target]);
    assert.equal(refused.code, 4);
    const line = refused.stderr.split('\n').find((l) => l.includes(`Job/${namespace}/migrate`)) ?? '';
    assert.match(
      line,
      /immutable field spec\.template changed\. It cannot be updated in place: sync with --replace/,
    );
    assert.ok(line.length < 300, `one short line, not a dump: ${line.length} characters`);

    const replaced = await runCapstan(['sync', changed, ...target, '--replace']);
    assert.equal(replaced.code, 0, replaced.stderr);
    const clean = await runCapstan(['diff', changed, ...target]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  });

  it("another application's object: refused with the --adopt hint; taken over with --adopt; --force-conflicts is gone", async (t) => {
    const namespace = await freshNamespace(t, kube);
    const dir = await folder({ 'config.yaml': configMap });
    const common = ['--namespace', namespace, '--kubeconfig', kubeconfig];
    const owner = await runCapstan(['sync', dir, '--app', 'first', ...common]);
    assert.equal(owner.code, 0, owner.stderr);

    const refused = await runCapstan(['sync', dir, '--app', 'second', ...common]);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /already managed by application 'first'.*sync with --adopt/);
    const gone = await runCapstan(['sync', dir, '--app', 'second', ...common, '--force-conflicts']);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /--force-conflicts is gone: .* use --adopt/);

    const adopted = await runCapstan(['sync', dir, '--app', 'second', ...common, '--adopt']);
    assert.equal(adopted.code, 0, adopted.stderr);
    const settings = await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' });
    assert.match(settings.metadata?.annotations?.['capstan.dev/tracking-id'] ?? '', /^second:/);
  });
});
