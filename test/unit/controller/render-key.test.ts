// The render cache's key against real git: a repository on the test git server, the Git source adapter's
// content ids and the manifest renderer's inputs. A key changes exactly when what the render reads changes.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GitSourceFetcher } from '../../../src/adapters/git/git-source.ts';
import { ManifestRenderer } from '../../../src/adapters/render/renderer.ts';
import { RenderCache } from '../../../src/controller/render-cache.ts';
import type { RenderRequest } from '../../../src/ports/renderer.ts';
import type { FetchOptions, SourceSpec, SourceTree } from '../../../src/ports/source.ts';
import { startGitServer } from '../../../src/testing/git.ts';

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

describe('render cache keys (real git)', async () => {
  const server = await startGitServer(after);
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-render-key-'));
  after(() => rm(scratch, { recursive: true, force: true }));

  /** A stand-in for kustomize or helm that only tells its version (no render runs in these tests). */
  const fakeTool = async (name: string, version: string) => {
    const path = join(scratch, `${name}-${version}`);
    await writeFile(path, `#!/bin/sh\necho '${version}'\n`);
    await chmod(path, 0o755);
    return path;
  };
  /** git that logs its arguments, to count the runs. */
  const log = join(scratch, 'git.log');
  const gitBinary = join(scratch, 'git');
  await writeFile(gitBinary, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec git "$@"\n`);
  await chmod(gitBinary, 0o755);
  const lsTreeRuns = async () =>
    (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes(' ls-tree ')).length;

  const fetcher = new GitSourceFetcher({ cacheDir: join(scratch, 'cache'), gitBinary });
  const options: FetchOptions = {
    credentials: { kind: 'basic', username: server.username, password: server.password },
    allowInsecureHttp: true,
    timeoutMs: 20_000,
  };
  const renderer = new ManifestRenderer({
    kustomizeBinary: await fakeTool('kustomize', 'v5.8.1'),
    helmBinary: await fakeTool('helm', 'v3.21.4'),
  });

  const checkout = async (repo: string, sha: string): Promise<{ source: SourceSpec; tree: SourceTree }> => {
    const source = { repoURL: server.url(repo), targetRevision: sha };
    return { source, tree: await fetcher.checkout(source, { sha, ref: sha }, options) };
  };
  /** The key of rendering `request` (root filled in) at a commit, from a cache of its own unless given. */
  const keyAt = async (
    repo: string,
    sha: string,
    request: Omit<RenderRequest, 'root'>,
    cache = new RenderCache(renderer),
  ) => {
    const { source, tree } = await checkout(repo, sha);
    return cache.key(
      sha,
      { ...request, root: tree.dir },
      { contentIds: (paths) => fetcher.contentIds(source, tree, paths, options) },
    );
  };

  it('keeps the key of a folder a commit did not touch, and changes the one it did', async () => {
    const one = await server.createRepository('mono', {
      files: { 'apps/a/cm.yaml': configMap('a', '1'), 'apps/b/cm.yaml': configMap('b', '1') },
    });
    const two = await server.commit('mono', { files: { 'apps/b/cm.yaml': configMap('b', '2') } });
    const three = await server.commit('mono', { files: { 'README.md': 'hello\n' } });
    const a = { path: 'apps/a' };
    const b = { path: 'apps/b' };
    assert.equal(await keyAt('mono', one, a), await keyAt('mono', two, a));
    assert.equal(await keyAt('mono', two, a), await keyAt('mono', three, a));
    assert.notEqual(await keyAt('mono', one, b), await keyAt('mono', two, b));
    assert.equal(await keyAt('mono', two, b), await keyAt('mono', three, b));
    // The key names no commit: it holds the folder's tree hash.
    assert.doesNotMatch(await keyAt('mono', one, a), new RegExp(one));
    // Options are part of it, and so is the path (two folders with the same files render different sources).
    assert.notEqual(
      await keyAt('mono', one, a),
      await keyAt('mono', one, { ...a, directory: { recurse: false } }),
    );
    assert.notEqual(await keyAt('mono', one, a), await keyAt('mono', one, { path: 'apps/b' }));
  });

  it('renders once per content: a commit elsewhere is a hit, a change in the folder a miss', async () => {
    const one = await server.createRepository('hits', {
      files: { 'apps/a/cm.yaml': configMap('a', '1'), 'apps/b/cm.yaml': configMap('b', '1') },
    });
    const two = await server.commit('hits', { files: { 'apps/b/cm.yaml': configMap('b', '2') } });
    const cache = new RenderCache(renderer);
    const render = async (sha: string, path: string) => {
      const { source, tree } = await checkout('hits', sha);
      return cache.render(
        sha,
        { root: tree.dir, path },
        { contentIds: (paths) => fetcher.contentIds(source, tree, paths, options) },
      );
    };
    await render(one, 'apps/a');
    await render(one, 'apps/b');
    const a = await render(two, 'apps/a');
    const b = await render(two, 'apps/b');
    assert.equal(a.cached, true);
    assert.equal(b.cached, false);
    assert.deepEqual(b.result.objects[0]?.object['data'], { value: '2' });
    assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 1, misses: 3 });
  });

  it('changes the key of a Kustomize overlay when a base outside its folder changes, even two levels down', async () => {
    const kustomization = (lines: string[]) =>
      `apiVersion: kustomize.config.k8s.io/v1beta1\n${lines.join('\n')}\n`;
    const one = await server.createRepository('kust', {
      files: {
        'overlays/prod/kustomization.yaml': kustomization([
          'resources:',
          '  - ../../bases/web',
          '  - cm.yaml',
          'patches:',
          '  - path: ../../patches/replicas.yaml',
        ]),
        'overlays/prod/cm.yaml': configMap('prod', '1'),
        'bases/web/kustomization.yaml': kustomization([
          'resources:',
          '  - cm.yaml',
          'components:',
          '  - ../../components/labels',
        ]),
        'bases/web/cm.yaml': configMap('web', '1'),
        'components/labels/kustomization.yaml':
          'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nlabels:\n  - pairs: { team: a }\n',
        'patches/replicas.yaml': configMap('web', 'patched'),
        'unrelated/cm.yaml': configMap('other', '1'),
      },
    });
    const prod = { path: 'overlays/prod' };
    const unrelated = await server.commit('kust', {
      files: { 'unrelated/cm.yaml': configMap('other', '2') },
    });
    assert.equal(await keyAt('kust', one, prod), await keyAt('kust', unrelated, prod));
    const base = await server.commit('kust', { files: { 'bases/web/cm.yaml': configMap('web', '2') } });
    assert.notEqual(await keyAt('kust', unrelated, prod), await keyAt('kust', base, prod));
    const component = await server.commit('kust', {
      files: {
        'components/labels/kustomization.yaml':
          'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nlabels:\n  - pairs: { team: b }\n',
      },
    });
    assert.notEqual(await keyAt('kust', base, prod), await keyAt('kust', component, prod));
    const patch = await server.commit('kust', {
      files: { 'patches/replicas.yaml': configMap('web', 'again') },
    });
    assert.notEqual(await keyAt('kust', component, prod), await keyAt('kust', patch, prod));
    const own = await server.commit('kust', { files: { 'overlays/prod/cm.yaml': configMap('prod', '2') } });
    assert.notEqual(await keyAt('kust', patch, prod), await keyAt('kust', own, prod));

    // The version of kustomize is part of the key.
    const newer = new RenderCache(
      new ManifestRenderer({ kustomizeBinary: await fakeTool('kustomize', 'v5.9.0'), helmBinary: 'helm' }),
    );
    assert.notEqual(await keyAt('kust', own, prod), await keyAt('kust', own, prod, newer));
    assert.match(await keyAt('kust', own, prod), /kustomize v5\.8\.1/);
  });

  it('changes the key of a Helm chart when a values file outside its folder changes', async () => {
    const one = await server.createRepository('helm', {
      files: {
        'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 1.0.0\n',
        'charts/web/values.yaml': 'replicas: 1\n',
        'charts/web/templates/cm.yaml': configMap('web', '{{ .Values.replicas }}'),
        'envs/prod/values.yaml': 'replicas: 3\n',
        'envs/staging/values.yaml': 'replicas: 2\n',
      },
    });
    const chart = { path: 'charts/web', helm: { valueFiles: ['../../envs/prod/values.yaml'] } };
    const staging = await server.commit('helm', { files: { 'envs/staging/values.yaml': 'replicas: 4\n' } });
    assert.equal(await keyAt('helm', one, chart), await keyAt('helm', staging, chart));
    const prod = await server.commit('helm', { files: { 'envs/prod/values.yaml': 'replicas: 5\n' } });
    assert.notEqual(await keyAt('helm', staging, chart), await keyAt('helm', prod, chart));
    const template = await server.commit('helm', {
      files: { 'charts/web/templates/cm.yaml': configMap('web2', '{{ .Values.replicas }}') },
    });
    assert.notEqual(await keyAt('helm', prod, chart), await keyAt('helm', template, chart));
    assert.match(await keyAt('helm', template, chart), /helm v3\.21\.4/);
  });

  it('falls back to the commit where what a render reads is not known for sure', async () => {
    const tree = join(scratch, 'fallback-tree');
    await mkdir(join(tree, 'broken'), { recursive: true });
    await mkdir(join(tree, 'linked'), { recursive: true });
    await mkdir(join(tree, 'shared'), { recursive: true });
    await mkdir(join(tree, 'remote'), { recursive: true });
    await writeFile(join(tree, 'broken', 'kustomization.yaml'), 'resources: [unclosed\n');
    await writeFile(join(tree, 'linked', 'cm.yaml'), configMap('linked', '1'));
    await writeFile(join(tree, 'shared', 'cm.yaml'), configMap('shared', '1'));
    await symlink('../shared/cm.yaml', join(tree, 'linked', 'shared.yaml'));
    await writeFile(
      join(tree, 'remote', 'kustomization.yaml'),
      'resources:\n  - https://github.com/example/config//base?ref=v1\n',
    );
    const one = await server.createRepository('fallback', { fromDir: tree });
    const two = await server.commit('fallback', { files: { 'README.md': 'unrelated\n' } });
    const cases: Omit<RenderRequest, 'root'>[] = [
      { path: 'broken' }, // a kustomization that cannot be parsed
      { path: 'linked' }, // a symlink the directory renderer follows out of the folder
      { path: 'remote', kustomize: { allowRemoteBases: true } }, // a remote base
      { path: 'missing' }, // no such folder
    ];
    for (const request of cases) {
      const first = await keyAt('fallback', one, request);
      assert.match(first, new RegExp(one), `${request.path}: keyed by its commit`);
      assert.notEqual(
        first,
        await keyAt('fallback', two, request),
        `${request.path}: a new commit, a new key`,
      );
    }
  });

  it('gives content ids with one git run per commit, and none for what is not a plain path', async () => {
    const sha = await server.createRepository('ids', {
      files: {
        'apps/a/cm.yaml': configMap('a', '1'),
        'apps/b/cm.yaml': configMap('b', '1'),
        'top.yaml': 'x: 1\n',
      },
    });
    const { source, tree } = await checkout('ids', sha);
    const before = await lsTreeRuns();
    const ids = await fetcher.contentIds(
      source,
      tree,
      ['apps/a', 'apps/a/', './apps/b', 'top.yaml', '.', 'nope', '../x'],
      options,
    );
    assert.match(ids.get('apps/a') ?? '', /^tree:[0-9a-f]{40}$/);
    assert.equal(ids.get('apps/a/'), ids.get('apps/a'));
    assert.match(ids.get('./apps/b') ?? '', /^tree:/);
    assert.match(ids.get('top.yaml') ?? '', /^blob:[0-9a-f]{40}$/);
    assert.match(ids.get('.') ?? '', /^tree:[0-9a-f]{64}$/);
    assert.equal(ids.get('nope'), undefined);
    assert.equal(ids.get('../x'), undefined);
    // Concurrent and later askers of the same commit, for any paths, share that one listing.
    await Promise.all(
      Array.from({ length: 10 }, () => fetcher.contentIds(source, tree, ['apps/a', 'apps/b'], options)),
    );
    await fetcher.contentIds(source, tree, ['apps/a', 'apps/b'], options);
    assert.equal((await lsTreeRuns()) - before, 1);

    // A commit too large to list whole is listed per set of paths (the sets asked for while one
    // listing runs, together after it), with the same ids.
    const small = new GitSourceFetcher({
      cacheDir: join(scratch, 'cache-small'),
      gitBinary,
      maxWholeListingBytes: 16,
    });
    const smallTree = await small.checkout(source, { sha, ref: sha }, options);
    const paths = ['apps/a', 'apps/a/', './apps/b', 'top.yaml', '.', 'nope', '../x'];
    assert.deepEqual(await small.contentIds(source, smallTree, paths, options), ids);
    const beforeSets = await lsTreeRuns();
    const sets = await Promise.all(
      ['apps/a', 'apps/b', 'top.yaml', 'apps'].map((p) => small.contentIds(source, smallTree, [p], options)),
    );
    assert.deepEqual(
      sets.map((m) => [...m.values()][0]),
      [ids.get('apps/a'), ids.get('./apps/b'), ids.get('top.yaml'), sets[3]?.get('apps')],
    );
    assert.match(sets[3]?.get('apps') ?? '', /^tree:/);
    assert.ok((await lsTreeRuns()) - beforeSets <= 2, 'the second to fourth sets in one listing');

    // A .gitattributes above a folder decides its checked-out bytes too: it is part of the id.
    const attributed = await server.commit('ids', {
      files: { 'apps/.gitattributes': '*.yaml text eol=crlf\n' },
    });
    const next = await checkout('ids', attributed);
    const nextIds = await fetcher.contentIds(next.source, next.tree, ['apps/a'], options);
    assert.notEqual(nextIds.get('apps/a'), ids.get('apps/a'));
  });
});
