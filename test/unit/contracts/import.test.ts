// capstan import argocd|flux, the pure conversion: realistic manifests (test/fixtures/import) in,
// Applications that pass Capstan's validation out, and every field that did not convert named.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validateApplication, type Application } from '../../../src/contracts/application.ts';
import { validateProject } from '../../../src/contracts/project.ts';
import { importArgoCd } from '../../../src/contracts/import-argocd.ts';
import { importFlux } from '../../../src/contracts/import-flux.ts';
import { formatFinding, type ImportResult } from '../../../src/contracts/import-report.ts';
import { parseManifests, type ParsedObject } from '../../../src/core/manifest.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'import');
const LIMITS = { maxAliases: 100, maxObjects: 1000, maxBytes: 1024 * 1024 };
const fixture = (name: string) => parseManifests(readFileSync(join(FIXTURES, name), 'utf8'), name, LIMITS);
const parse = (text: string) => parseManifests(text, 'input.yaml', LIMITS);
const byName = (result: ImportResult, name: string): Application => {
  const found = result.applications.find((a) => a.metadata.name === name);
  assert.ok(found, `an Application named ${name}`);
  return found;
};
/** The paths of every leaf under spec (and the object's name), for the replacement test. */
function leafPaths(value: unknown, at: (string | number)[]): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((item, index) => leafPaths(item, [...at, index]));
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([key, item]) =>
      at.length === 0 && key !== 'spec' ? [] : leafPaths(item, [...at, key]),
    );
  return [at];
}

function setAt(object: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let node: unknown = object;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[key];
  (node as Record<string | number, unknown>)[path[path.length - 1] ?? ''] = value;
}

const findings = (list: ImportResult['leftOut']) => list.map(formatFinding);

describe('import argocd (test/fixtures/import/argocd-apps.yaml)', () => {
  const result = importArgoCd(fixture('argocd-apps.yaml'));

  it('converts the three convertible Applications, each valid for Capstan', () => {
    assert.deepEqual(
      result.applications.map((a) => a.metadata.name),
      ['guestbook', 'helm-guestbook', 'kustomize-guestbook'],
    );
    for (const application of result.applications) assert.ok(validateApplication(application).ok);
  });

  it('maps a plain application: path, in-cluster destination, automated sync, retry, ignoreDifferences, finalizer', () => {
    assert.deepEqual(byName(result, 'guestbook'), {
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Application',
      metadata: {
        name: 'guestbook',
        namespace: 'guestbook',
        labels: { team: 'web' },
        finalizers: ['capstan.dev/resources'],
      },
      spec: {
        source: {
          repoURL: 'https://git.example.com/apps/argocd-example-apps.git',
          targetRevision: 'HEAD',
          path: 'guestbook',
        },
        destination: { namespace: 'guestbook' },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: ['CreateNamespace=true'],
          retry: { limit: 3, backoff: { duration: '10s', factor: 2, maxDuration: '2m' } },
        },
        ignoreDifferences: [{ group: 'apps', kind: 'Deployment', jsonPointers: ['/spec/replicas'] }],
      },
    });
  });

  it('maps Helm options (value files, parameters, valuesObject as inline values, release name, skipCrds), a named cluster and a project', () => {
    const app = byName(result, 'helm-guestbook');
    assert.deepEqual(app.spec.source.helm, {
      releaseName: 'guestbook-prod',
      valueFiles: ['values.yaml', 'values-production.yaml'],
      values: 'replicaCount: 3\ningress:\n  enabled: true\n',
      parameters: [
        { name: 'image.tag', value: '0.2' },
        { name: 'service.port', value: '8080', forceString: true },
      ],
      skipCrds: true,
    });
    assert.equal(app.spec.source.type, 'helm');
    assert.deepEqual(app.spec.destination, { cluster: 'production', namespace: 'guestbook-prod' });
    assert.equal(app.spec.project, 'web');
    assert.deepEqual(app.spec.syncPolicy, { syncOptions: ['PruneLast=true'] });
  });

  it('names every field and object it left out, with the file and line', () => {
    assert.deepEqual(findings(result.leftOut), [
      "argocd-apps.yaml:39: Application/argocd/helm-guestbook: spec.syncPolicy.syncOptions[1]: 'ApplyOutOfSyncOnly=true' is not a sync option of a Capstan Application",
      'argocd-apps.yaml:74: Application/argocd/kustomize-guestbook: spec.source.kustomize.namePrefix: Capstan runs kustomize build on the folder as it is: write this in its kustomization.yaml',
      'argocd-apps.yaml:74: Application/argocd/kustomize-guestbook: spec.revisionHistoryLimit: Capstan keeps the last 20 syncs of every Application',
      'argocd-apps.yaml:92: Application/argocd/multi: spec.sources: several sources in one Application: a Capstan Application has one source; make one Application per source',
      'argocd-apps.yaml:109: Application/argocd/plugin-app: spec.source.plugin: config management plugins do not run in Capstan: render in CI and commit the output, or use Kustomize or Helm',
      'argocd-apps.yaml:125: ApplicationSet/argocd/guestbooks: an ApplicationSet generates Applications from generators Capstan does not have: convert the Applications it generated (kubectl get applications -o yaml) instead',
      'argocd-apps.yaml:146: AppProject/argocd/web: spec.roles: Argo CD roles (policies, JWT tokens) differ from Capstan roles: write the roles of the Project by hand',
    ]);
  });

  it('notes what the user must do: register a cluster (named after the server), create the Project', () => {
    assert.deepEqual(byName(result, 'kustomize-guestbook').spec.destination?.cluster, '10.0.0.12');
    const notes = findings(result.notes).join('\n');
    assert.match(notes, /spec\.destination\.server: register the cluster in Capstan as '10\.0\.0\.12'/);
    assert.match(notes, /spec\.project: a Capstan Project named 'web' must exist/);
    assert.match(notes, /syncOptions\[1\]: Capstan always applies server-side/);
  });

  it('converts the AppProject into a Project: repositories, destinations, kinds; Applications of the destination namespaces', () => {
    assert.deepEqual(result.projects, [
      {
        apiVersion: 'capstan.dev/v1alpha1',
        kind: 'Project',
        metadata: { name: 'web' },
        spec: {
          description: "The web team's applications",
          applicationNamespaces: ['guestbook-prod', 'guestbook-*'],
          sourceRepos: ['https://git.example.com/apps/*'],
          destinations: [
            { cluster: 'production', namespace: 'guestbook-prod' },
            { cluster: 'in-cluster', namespace: 'guestbook-*' },
          ],
          clusterResources: [{ group: '', kind: 'Namespace' }],
          deniedNamespacedResources: [{ group: '', kind: 'ResourceQuota' }],
        },
      },
    ]);
    // helm-guestbook names the project and lives in guestbook-prod, one of its application namespaces.
    assert.equal(byName(result, 'helm-guestbook').metadata.namespace, 'guestbook-prod');
  });

  it('puts every Application in --namespace when given', () => {
    const moved = importArgoCd(fixture('argocd-apps.yaml'), { namespace: 'apps' });
    assert.deepEqual(
      moved.applications.map((a) => a.metadata.namespace),
      ['apps', 'apps', 'apps'],
    );
  });
});

describe('import flux (test/fixtures/import/flux-fleet.yaml)', () => {
  const result = importFlux(fixture('flux-fleet.yaml'));

  it('converts each Kustomization and each HelmRelease with its GitRepository or HelmRepository, each valid', () => {
    assert.deepEqual(
      result.applications.map((a) => a.metadata.name),
      ['infra-controllers', 'apps', 'podinfo', 'redis'],
    );
    for (const application of result.applications) assert.ok(validateApplication(application).ok);
  });

  it('maps url, branch, credentials, path, prune, the shorter interval and dependsOn across namespaces', () => {
    assert.deepEqual(byName(result, 'apps'), {
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Application',
      metadata: { name: 'apps', namespace: 'podinfo' },
      spec: {
        source: {
          repoURL: 'ssh://git@git.example.com/platform/fleet',
          targetRevision: 'main',
          secretRef: { name: 'fleet-auth' },
          path: 'apps/production',
        },
        destination: { namespace: 'podinfo' },
        syncPolicy: { automated: { prune: true, selfHeal: true } },
        interval: '1m0s',
        // infra-controllers stays in flux-system: the reference says so.
        dependsOn: [{ name: 'infra-controllers', namespace: 'flux-system' }],
      },
    });
  });

  it('maps a HelmRelease from git: chart path, semver ref, values files relative to the chart, values, install options, drift detection', () => {
    const app = byName(result, 'podinfo');
    assert.deepEqual(app.spec.source, {
      repoURL: 'https://git.example.com/stefanprodan/podinfo',
      targetRevision: '>=6.0.0 <7.0.0',
      path: 'charts/podinfo',
      type: 'helm',
      helm: {
        releaseName: 'podinfo',
        valueFiles: ['values.yaml', 'values-prod.yaml'],
        values: 'replicaCount: 2\ningress:\n  enabled: true\n',
        skipCrds: true,
      },
    });
    assert.deepEqual(app.spec.syncPolicy, {
      automated: { prune: true, selfHeal: true },
      syncOptions: ['CreateNamespace=true'],
    });
  });

  it('maps a HelmRelease of a HelmRepository: repository URL, chart, version range, interval', () => {
    const app = byName(result, 'redis');
    assert.deepEqual(app.spec.source, {
      repoURL: 'https://charts.example.com/bitnami',
      chart: 'redis',
      targetRevision: '17.x',
      helm: {},
    });
    assert.equal(app.spec.interval, '1h');
    assert.deepEqual(app.spec.syncPolicy, { automated: { prune: true, selfHeal: false } });
  });

  it('leaves out postBuild and retry settings, each with its field', () => {
    assert.deepEqual(
      result.leftOut.map((f) => `${f.subject} ${f.field}`),
      [
        'Kustomization/flux-system/infra-controllers spec.retryInterval',
        'Kustomization/flux-system/infra-controllers spec.timeout',
        'Kustomization/flux-system/apps spec.postBuild',
      ],
    );
  });

  it('says which keys the credentials Secret must have', () => {
    const note = result.notes.find((n) => n.field === 'spec.secretRef');
    assert.ok(note);
    assert.match(note.reason, /capstan\.dev\/repository-credentials/);
    assert.match(note.reason, /sshPrivateKey \(Flux: identity\) with knownHosts/);
  });
});

describe('import: hostile and malformed input', () => {
  const argo = (spec: string, extra = '') =>
    importArgoCd(
      parse(
        `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\n  namespace: argocd\n${extra}spec:\n${spec}`,
      ),
    );

  it('wrong types name the field and leave the value out; nothing throws', () => {
    const result = argo(
      '  source:\n    repoURL: https://h/r.git\n    helm:\n      valueFiles: nope\n      parameters: [{value: 1}, 7]\n  syncPolicy:\n    automated: yes please\n    retry: {limit: -1, backoff: {duration: forever}}\n',
    );
    assert.equal(result.applications.length, 1);
    assert.deepEqual(
      result.leftOut.map((f) => f.field),
      [
        'spec.source.helm.valueFiles',
        'spec.source.helm.parameters[0]',
        'spec.source.helm.parameters[1]',
        'spec.syncPolicy.automated',
        'spec.syncPolicy.retry.limit',
        'spec.syncPolicy.retry.backoff.duration',
      ],
    );
  });

  it('an Application without a source or a repoURL is left out, not half-converted', () => {
    assert.equal(argo('  project: default\n').applications.length, 0);
    const noUrl = argo('  source:\n    path: x\n');
    assert.equal(noUrl.applications.length, 0);
    assert.deepEqual(
      noUrl.leftOut.map((f) => f.field),
      ['spec.source.repoURL'],
    );
  });

  it('unknown fields, __proto__ keys and an unfinished operation are reported, never merged', () => {
    const result = argo(
      '  source:\n    repoURL: https://h/r.git\n    __proto__: {polluted: true}\n  surprise: 1\n',
      'operation: {sync: {}}\n',
    );
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.deepEqual(result.leftOut.map((f) => f.field).sort(), [
      'operation',
      'spec.source.__proto__',
      'spec.surprise',
    ]);
  });

  it('a converted Application Capstan would refuse is left out with the validation errors', () => {
    const result = argo('  source:\n    repoURL: https://h/r.git\n    path: ../../etc\n');
    assert.equal(result.applications.length, 0);
    assert.match(result.leftOut[0]?.reason ?? '', /spec\.source\.path: must stay inside the repository/);
  });

  it('directory options: Argo CD’s brace list becomes Capstan’s list of globs; recurse off unless asked', () => {
    const result = argo(
      "  source:\n    repoURL: https://h/r.git\n    directory:\n      include: '{*.yaml,base/*.yml}'\n      exclude: 'a{b,c}.yaml'\n",
    );
    assert.deepEqual(byName(result, 'x').spec.source.directory, {
      recurse: false,
      include: ['*.yaml', 'base/*.yml'],
    });
    assert.deepEqual(
      result.leftOut.map((f) => f.field),
      ['spec.source.directory.exclude'],
    );
  });

  it('directory.jsonnet: top-level arguments, external variables (code kept) and libraries convert as they are', () => {
    const result = argo(
      [
        '  source:',
        '    repoURL: https://h/r.git',
        '    path: jsonnet/guestbook',
        '    directory:',
        '      jsonnet:',
        '        tlas: [{name: replicas, value: "2", code: true}, {value: nameless}]',
        '        extVars: [{name: image, value: "nginx:1.27"}]',
        '        libs: [jsonnet/lib, 7]',
        '',
      ].join('\n'),
    );
    const application = byName(result, 'x');
    assert.deepEqual(application.spec.source.directory, {
      recurse: false,
      jsonnet: {
        tlas: [{ name: 'replicas', value: '2', code: true }],
        extVars: [{ name: 'image', value: 'nginx:1.27' }],
        libs: ['jsonnet/lib'],
      },
    });
    assert.equal(validateApplication(application).ok, true);
    assert.deepEqual(
      result.leftOut.map((f) => `${f.field}: ${f.reason}`),
      [
        'spec.source.directory.jsonnet.tlas[1]: a variable needs a name',
        'spec.source.directory.jsonnet.libs[1]: expected a folder of the repository',
      ],
    );
  });

  it('kubectl get -o yaml output (a List, server metadata, status) converts without findings', () => {
    const result = importArgoCd(
      parse(
        'apiVersion: v1\nkind: List\nitems:\n- apiVersion: argoproj.io/v1alpha1\n  kind: Application\n  metadata:\n    name: web\n    namespace: argocd\n    uid: 1234\n    resourceVersion: "99"\n    generation: 3\n    creationTimestamp: "2026-01-01T00:00:00Z"\n    annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}\n  spec:\n    source: {repoURL: "https://h/r.git", path: web}\n    destination: {server: "https://kubernetes.default.svc", namespace: web}\n  status: {sync: {status: Synced}}\n',
      ),
    );
    assert.deepEqual(result.leftOut, []);
    assert.deepEqual(byName(result, 'web').metadata, { name: 'web', namespace: 'web' });
  });

  it('an Argo CD repository Secret is not copied; the message says what Secret to make', () => {
    const result = importArgoCd(
      parse(
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: repo\n  namespace: argocd\n  labels: {argocd.argoproj.io/secret-type: repository}\nstringData: {url: "https://h/r.git", password: s3cret}\n',
      ),
    );
    assert.equal(result.applications.length, 0);
    assert.match(result.leftOut[0]?.reason ?? '', /type capstan\.dev\/repository-credentials/);
    assert.doesNotMatch(JSON.stringify(result), /s3cret/);
  });

  it('a plain http repository is converted with insecureHttp and a note', () => {
    const result = argo('  source:\n    repoURL: http://git.local/r.git\n');
    assert.equal(byName(result, 'x').spec.source.insecureHttp, true);
    assert.match(result.notes[0]?.reason ?? '', /plain http URL/);
  });

  it('objects of the other tool, or of neither, are left out whole', () => {
    const objects: ParsedObject[] = fixture('flux-fleet.yaml');
    assert.equal(importArgoCd(objects).leftOut.length, objects.length);
    const deployment = parse('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n');
    assert.match(importFlux(deployment).leftOut[0]?.reason ?? '', /not a Flux object/);
  });

  it('flux: a HelmRelease with a target namespace and no release name keeps Flux’s release name', () => {
    const result = importFlux(
      parse(
        'apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web, namespace: f}\nspec:\n  targetNamespace: prod\n  chart: {spec: {chart: ./chart, sourceRef: {kind: GitRepository, name: r}}}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r, namespace: f}\nspec: {url: "https://h/r.git", ref: {tag: v1.0.0}}\n',
      ),
    );
    const app = byName(result, 'web');
    assert.deepEqual(app.spec.source.helm, { releaseName: 'prod-web' });
    assert.equal(app.spec.source.path, 'chart');
    assert.equal(app.spec.source.targetRevision, 'v1.0.0');
    assert.deepEqual(result.leftOut, []);
  });

  it('flux: a HelmRelease of an OCIRepository (chartRef) takes the registry path and the chart from its url; valuesFrom is reported', () => {
    const result = importFlux(
      parse(
        [
          'apiVersion: source.toolkit.fluxcd.io/v1beta2',
          'kind: OCIRepository',
          'metadata: {name: podinfo, namespace: f}',
          'spec:',
          '  interval: 10m',
          '  url: oci://ghcr.example.com/stefanprodan/charts/podinfo',
          '  ref: {semver: ">=6.0.0"}',
          '  secretRef: {name: ghcr}',
          '---',
          'apiVersion: helm.toolkit.fluxcd.io/v2',
          'kind: HelmRelease',
          'metadata: {name: podinfo, namespace: f}',
          'spec:',
          '  interval: 5m',
          '  chartRef: {kind: OCIRepository, name: podinfo}',
          '  values: {replicaCount: 2}',
          '  valuesFrom: [{kind: ConfigMap, name: podinfo-values}]',
          '',
        ].join('\n'),
      ),
    );
    const app = byName(result, 'podinfo');
    assert.ok(validateApplication(app).ok);
    assert.deepEqual(app.spec.source, {
      repoURL: 'oci://ghcr.example.com/stefanprodan/charts',
      chart: 'podinfo',
      targetRevision: '>=6.0.0',
      secretRef: { name: 'ghcr' },
      helm: { values: 'replicaCount: 2\n' },
    });
    assert.equal(app.spec.interval, '5m');
    assert.deepEqual(
      result.leftOut.map((f) => `${f.subject} ${f.field}`),
      ['HelmRelease/f/podinfo spec.valuesFrom'],
    );
  });

  it('argocd: an Application of a chart keeps repoURL, chart, targetRevision and the Helm options; an OCI registry gets oci://', () => {
    const result = importArgoCd(
      parse(
        [
          'apiVersion: argoproj.io/v1alpha1',
          'kind: Application',
          'metadata: {name: redis, namespace: argocd}',
          'spec:',
          '  project: default',
          '  source:',
          '    repoURL: https://charts.example.com/bitnami',
          '    chart: redis',
          '    targetRevision: 17.*',
          '    helm: {releaseName: cache, valuesObject: {architecture: standalone}}',
          '  destination: {server: https://kubernetes.default.svc, namespace: redis}',
          '---',
          'apiVersion: argoproj.io/v1alpha1',
          'kind: Application',
          'metadata: {name: podinfo, namespace: argocd}',
          'spec:',
          '  source: {repoURL: ghcr.example.com/stefanprodan/charts, chart: podinfo, targetRevision: 6.5.0}',
          '  destination: {server: https://kubernetes.default.svc, namespace: podinfo}',
          '',
        ].join('\n'),
      ),
    );
    const redis = byName(result, 'redis');
    assert.ok(validateApplication(redis).ok);
    assert.deepEqual(redis.spec.source, {
      repoURL: 'https://charts.example.com/bitnami',
      chart: 'redis',
      targetRevision: '17.*',
      helm: { releaseName: 'cache', values: 'architecture: standalone\n' },
    });
    const podinfo = byName(result, 'podinfo');
    assert.ok(validateApplication(podinfo).ok);
    assert.equal(podinfo.spec.source.repoURL, 'oci://ghcr.example.com/stefanprodan/charts');
    assert.equal(podinfo.spec.source.chart, 'podinfo');
    assert.deepEqual(result.leftOut, []);
    assert.match(
      findings(result.notes).join('\n'),
      /an OCI registry without a scheme: converted to oci:\/\//,
    );
  });

  it('any field of the fixtures replaced by a value of another type: no exception, and every Application made is valid', () => {
    const replacements: unknown[] = [7, 'x', [1], { a: 1 }, null, true];
    let runs = 0;
    for (const [name, convert] of [
      ['argocd-apps.yaml', importArgoCd],
      ['flux-fleet.yaml', importFlux],
    ] as const) {
      const objects = fixture(name);
      for (const [index, parsed] of objects.entries()) {
        for (const path of leafPaths(parsed.object, [])) {
          for (const replacement of replacements) {
            const changed = structuredClone(objects);
            const target = changed[index];
            assert.ok(target);
            setAt(target.object, path, replacement);
            const result = convert(changed);
            for (const project of result.projects) assert.ok(validateProject(project).ok);
            for (const application of result.applications)
              assert.ok(
                validateApplication(application).ok,
                `${name} ${path.join('.')}=${JSON.stringify(replacement)}`,
              );
            runs += 1;
          }
        }
      }
    }
    assert.ok(runs > 500, `${runs} runs`);
  });

  it('flux: a source that is missing, or one nothing uses, is reported', () => {
    const result = importFlux(
      parse(
        'apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: f}\nspec:\n  sourceRef: {kind: GitRepository, name: gone}\n  prune: true\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: lonely, namespace: f}\nspec: {url: "https://h/r.git"}\n',
      ),
    );
    assert.equal(result.applications.length, 0);
    assert.deepEqual(findings(result.leftOut), [
      'input.yaml:1: Kustomization/f/a: spec.sourceRef: GitRepository/f/gone is not among the input: give it in the same file or stream',
      'input.yaml:8: GitRepository/f/lonely: no Kustomization or HelmRelease among the input uses this source; nothing converted',
    ]);
  });

  it('flux: a commit wins over a branch (Flux’s precedence); without a ref, Flux’s default branch, said in a note', () => {
    const result = importFlux(
      parse(
        'apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: f}\nspec:\n  sourceRef: {kind: GitRepository, name: r}\n  prune: false\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r, namespace: f}\nspec: {url: "https://h/r.git", ref: {commit: abc123, branch: main}}\n',
      ),
    );
    const app = byName(result, 'a');
    assert.equal(app.spec.source.targetRevision, 'abc123');
    assert.deepEqual(app.spec.syncPolicy?.automated, { prune: false, selfHeal: true });
    const noRef = importFlux(
      parse(
        'apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: f}\nspec:\n  sourceRef: {kind: GitRepository, name: r}\n  prune: true\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r, namespace: f}\nspec: {url: "https://h/r.git"}\n',
      ),
    );
    assert.equal(byName(noRef, 'a').spec.source.targetRevision, 'master');
    assert.ok(noRef.notes.some((n) => n.field === 'spec.ref' && /default branch 'master'/.test(n.reason)));
  });
});
