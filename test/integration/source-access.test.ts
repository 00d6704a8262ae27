// Tenancy of the shared git cache, with real git and a real git server (basic auth): a commit is
// served only to a caller that can fetch it itself, credentials go only where they are bound, and
// the agent's host policy keeps repositories off loopback and private addresses unless allowed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GitSourceFetcher } from '../../src/adapters/git/git-source.ts';
import { credentialsFromSecret } from '../../src/adapters/git/secret-credentials.ts';
import { CapstanError } from '../../src/core/errors.ts';
import type { FetchOptions, GitCredentials } from '../../src/ports/source.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';

async function refused(promise: Promise<unknown>, code: string, message: RegExp): Promise<CapstanError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof CapstanError, `expected a CapstanError ${code}, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  return error;
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

describe('the shared git cache across teams (real git, real git server)', async () => {
  const server = await startGitServer(after);
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-source-access-'));
  after(() => rm(scratch, { recursive: true, force: true }));
  const loopback = { allow: ['127.0.0.1'] };
  const fetcher = new GitSourceFetcher({ cacheDir: join(scratch, 'cache'), hosts: loopback });
  const teamA: GitCredentials = {
    kind: 'basic',
    username: server.username,
    password: server.password,
    urlPrefix: server.baseUrl,
  };
  const withCredentials: FetchOptions = { credentials: teamA, allowInsecureHttp: true, timeoutMs: 20_000 };
  const anonymous: FetchOptions = { allowInsecureHttp: true, timeoutMs: 20_000 };

  it('a private commit named by its full SHA is not served to an Application without credentials', async () => {
    const sha = await server.createRepository('team-a-private', {
      files: { 'secret.yaml': 'team-a only\n' },
    });
    const source = { repoURL: server.url('team-a-private'), targetRevision: sha };
    // Team A fetches it: the commit is now in the shared cache.
    const tree = await fetcher.checkout(
      source,
      await fetcher.resolve(source, withCredentials),
      withCredentials,
    );
    assert.equal(tree.revision.sha, sha);
    // Team B names the same URL and SHA, with no credentials: the remote refuses them (401), nothing is served.
    const revision = await fetcher.resolve(source, anonymous);
    await refused(fetcher.checkout(source, revision, anonymous), 'SOURCE_AUTH_FAILED', /refused access/);
    // With wrong credentials too.
    const wrong: FetchOptions = {
      ...anonymous,
      credentials: { ...teamA, password: 'not-the-password' },
    };
    await refused(fetcher.checkout(source, revision, wrong), 'SOURCE_AUTH_FAILED', /refused access/);
    // Team A is still served.
    assert.equal((await fetcher.checkout(source, revision, withCredentials)).dir, tree.dir);
  });

  it('a service-account token Secret is refused before anything is sent', () => {
    const requests = server.requests.length;
    const secret = {
      type: 'kubernetes.io/service-account-token',
      metadata: { labels: { 'capstan.dev/credentials': 'repository' } },
      data: { token: base64('eyJhbGciOi...'), url: base64('https://attacker.example.com') },
    };
    assert.throws(
      () => credentialsFromSecret(secret, 'Secret/team-a/default-token'),
      (error: unknown) =>
        error instanceof CapstanError &&
        error.code === 'SOURCE_BAD_CREDENTIALS' &&
        /Secret\/team-a\/default-token \(spec\.source\.secretRef\) is a service-account token; Capstan never sends one/.test(
          error.message,
        ),
    );
    // Any Secret of the namespace that is not marked for Capstan, too.
    assert.throws(
      () =>
        credentialsFromSecret(
          { type: 'Opaque', data: { token: base64('t'), url: base64('https://attacker.example.com') } },
          'Secret/team-a/other',
        ),
      /is not marked as repository credentials: give it the type capstan\.dev\/repository-credentials/,
    );
    assert.equal(server.requests.length, requests);
  });

  it('credentials bound to one server are never sent to another host', async () => {
    const sha = await server.createRepository('bound', { files: { 'a.txt': 'a\n' } });
    const credentials = credentialsFromSecret(
      {
        type: 'capstan.dev/repository-credentials',
        data: { token: base64('team-a-token'), url: base64('https://git.team-a.example.com/team-a') },
      },
      'Secret/team-a/git',
    );
    // The attacker's URL (an allowed host, so that only the binding decides): refused before git runs.
    const foreign = { repoURL: server.url('bound'), targetRevision: sha };
    const requests = server.requests.length;
    await refused(
      fetcher
        .resolve(foreign, { ...anonymous, credentials })
        .then(() => fetcher.checkout(foreign, { sha, ref: sha }, { ...anonymous, credentials })),
      'SOURCE_BAD_CREDENTIALS',
      /are bound to repositories under https:\/\/git\.team-a\.example\.com\/team-a, and this one is not/,
    );
    assert.equal(server.requests.length, requests, 'nothing reached the other host');
    // The prefix ends at a path boundary.
    await refused(
      fetcher.checkout(
        { repoURL: `${server.baseUrl}/bound-not.git`, targetRevision: sha },
        { sha, ref: sha },
        { ...withCredentials, credentials: { ...teamA, urlPrefix: `${server.baseUrl}/bound` } },
      ),
      'SOURCE_BAD_CREDENTIALS',
      /are bound to repositories under/,
    );
  });

  it('credentials are never sent over plain http to a host that is not loopback', async () => {
    const policy = new GitSourceFetcher({
      cacheDir: join(scratch, 'cache-http'),
      hosts: { allow: ['git.example.com'] },
    });
    await refused(
      policy.resolve(
        { repoURL: 'http://git.example.com/team-a/app.git', targetRevision: 'main' },
        { ...withCredentials, credentials: { ...teamA, urlPrefix: 'http://git.example.com/team-a' } },
      ),
      'SOURCE_BAD_CREDENTIALS',
      /would be sent over plain http, in clear: use https/,
    );
  });

  it('loopback, link-local, private and cluster-internal hosts are refused unless the agent allows them', async () => {
    const strict = new GitSourceFetcher({ cacheDir: join(scratch, 'cache-strict'), hosts: {} });
    const requests = server.requests.length;
    await refused(
      strict.resolve({ repoURL: server.url('bound'), targetRevision: 'main' }, withCredentials),
      'SOURCE_HOST_NOT_ALLOWED',
      /127\.0\.0\.1 is a loopback, link-local or private address, which is refused; an administrator can allow it with the agent's --allow-repository-host/,
    );
    assert.equal(server.requests.length, requests, 'git never ran');
    for (const [url, why] of [
      [
        'https://169.254.169.254/latest/meta-data.git',
        /169\.254\.169\.254 is a loopback, link-local or private address/,
      ],
      ['https://10.0.0.7/org/repo.git', /is a loopback, link-local or private address/],
      ['https://[::1]/org/repo.git', /::1 is a loopback/],
      ['https://gitea.gitea.svc.cluster.local/org/repo.git', /is a local or cluster-internal name/],
      ['https://gitea/org/repo.git', /gitea is a local or cluster-internal name/],
      ['https://localhost/org/repo.git', /localhost is a local or cluster-internal name/],
    ] as const) {
      await refused(
        strict.resolve({ repoURL: url, targetRevision: 'main' }, {}),
        'SOURCE_HOST_NOT_ALLOWED',
        why,
      );
    }
    // With an allow-list, only what is on it; a wildcard never lets an internal host in.
    const listed = new GitSourceFetcher({
      cacheDir: join(scratch, 'cache-listed'),
      hosts: { allow: ['*.example.com'], resolve: () => Promise.resolve(['10.1.2.3']) },
    });
    await refused(
      listed.resolve({ repoURL: 'https://github.com/org/repo.git', targetRevision: 'main' }, {}),
      'SOURCE_HOST_NOT_ALLOWED',
      /the host github\.com is not among the repository hosts this agent may fetch from/,
    );
    await refused(
      listed.resolve({ repoURL: 'https://git.example.com/org/repo.git', targetRevision: 'main' }, {}),
      'SOURCE_HOST_NOT_ALLOWED',
      /git\.example\.com resolves to 10\.1\.2\.3, a loopback, link-local or private address/,
    );
  });

  it('the agent accepts the Secret the tests make (marked and bound), and it fetches', async () => {
    const body = gitSecretBody(server);
    const data = Object.fromEntries(
      Object.entries(body.stringData).map(([key, value]) => [key, base64(value)]),
    );
    const credentials = credentialsFromSecret({ type: body.type, data }, 'Secret/team-a/git');
    await server.createRepository('accepted', { files: { 'a.txt': 'a\n' } });
    const source = { repoURL: server.url('accepted'), targetRevision: 'main' };
    const options = { ...anonymous, credentials };
    const tree = await fetcher.checkout(source, await fetcher.resolve(source, options), options);
    assert.match(tree.revision.sha, /^[0-9a-f]{40}$/);
  });
});

describe('the source cache on disk is bounded (real git, real git server)', async () => {
  const server = await startGitServer(after);
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-source-bounds-'));
  after(() => rm(scratch, { recursive: true, force: true }));
  const options: FetchOptions = {
    credentials: { kind: 'basic', username: server.username, password: server.password },
    allowInsecureHttp: true,
    timeoutMs: 20_000,
  };
  const checkout = async (fetcher: GitSourceFetcher, repo: string) => {
    const source = { repoURL: server.url(repo), targetRevision: 'main' };
    return fetcher.checkout(source, await fetcher.resolve(source, options), options);
  };

  it('refuses a commit whose files are too large before writing them (a compressible file)', async () => {
    const cacheDir = join(scratch, 'tree-bound');
    const fetcher = new GitSourceFetcher({ cacheDir, cacheBounds: { maxTreeBytes: 1024 * 1024 } });
    const sha = await server.createRepository('zeros', {
      files: { 'zeros.yaml': '0'.repeat(5 * 1024 * 1024) },
    });
    await refused(
      checkout(fetcher, 'zeros'),
      'SOURCE_TOO_LARGE',
      new RegExp(
        `^commit ${sha} of http://127\\.0\\.0\\.1:\\d+/zeros\\.git has more than 1048576 bytes of files; it was not written to disk`,
      ),
    );
    assert.deepEqual(await readdir(join(cacheDir, 'trees')), []);
  });

  it('refuses and removes a repository that takes too much room after a fetch', async () => {
    const cacheDir = join(scratch, 'repo-bound');
    const fetcher = new GitSourceFetcher({ cacheDir, cacheBounds: { maxRepositoryBytes: 64 * 1024 } });
    await server.createRepository('noise', {
      files: { 'noise.txt': randomBytes(256 * 1024).toString('base64') },
    });
    await refused(
      checkout(fetcher, 'noise'),
      'SOURCE_TOO_LARGE',
      /noise\.git takes \d+ bytes in the source cache, more than the limit of 65536; it was removed/,
    );
    assert.deepEqual(await readdir(join(cacheDir, 'repos')), []);
  });

  it('evicts the least recently used trees past the bound, and makes an evicted one again when asked', async () => {
    const cacheDir = join(scratch, 'lru');
    const fetcher = new GitSourceFetcher({ cacheDir, cacheBounds: { maxTrees: 2, minIdleMs: 0 } });
    const trees: string[] = [];
    for (const name of ['lru-a', 'lru-b', 'lru-c']) {
      await server.createRepository(name, { files: { 'f.txt': `${name}\n` } });
      trees.push((await checkout(fetcher, name)).revision.sha);
      await new Promise((resolve) => setTimeout(resolve, 20)); // distinct modification times
    }
    const [a, b, c] = trees;
    await eventually(async () => (await readdir(join(cacheDir, 'trees'))).length === 2, {
      what: 'the tree of lru-a evicted',
      timeoutMs: 5000,
    });
    assert.deepEqual((await readdir(join(cacheDir, 'trees'))).sort(), [b, c].sort());
    const again = await checkout(fetcher, 'lru-a');
    assert.equal(again.revision.sha, a);
    assert.equal(await readFile(join(again.dir, 'f.txt'), 'utf8'), 'lru-a\n');
  });

  it('evicts the least recently used repositories past the bound, and fetches an evicted one again', async () => {
    const cacheDir = join(scratch, 'lru-repos');
    const fetcher = new GitSourceFetcher({ cacheDir, cacheBounds: { maxRepositories: 2, minIdleMs: 0 } });
    const repos = async () => (await readdir(join(cacheDir, 'repos'))).filter((n) => !n.startsWith('.'));
    const seen: string[] = [];
    for (const name of ['lru-repo-a', 'lru-repo-b', 'lru-repo-c']) {
      await server.createRepository(name, { files: { 'f.txt': `${name}\n` } });
      await checkout(fetcher, name);
      seen.push(...(await repos()).filter((n) => !seen.includes(n)));
      await new Promise((resolve) => setTimeout(resolve, 20)); // distinct modification times
    }
    const [a, b, c] = seen;
    await eventually(async () => (await repos()).length === 2, {
      what: 'the repository lru-repo-a evicted',
      timeoutMs: 5000,
    });
    assert.deepEqual((await repos()).sort(), [b, c].sort());
    // A new commit of the evicted repository (its old tree is still cached): fetched again.
    await server.commit('lru-repo-a', { files: { 'f.txt': 'again\n' } });
    const again = await checkout(fetcher, 'lru-repo-a');
    assert.equal(await readFile(join(again.dir, 'f.txt'), 'utf8'), 'again\n');
    assert.ok((await repos()).includes(a ?? ''), 'fetched again');
  });

  it('never evicts what was used in the last ten minutes (the default), whatever the bound', async () => {
    const cacheDir = join(scratch, 'recent');
    const fetcher = new GitSourceFetcher({ cacheDir, cacheBounds: { maxTrees: 1, maxRepositories: 1 } });
    for (const name of ['recent-a', 'recent-b']) {
      await server.createRepository(name, { files: { 'f.txt': `${name}\n` } });
      await checkout(fetcher, name);
    }
    // Both stay: a render may be reading the older one right now.
    assert.equal((await readdir(join(cacheDir, 'trees'))).length, 2);
    assert.equal((await readdir(join(cacheDir, 'repos'))).filter((n) => !n.startsWith('.')).length, 2);
  });
});
