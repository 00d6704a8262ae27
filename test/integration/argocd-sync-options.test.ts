// Argo CD's per-object sync options against the real API server, through the CLI as a CI job runs it:
// CreateNamespace=true (the object's namespace created, never pruned), Replace=true (a Job whose
// template changed is deleted and re-created, where an apply is refused) and
// SkipDryRunOnMissingResource=true (a custom resource whose kind is not served at plan time), and the
// compare option IgnoreExtraneous (an object no longer in Git that does not count as a difference).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { SyncResult } from '../../src/core/sync-result.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';

let kubeconfig: string;
let kube: KubeClients;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-sync-options-'));
after(() => rm(scratch, { recursive: true, force: true }));

before(async () => {
  const cluster = await testCluster();
  kubeconfig = cluster.adminKubeconfig;
  kube = kubeClients(kubeconfig);
});

/** A folder with the given files (name → YAML). */
async function folder(files: Record<string, string>): Promise<string> {
  const dir = join(scratch, randomBytes(4).toString('hex'));
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

const job = (image: string) =>
  `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    argocd.argoproj.io/sync-options: Replace=true\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: migrate\n          image: ${image}\n`;

describe("Argo CD's per-object sync options", () => {
  it('CreateNamespace=true creates the namespace of that object only', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const extra = `${namespace}-extra`;
    t.after(() =>
      kube.core.deleteNamespace({ name: extra }).then(
        () => undefined,
        () => undefined,
      ),
    );
    const source = await folder({
      'config.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${extra}\n  annotations:\n    argocd.argoproj.io/sync-options: CreateNamespace=true\ndata:\n  a: "1"\n`,
    });
    const target = [
      '--app',
      `opts-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const synced = await runCapstan(['sync', source, ...target, '-o', 'json']);
    assert.equal(synced.code, 0, synced.stderr);
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace: extra, name: 'settings' })).data?.['a'],
      '1',
    );
    const diff = await runCapstan(['diff', source, ...target]);
    assert.equal(diff.code, 0, diff.stdout + diff.stderr);
  });

  it('Replace=true re-creates a Job whose template changed; without it the sync is refused', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const target = [
      '--app',
      `opts-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const first = await runCapstan(['sync', await folder({ 'job.yaml': job('busybox:1.36') }), ...target]);
    assert.equal(first.code, 0, first.stderr);
    const batch = kube.config.makeApiClient(k8s.BatchV1Api);
    const before = await batch.readNamespacedJob({ namespace, name: 'migrate' });
    const changed = await folder({ 'job.yaml': job('busybox:1.37') });
    const synced = await runCapstan(['sync', changed, ...target, '-o', 'json']);
    assert.equal(synced.code, 0, synced.stderr);
    const entry = (JSON.parse(synced.stdout) as SyncResult).entries.find((e) => e.id.name === 'migrate');
    assert.ok(entry, synced.stdout);
    const after = await batch.readNamespacedJob({ namespace, name: 'migrate' });
    assert.notEqual(after.metadata?.uid, before.metadata?.uid, 'a new Job');
    assert.equal(after.spec?.template.spec?.containers[0]?.image, 'busybox:1.37');
    // The same change without the option: refused, naming the immutable field and what to do.
    const plain = await folder({
      'job.yaml': job('busybox:1.38').replace(/ {2}annotations:\n.*\n/, ''),
    });
    const refused = await runCapstan(['sync', plain, ...target]);
    assert.equal(refused.code, 4, refused.stdout + refused.stderr);
    assert.match(refused.stdout + refused.stderr, /Replace=true/);
  });

  it('SkipDryRunOnMissingResource=true plans a custom resource whose kind is not served yet', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const group = `t${randomBytes(3).toString('hex')}.example.com`;
    const resource = (annotated: boolean) =>
      `apiVersion: ${group}/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: ${namespace}\n${annotated ? '  annotations:\n    argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true\n' : ''}spec:\n  size: 3\n`;
    const target = [
      '--app',
      `opts-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    // Without the option: the plan is refused, and says which annotation would allow it.
    const refused = await runCapstan(['diff', await folder({ 'gadget.yaml': resource(false) }), ...target]);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(
      refused.stderr,
      /does not serve .* Gadget .*annotate it argocd\.argoproj\.io\/sync-options: SkipDryRunOnMissingResource=true/,
    );
    // With it: diff shows the creation without a dry run.
    const source = await folder({ 'gadget.yaml': resource(true) });
    const diff = await runCapstan(['diff', source, ...target]);
    assert.equal(diff.code, 1, diff.stdout + diff.stderr);
    assert.match(diff.stdout, /Gadget/);
    // Its CRD comes from elsewhere (an operator, another application); then the sync creates it.
    await kube.extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: `gadgets.${group}` },
        spec: {
          group,
          names: { kind: 'Gadget', plural: 'gadgets', singular: 'gadget', listKind: 'GadgetList' },
          scope: 'Namespaced',
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    });
    t.after(() =>
      kube.extensions.deleteCustomResourceDefinition({ name: `gadgets.${group}` }).then(
        () => undefined,
        () => undefined,
      ),
    );
    const synced = await runCapstan(['sync', source, ...target, '-o', 'json']);
    assert.equal(synced.code, 0, synced.stderr);
    const created = await kube.objects.read({
      apiVersion: `${group}/v1`,
      kind: 'Gadget',
      metadata: { name: 'g', namespace },
    });
    assert.deepEqual((created as unknown as { spec: unknown }).spec, { size: 3 });
  });

  it('compare-options IgnoreExtraneous: an object no longer in Git that carries it is no difference, and --prune still deletes it', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const cm = (name: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  a: "1"\n`;
    const target = [
      '--app',
      `opts-${randomBytes(3).toString('hex')}`,
      '--namespace',
      namespace,
      '--kubeconfig',
      kubeconfig,
    ];
    const both = await folder({ 'kept.yaml': cm('kept'), 'generated.yaml': cm('generated') });
    const synced = await runCapstan(['sync', both, ...target]);
    assert.equal(synced.code, 0, synced.stderr);
    // generated.yaml leaves Git: the object is extraneous, a difference (exit 1).
    const onlyKept = await folder({ 'kept.yaml': cm('kept') });
    const before = await runCapstan(['diff', onlyKept, ...target]);
    assert.equal(before.code, 1, before.stdout + before.stderr);
    assert.match(
      before.stdout,
      /ConfigMap\/\S+\/generated: no longer in the desired state \(pruned by a sync with --prune/,
    );
    // Marked on the live object as Argo CD documents it: no longer a difference.
    await kube.core.patchNamespacedConfigMap(
      {
        name: 'generated',
        namespace,
        body: { metadata: { annotations: { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const ignored = await runCapstan(['diff', onlyKept, ...target]);
    assert.equal(ignored.code, 0, ignored.stdout + ignored.stderr);
    assert.match(
      ignored.stdout,
      /ConfigMap\/\S+\/generated: no longer in the desired state, not counted as a difference \(argocd\.argoproj\.io\/compare-options: IgnoreExtraneous\); a sync with --prune deletes it\nNo differences\./,
    );
    const json = JSON.parse((await runCapstan(['diff', onlyKept, ...target, '-o', 'json'])).stdout) as {
      leftBehind: string[];
      ignoredExtraneous: string[];
    };
    assert.deepEqual(json.leftBehind, []);
    assert.deepEqual(json.ignoredExtraneous, [`ConfigMap/${namespace}/generated`]);
    // Pruning is not a comparison: a sync with --prune deletes it, as Argo CD's prune does.
    const pruned = await runCapstan(['sync', onlyKept, ...target, '--prune', '-o', 'json']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(
      (JSON.parse(pruned.stdout) as SyncResult).entries
        .filter((e) => e.action === 'pruned')
        .map((e) => e.id.name),
      ['generated'],
    );
  });

  it('an app of apps of Argo CD Applications is refused with the import suggested', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const source = await folder({
      'guestbook.yaml':
        'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: guestbook\nspec:\n  source:\n    repoURL: https://git.example.com/apps.git\n    path: guestbook\n  destination:\n    server: https://kubernetes.default.svc\n',
    });
    const target = ['--app', `apps-${randomBytes(3).toString('hex')}`, '--namespace', namespace];
    const refused = await runCapstan(['diff', source, ...target, '--kubeconfig', kubeconfig]);
    assert.equal(refused.code, 4, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /guestbook\.yaml:1: Application\/guestbook: the cluster does not serve argoproj\.io\/v1alpha1 Application: this is an Argo CD object .* capstan import argocd FILE/,
    );
    const help = await runCapstan(['import', 'argocd', '--help']);
    assert.equal(help.code, 0, 'the command the message names exists');
  });
});
