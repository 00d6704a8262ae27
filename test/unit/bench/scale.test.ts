import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APPLY_CHUNK,
  ARGOCD_CM_DEFAULTS,
  chunks,
  argoCDBaseObjects,
  argoCDObjects,
  fluxObjects,
  fluxSourceName,
  ignoreAllBut,
  type AppSetOptions,
} from '../../../bench/peers.ts';
import { describeScaleSettings, scaleSettings, tmpfsMounts } from '../../../bench/scale.ts';

describe('peer settings by scale', () => {
  it("gives Flux its controllers' defaults below hundreds of applications, and the monorepo layout", () => {
    assert.deepEqual(scaleSettings({ apps: 50, tmpfs: '/dev/shm' }).flux, {
      sourceConcurrent: 2,
      kustomizeConcurrent: 4,
      requeueDependencySeconds: 30,
      layout: 'shared',
    });
  });

  it("gives Flux its vertical-scaling guide's settings from 100: 10 workers, 20 with tmpfs, 5 s, one source per app", () => {
    assert.deepEqual(scaleSettings({ apps: 100 }).flux, {
      sourceConcurrent: 10,
      kustomizeConcurrent: 10,
      requeueDependencySeconds: 5,
      layout: 'per-app',
    });
    assert.deepEqual(scaleSettings({ apps: 1000, tmpfs: '/dev/shm' }).flux, {
      sourceConcurrent: 10,
      kustomizeConcurrent: 20,
      requeueDependencySeconds: 5,
      tmpfs: '/dev/shm',
      layout: 'per-app',
    });
  });

  it("gives Argo CD its defaults below 1000 applications and its high-availability guide's 50/25 from 1000", () => {
    assert.deepEqual(scaleSettings({ apps: 999 }).argocd, {
      statusProcessors: 20,
      operationProcessors: 10,
      repoParallelism: 0,
    });
    for (const apps of [1000, 10_000])
      assert.deepEqual(scaleSettings({ apps }).argocd, {
        statusProcessors: 50,
        operationProcessors: 25,
        repoParallelism: 0,
      });
  });

  it('refuses a scale that is not a whole number of applications', () => {
    for (const apps of [0, -1, 1.5, Number.NaN])
      assert.throws(() => scaleSettings({ apps }), /expected a whole number from 1/);
  });

  it('says what each peer was given, for the report', () => {
    const d = describeScaleSettings(scaleSettings({ apps: 1000, tmpfs: '/dev/shm' }));
    assert.match(d.flux, /kustomize-controller `--concurrent=20` with its TMPDIR on tmpfs \(\/dev\/shm\)/);
    assert.match(d.flux, /`--requeue-dependency=5s`/);
    assert.match(d.flux, /one GitRepository per application/);
    assert.match(d.argocd, /`--status-processors=50` `--operation-processors=25`/);
  });

  it('finds the tmpfs mounts of /proc/mounts', () => {
    const mounts = [
      '/dev/vda / ext4 rw,relatime 0 0',
      'tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0',
      'tmpfs /run tmpfs rw,nosuid 0 0',
      '',
    ].join('\n');
    assert.deepEqual(tmpfsMounts(mounts), ['/dev/shm', '/run']);
  });
});

describe("the peers' objects", () => {
  const base: AppSetOptions = {
    count: 3,
    repoUrl: 'http://127.0.0.1:1/bench.git',
    username: 'u',
    password: 'p',
    path: (i) => `apps/app-000${String(i + 1)}`,
    name: (i) => `app-000${String(i + 1)}`,
  };

  it('keeps only the application folder in a per-application artifact, parents let in again', () => {
    assert.equal(ignoreAllBut('apps/app-0001'), '/*\n!/apps/\n/apps/*\n!/apps/app-0001/\n');
    assert.equal(ignoreAllBut('./one'), '/*\n!/one/\n');
    assert.throws(() => ignoreAllBut('../x'), /expected a folder inside the repository/);
    assert.throws(() => ignoreAllBut(''), /expected a folder inside the repository/);
  });

  it('gives Flux one GitRepository per application in the per-app layout, each Kustomization its own', () => {
    const objects = fluxObjects({ ...base, fluxLayout: 'per-app' });
    const sources = objects.filter((o) => o.kind === 'GitRepository');
    assert.deepEqual(
      sources.map((o) => {
        const spec = o['spec'] as { ignore?: string; sparseCheckout?: string[] };
        return [o.metadata.name, spec.ignore, spec.sparseCheckout];
      }),
      [1, 2, 3].map((i) => [
        `app-000${String(i)}`,
        ignoreAllBut(`apps/app-000${String(i)}`),
        [`apps/app-000${String(i)}`],
      ]),
    );
    const refs = objects
      .filter((o) => o.kind === 'Kustomization')
      .map((o) => (o['spec'] as { sourceRef: { name: string } }).sourceRef.name);
    assert.deepEqual(refs, ['app-0001', 'app-0002', 'app-0003']);
    assert.equal(fluxSourceName('per-app', 'app-0002'), 'app-0002');
  });

  it('gives Flux one shared GitRepository in the monorepo layout (the default)', () => {
    const objects = fluxObjects(base);
    const sources = objects.filter((o) => o.kind === 'GitRepository');
    assert.equal(sources.length, 1);
    assert.equal(sources[0]?.metadata.name, 'bench');
    assert.equal((sources[0].spec as { ignore?: string }).ignore, undefined);
    assert.equal(fluxSourceName('shared', 'app-0002'), 'bench');
  });

  it("gives Argo CD a fully qualified revision, and argocd-cm the install's exclusions and ignored status updates", () => {
    const app = argoCDObjects(base).find((o) => o.kind === 'Application');
    assert.equal(
      (app?.['spec'] as { source: { targetRevision: string } }).source.targetRevision,
      'refs/heads/main',
    );
    const cm = argoCDBaseObjects('argocd', 600).find((o) => o.kind === 'ConfigMap');
    const data = cm?.['data'] as Record<string, string>;
    assert.equal(data['timeout.reconciliation'], '600s');
    assert.equal(data['resource.ignoreResourceUpdatesEnabled'], 'true');
    assert.match(data['resource.customizations.ignoreResourceUpdates.all'] ?? '', /- \/status/);
    for (const kind of ['Endpoints, EndpointSlice', 'Lease', 'APIService'])
      assert.ok(data['resource.exclusions']?.includes(kind), kind);
    assert.deepEqual(
      Object.keys(ARGOCD_CM_DEFAULTS).sort(),
      Object.keys(data)
        .filter((k) => k !== 'timeout.reconciliation')
        .sort(),
    );
  });

  it('applies 10 000 applications in chunks kubectl can finish, in order, none lost', () => {
    const objects = fluxObjects({
      count: 10_000,
      repoUrl: base.repoUrl,
      username: 'u',
      password: 'p',
      fluxLayout: 'per-app',
    });
    assert.equal(objects.length, 20_001);
    const parts = chunks(objects, APPLY_CHUNK);
    assert.equal(parts.length, 41);
    assert.ok(parts.every((p) => p.length <= APPLY_CHUNK));
    assert.deepEqual(parts.flat(), objects);
    assert.deepEqual(chunks([], 3), []);
    assert.throws(() => chunks([1], 0), /expected a whole number from 1/);
  });
});
