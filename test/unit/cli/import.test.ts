// `capstan import argocd|flux` as a user runs it: the real CLI in a child process, fixtures as input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { validateApplication } from '../../../src/contracts/application.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const CLI = join(ROOT, 'bin', 'capstan.js');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'import');
const capstan = (args: string[], input?: string) =>
  spawnSync(process.execPath, [CLI, 'import', ...args], {
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
    env: { ...process.env, CAPSTAN_STATE_DIR: '/nonexistent-capstan-state' },
  });

describe('capstan import', () => {
  it('argocd: prints valid Applications as YAML, the left-out fields on stderr, exit 5', () => {
    const r = capstan(['argocd', join(FIXTURES, 'argocd-apps.yaml')]);
    assert.equal(r.status, 5, r.stderr);
    const documents = parseAllDocuments(r.stdout);
    assert.ok(Array.isArray(documents));
    assert.equal(documents.length, 4);
    const [project, ...applications] = documents.map((d) => d.toJS() as { kind: string });
    assert.equal(project?.kind, 'Project');
    for (const application of applications) assert.ok(validateApplication(application).ok);
    assert.match(r.stderr, /^left out: .*argocd-apps\.yaml:92: Application\/argocd\/multi: spec\.sources: /m);
    assert.match(r.stderr, /^note: .*spec\.project: a Capstan Project named 'web' must exist/m);
    assert.match(r.stderr, /1 Project and 3 Applications converted, 7 fields or objects left out/);
  });

  it('flux: -o json prints a List; from standard input', () => {
    const r = spawnSync(
      'sh',
      ['-c', `${process.execPath} ${CLI} import flux -o json - < ${join(FIXTURES, 'flux-fleet.yaml')}`],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 5, r.stderr);
    const list = JSON.parse(r.stdout) as { kind: string; items: { metadata: { name: string } }[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((i) => i.metadata.name),
      ['infra-controllers', 'apps', 'podinfo', 'redis'],
    );
    assert.match(r.stderr, /^left out: \(stdin\):31: Kustomization\/flux-system\/apps: spec\.postBuild: /m);
  });

  it('exits 0 when everything converted', () => {
    const input =
      'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web, namespace: argocd}\n' +
      'spec:\n  source: {repoURL: "https://h/r.git", path: web}\n  destination: {namespace: web}\n';
    const r = capstan(['argocd', '-'], input);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /namespace: web/);
    assert.match(r.stderr, /1 Application converted, 0 fields or objects left out/);
  });

  it('bad input is a usage error (exit 2) naming the file and line', () => {
    const r = capstan(['argocd', join(FIXTURES, 'malformed.yaml')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /malformed\.yaml:15:1: /);
    assert.equal(r.stdout, '');
    const missing = capstan(['flux', '/nonexistent/fleet.yaml']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /\/nonexistent\/fleet\.yaml: cannot read it/);
    assert.equal(capstan(['kubectl', 'x.yaml']).status, 2);
    assert.equal(capstan(['argocd', '-o', 'table', 'x.yaml']).status, 2);
    const empty = capstan(['argocd', '-'], '# nothing\n');
    assert.equal(empty.status, 2);
    assert.match(empty.stderr, /\(stdin\) holds no object to import/);
  });

  it('flux: a folder is read through its kustomization.yaml, folder by folder; remote resources and patches are left out', () => {
    const fleet = mkdtempSync(join(tmpdir(), 'capstan-import-fleet-'));
    try {
      const write = (path: string, text: string) => {
        mkdirSync(dirname(join(fleet, path)), { recursive: true });
        writeFileSync(join(fleet, path), text);
      };
      const kustomization = (resources: string[], extra = '') =>
        'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n' +
        `resources:\n${resources.map((r) => `  - ${r}\n`).join('')}${extra}`;
      const git = (name: string) =>
        `apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: ${name}, namespace: flux-system}\n` +
        'spec: {url: "https://git.example/fleet.git", ref: {branch: main}}\n';
      const ks = (name: string, path: string) =>
        `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: ${name}, namespace: flux-system}\n` +
        `spec: {path: ${path}, sourceRef: {kind: GitRepository, name: flux-system}}\n`;
      write(
        'clusters/prod/kustomization.yaml',
        kustomization(
          ['flux-system', 'https://github.example/org/repo//base', 'apps'],
          'patches:\n  - path: p.yaml\n',
        ),
      );
      write('clusters/prod/flux-system/kustomization.yaml', kustomization(['gotk-sync.yaml']));
      write(
        'clusters/prod/flux-system/gotk-sync.yaml',
        `${git('flux-system')}---\n${ks('flux-system', './clusters/prod')}`,
      );
      // A folder without a kustomization: every YAML file below it, in name order; other files ignored.
      write('clusters/prod/apps/web.yaml', ks('web', './apps/web'));
      write('clusters/prod/apps/more/api.yml', ks('api', './apps/api'));
      write('clusters/prod/apps/README.md', '# not read\n');
      write('clusters/prod/unlisted.yaml', ks('unlisted', './apps/unlisted'));
      const r = spawnSync(process.execPath, [CLI, 'import', 'flux', 'clusters/prod'], {
        cwd: fleet,
        encoding: 'utf8',
      });
      assert.equal(r.status, 5, r.stderr);
      const names = parseAllDocuments(r.stdout).map(
        (d) => (d.toJS() as { metadata: { name: string } }).metadata.name,
      );
      assert.deepEqual(names, ['api', 'web']);
      assert.match(
        r.stderr,
        /^left out: clusters\/prod\/kustomization\.yaml:5: kustomization: resources\[1\]: 'https:\/\/github\.example\/org\/repo\/\/base' is a remote resource: import it from a checkout/m,
      );
      assert.match(
        r.stderr,
        /^left out: clusters\/prod\/kustomization\.yaml:7: kustomization: patches: kustomize would change the objects/m,
      );
      assert.match(
        r.stderr,
        /^left out: clusters\/prod\/flux-system\/gotk-sync\.yaml:6: Kustomization\/flux-system\/flux-system: spec\.path: it applies the folder that holds it/m,
      );
      const missing = spawnSync(
        process.execPath,
        [CLI, 'import', 'flux', 'clusters/prod/apps/more/../../x'],
        {
          cwd: fleet,
          encoding: 'utf8',
        },
      );
      assert.equal(missing.status, 2);
      write('broken/kustomization.yaml', kustomization(['gone.yaml']));
      const broken = spawnSync(process.execPath, [CLI, 'import', 'flux', 'broken'], {
        cwd: fleet,
        encoding: 'utf8',
      });
      assert.equal(broken.status, 2);
      assert.match(
        broken.stderr,
        /broken\/kustomization\.yaml:4: resources\[0\] 'gone\.yaml': .*cannot read it/,
      );
    } finally {
      rmSync(fleet, { recursive: true, force: true });
    }
  });

  it('--help lists the tools and the exit codes', () => {
    const r = capstan(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: capstan import argocd\|flux/);
    assert.match(r.stdout, /5 converted with something left out/);
  });
});
