// `capstan import argocd|flux` as a user runs it: the real CLI in a child process, fixtures as input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
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
      ['infra-controllers', 'apps', 'podinfo'],
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

  it('--help lists the tools and the exit codes', () => {
    const r = capstan(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: capstan import argocd\|flux/);
    assert.match(r.stdout, /5 converted with something left out/);
  });
});
