// A corpus of realistic configuration renders, syncs, then diffs as no change, then re-syncs with
// nothing changed: plain YAML (with RBAC, a CRD and its resource, a CronJob, Ingress, Secrets), a
// 35-object microservices demo, a Kustomize overlay with patches and image overrides, a Helm chart with a
// vendored dependency and production values, a Helm chart whose dependency is another folder of the same
// repository (file://, its charts/ folder absent), and a Jsonnet guestbook with a library, top-level
// arguments and external variables.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { ManifestRenderer } from '../../src/adapters/render/renderer.ts';
import { assessHealth } from '../../src/core/health-rules.ts';
import { formatId } from '../../src/core/resource.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import type { SyncDeps } from '../../src/engine/context.ts';
import { planSync, sync } from '../../src/engine/sync.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import type { DirectoryOptions, RenderRequest } from '../../src/ports/renderer.ts';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { fixture } from '../../src/testing/git.ts';

let deps: SyncDeps;
let cluster: KubeCluster;
let renderer: ManifestRenderer;
let kube: KubeClients;

before(async () => {
  const path = await agentKubeconfig(await testCluster());
  kube = kubeClients(path);
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: path }));
  deps = { cluster, inventory: new ConfigMapInventoryStore(cluster), clock: systemClock, assessHealth };
  const bin = await ensureBinaries();
  renderer = new ManifestRenderer({ kustomizeBinary: join(bin, 'kustomize'), helmBinary: join(bin, 'helm') });
});

interface Case {
  readonly name: string;
  readonly root: string;
  readonly path: string;
  /** How many objects the render gives, at least. */
  readonly objects?: number;
  /** A Helm chart, with these values files. */
  readonly valueFiles?: readonly string[];
  readonly directory?: DirectoryOptions;
}

const cases: readonly Case[] = [
  { name: 'plain YAML shop', root: fixture('corpus'), path: 'shop' },
  { name: 'microservices demo (35 objects)', root: fixture('corpus'), path: 'microservices', objects: 35 },
  { name: 'Kustomize overlay', root: fixture('render', 'kustomize'), path: 'overlays/prod' },
  {
    name: 'Helm chart with a dependency and production values',
    root: fixture('render', 'helm'),
    path: 'web',
    valueFiles: ['values-prod.yaml'],
  },
  {
    name: 'Helm chart with a file:// dependency in the same repository',
    root: fixture('render', 'helm'),
    path: 'shop',
    valueFiles: [],
    objects: 2,
  },
  {
    name: 'Jsonnet guestbook with a library',
    root: fixture('corpus'),
    path: 'jsonnet/guestbook',
    directory: {
      jsonnet: {
        libs: ['jsonnet/lib'],
        tlas: [{ name: 'replicas', value: '2', code: true }],
        extVars: [
          { name: 'image', value: 'nginx:1.27' },
          { name: 'environment', value: 'production' },
        ],
      },
    },
  },
];

describe('corpus: render, sync, then no difference', () => {
  for (const c of cases) {
    it(c.name, async (t) => {
      const namespace = await freshNamespace(t, kube);
      const application = `corpus-${randomBytes(3).toString('hex')}`;
      const info = await cluster.info();
      const request: RenderRequest = {
        root: c.root,
        path: c.path,
        ...(c.valueFiles
          ? {
              helm: {
                releaseName: application,
                namespace,
                valueFiles: [...c.valueFiles],
                kubeVersion: info.gitVersion,
                apiVersions: info.apiVersions,
              },
            }
          : {}),
        ...(c.directory ? { directory: c.directory } : {}),
      };
      const rendered = await renderer.render(request);
      assert.ok(
        rendered.objects.length >= (c.objects ?? 3),
        `${c.name} renders ${rendered.objects.length} objects`,
      );
      if (c.path === 'shop' && c.valueFiles)
        // The dependency's object, named in its own folder.
        assert.ok(
          rendered.objects.some((o) => o.source.file.startsWith('library/common/')),
          rendered.objects.map((o) => o.source.file).join(', '),
        );
      const options = { application, namespace, prune: true, createNamespace: true, timeoutMs: 60_000 };
      try {
        const result = await sync(rendered.objects, options, deps);
        assert.equal(result.phase, 'Succeeded', result.message);
        assert.ok(
          result.entries.every((e) => e.action === 'created'),
          result.entries.map((e) => `${formatId(e.id)} ${e.action} ${e.message}`).join('\n'),
        );

        const again = await renderer.render(request);
        const planned = await planSync(again.objects, options, deps);
        assert.deepEqual(planned.plan.failures, []);
        const changed = planned.plan.changes.filter((ch) => ch.action !== 'unchanged');
        assert.deepEqual(
          changed.map((ch) => `${formatId(ch.prepared.id)}:\n${ch.diff.unified}`),
          [],
          'a second render diffs as no change',
        );
        assert.deepEqual(planned.candidates, []);

        const resynced = await sync(again.objects, options, deps);
        assert.equal(resynced.phase, 'Succeeded', resynced.message);
        assert.deepEqual(
          resynced.entries
            .filter((e) => e.action !== 'unchanged')
            .map((e) => `${formatId(e.id)} ${e.action}`),
          [],
          'a second sync changes nothing',
        );
      } finally {
        // Cluster-scoped objects (CRDs) are the application's too: prune them all.
        await sync([], { ...options, allowEmpty: true }, deps);
        // The overlay names its own namespace, made by the CreateNamespace option (never pruned).
        await kube.core.deleteNamespace({ name: 'shop-prod' }).catch(() => undefined);
      }
    });
  }
});
