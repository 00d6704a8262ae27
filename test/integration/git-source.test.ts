// The Git source adapter against real git and a real git server (git http-backend, smart HTTP, basic auth).
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runGit } from '../../src/adapters/git/git-command.ts';
import { GitSourceFetcher } from '../../src/adapters/git/git-source.ts';
import { parseRepoUrl } from '../../src/adapters/git/url.ts';
import { CapstanError } from '../../src/core/errors.ts';
import type { FetchOptions, SourceSpec } from '../../src/ports/source.ts';
import { fixture, startGitServer } from '../../src/testing/git.ts';
import { eventually } from '../../src/testing/eventually.ts';

describe('GitSourceFetcher (real git, real git server)', async () => {
  const server = await startGitServer(after);
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-source-'));
  after(() => rm(scratch, { recursive: true, force: true }));
  let folders = 0;
  const folder = async (name: string) => {
    const dir = join(scratch, `${name}-${++folders}`);
    await rm(dir, { recursive: true, force: true });
    return dir;
  };

  const cacheDir = join(scratch, 'cache');
  const fetcher = new GitSourceFetcher({ cacheDir });
  const credentials = { kind: 'basic', username: server.username, password: server.password } as const;
  const options: FetchOptions = { credentials, allowInsecureHttp: true, timeoutMs: 20_000 };
  const spec = (repo: string, targetRevision = ''): SourceSpec => ({
    repoURL: server.url(repo),
    targetRevision,
  });
  const checkoutOf = async (repo: string, targetRevision = '', opts = options) => {
    const source = spec(repo, targetRevision);
    return fetcher.checkout(source, await fetcher.resolve(source, opts), opts);
  };
  /** The number of upload-pack requests (ls-remote and fetch) the work made to a repository. */
  const requestsDuring = async (repo: string, work: () => Promise<unknown>) => {
    const before = server.fetchCount(repo);
    await work();
    return server.fetchCount(repo) - before;
  };
  /** Requests made by one fetch of one commit, measured once on a repository of its own. */
  let oneFetch: Promise<number> | undefined;
  const requestsOfOneFetch = () =>
    (oneFetch ??= (async () => {
      await server.createRepository('baseline', { files: { 'a.txt': 'a\n' } });
      const revision = await fetcher.resolve(spec('baseline'), options);
      const count = await requestsDuring('baseline', () =>
        fetcher.checkout(spec('baseline'), revision, options),
      );
      assert.ok(count >= 1, 'a fetch makes at least one upload-pack request');
      return count;
    })());
  /** Annotated tags are made in the server's bare repository directly (its helper makes lightweight ones). */
  const annotatedTag = async (repo: string, tag: string, sha: string) => {
    const result = await runGit({
      binary: 'git',
      args: [
        `--git-dir=${join(server.root, 'repos', `${repo}.git`)}`,
        'tag',
        '-a',
        '-m',
        `release ${tag}`,
        '--',
        tag,
        sha,
      ],
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: scratch,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_COMMITTER_NAME: 'Release Bot',
        GIT_COMMITTER_EMAIL: 'release@capstan.invalid',
      },
      cwd: scratch,
      timeoutMs: 20_000,
    });
    assert.ok(result.ok, result.stderr);
  };
  const rejectsWith = async (promise: Promise<unknown>, code: string, pattern?: RegExp) => {
    let caught: unknown;
    await assert.rejects(promise, (error: unknown) => {
      caught = error;
      return true;
    });
    assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
    assert.equal(caught.code, code, caught.message);
    if (pattern) assert.match(caught.message, pattern);
    return caught;
  };
  /** A git that records its arguments (and whether a credential header came in its environment), then runs git. */
  const recordingGit = async () => {
    const dir = await folder('recording-git');
    await mkdir(dir, { recursive: true });
    const log = join(dir, 'log');
    const binary = join(dir, 'git');
    await writeFile(
      binary,
      [
        '#!/bin/sh',
        `printf 'argv: %s\\n' "$*" >> '${log}'`,
        `printf 'header: %s\\n' "\${GIT_CONFIG_VALUE_0:+given}" >> '${log}'`,
        `printf 'ssh: %s\\n' "$GIT_SSH_COMMAND" >> '${log}'`,
        `for f in '${join(dir, 'cache', 'tmp')}'/ssh-*/*; do [ -e "$f" ] && stat -c 'file: %a %n' "$f" >> '${log}'; done`,
        'exec git "$@"',
        '',
      ].join('\n'),
    );
    await chmod(binary, 0o755);
    const read = async () => readFile(log, 'utf8').catch(() => '');
    return { binary, log, read, cacheDir: join(dir, 'cache') };
  };

  it('resolves a branch and checks out its files, with the commit author, e-mail, date and subject', async () => {
    const first = await server.createRepository('apps', { fromDir: fixture('repos', 'plain') });
    const resolved = await fetcher.resolve(spec('apps', 'main'), options);
    assert.deepEqual(resolved, { sha: first, ref: 'refs/heads/main' });
    const tree = await fetcher.checkout(spec('apps', 'main'), resolved, options);
    assert.equal(tree.dir, join(cacheDir, 'trees', first));
    assert.deepEqual(tree.revision, resolved);
    assert.match(await readFile(join(tree.dir, 'app', 'configmap.yaml'), 'utf8'), /level: info/);
    assert.equal(tree.commit.sha, first);
    assert.equal(tree.commit.author, 'Capstan Test');
    assert.equal(tree.commit.email, 'test@capstan.invalid');
    assert.equal(tree.commit.subject, 'initial commit');
    assert.ok(!Number.isNaN(Date.parse(tree.commit.date)), tree.commit.date);
    assert.match(tree.commit.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$/);
    assert.deepEqual((await readdir(tree.dir)).sort(), ['README.md', 'app']);

    const staging = await server.commit('apps', {
      branch: 'staging',
      files: { 'app/extra.yaml': 'kind: ConfigMap\n' },
      message: 'add extra\n\nwith a body',
      author: { name: 'Ada Lovelace', email: 'ada@example.com' },
    });
    const onStaging = await checkoutOf('apps', 'staging');
    assert.deepEqual(onStaging.revision, { sha: staging, ref: 'refs/heads/staging' });
    assert.deepEqual(
      { author: onStaging.commit.author, email: onStaging.commit.email, subject: onStaging.commit.subject },
      { author: 'Ada Lovelace', email: 'ada@example.com', subject: 'add extra' },
    );
    assert.equal(await readFile(join(onStaging.dir, 'app', 'extra.yaml'), 'utf8'), 'kind: ConfigMap\n');
  });

  it('resolves an empty revision (and HEAD) to the default branch, whatever its name', async () => {
    const sha = await server.createRepository('trunk-based', {
      branch: 'trunk',
      files: { 'x.yaml': 'x: 1\n' },
    });
    assert.deepEqual(await fetcher.resolve(spec('trunk-based', ''), options), {
      sha,
      ref: 'refs/heads/trunk',
    });
    assert.deepEqual(await fetcher.resolve(spec('trunk-based', 'HEAD'), options), {
      sha,
      ref: 'refs/heads/trunk',
    });
    const tree = await checkoutOf('trunk-based');
    assert.equal(await readFile(join(tree.dir, 'x.yaml'), 'utf8'), 'x: 1\n');
  });

  it('resolves lightweight and annotated tags to their commit', async () => {
    const first = await server.createRepository('tagged', { files: { 'v.txt': '1\n' } });
    await server.tag('tagged', 'v1.0.0');
    const second = await server.commit('tagged', { files: { 'v.txt': '2\n' } });
    await annotatedTag('tagged', 'release-2', second);
    await server.commit('tagged', { files: { 'v.txt': '3\n' } });

    assert.deepEqual(await fetcher.resolve(spec('tagged', 'v1.0.0'), options), {
      sha: first,
      ref: 'refs/tags/v1.0.0',
    });
    assert.deepEqual(await fetcher.resolve(spec('tagged', 'release-2'), options), {
      sha: second,
      ref: 'refs/tags/release-2',
    });
    assert.deepEqual(await fetcher.resolve(spec('tagged', 'refs/tags/release-2'), options), {
      sha: second,
      ref: 'refs/tags/release-2',
    });
    const tree = await checkoutOf('tagged', 'release-2');
    assert.equal(await readFile(join(tree.dir, 'v.txt'), 'utf8'), '2\n');
  });

  it('picks the highest tag in a semver range, with or without v, skipping pre-releases unless named', async () => {
    await server.createRepository('versions', { files: { 'v.txt': 'start\n' } });
    const shas = new Map<string, string>();
    for (const tag of [
      'v1.2.0',
      '1.3.0',
      'v1.4.0',
      'v1.5.0-rc.1',
      'v2.0.0',
      '2.1.0-beta.1',
      'not-a-version',
    ]) {
      const sha = await server.commit('versions', { files: { 'v.txt': `${tag}\n` }, message: tag });
      if (tag === 'v1.4.0') await annotatedTag('versions', tag, sha);
      else await server.tag('versions', tag);
      shas.set(tag, sha);
    }
    const expect = async (range: string, tag: string) => {
      assert.deepEqual(
        await fetcher.resolve(spec('versions', range), options),
        { sha: shas.get(tag), ref: `refs/tags/${tag}` },
        `${range} → ${tag}`,
      );
    };
    await expect('>=1.2 <2', 'v1.4.0');
    await expect('^1.2', 'v1.4.0');
    await expect('1.x', 'v1.4.0');
    await expect('~1.3.0', '1.3.0');
    await expect('*', 'v2.0.0');
    await expect('>=1.5.0-rc.0 <2', 'v1.5.0-rc.1');
    await expect('^2.1.0-beta.0', '2.1.0-beta.1');
    await expect('v1.2.0', 'v1.2.0'); // an exact tag name wins over reading it as a range
    const tree = await checkoutOf('versions', '^1');
    assert.equal(await readFile(join(tree.dir, 'v.txt'), 'utf8'), 'v1.4.0\n');

    await rejectsWith(
      fetcher.resolve(spec('versions', '^3'), options),
      'SOURCE_REF_NOT_FOUND',
      /'\^3'.*semver range/,
    );
  });

  it('returns a full SHA as is, without asking the server, and verifies it by fetching it at checkout', async () => {
    const first = await server.createRepository('pinned', { files: { 'p.txt': 'first\n' } });
    await server.commit('pinned', { files: { 'p.txt': 'second\n' } });
    let resolved = { sha: '', ref: '' };
    const asked = await requestsDuring('pinned', async () => {
      resolved = await fetcher.resolve(spec('pinned', first.toUpperCase()), options);
    });
    assert.equal(asked, 0);
    assert.deepEqual(resolved, { sha: first, ref: first });
    const tree = await fetcher.checkout(spec('pinned', first), resolved, options);
    assert.equal(await readFile(join(tree.dir, 'p.txt'), 'utf8'), 'first\n');

    const missing = 'de'.repeat(20);
    const unknown = await fetcher.resolve(spec('pinned', missing), options);
    const error = await rejectsWith(
      fetcher.checkout(spec('pinned', missing), unknown, options),
      'SOURCE_REF_NOT_FOUND',
    );
    assert.ok(error.message.includes(missing) && error.message.includes(server.url('pinned')), error.message);
    assert.equal(error.subject, server.url('pinned'));
  });

  it('fetches nothing for a commit already checked out; a new fetcher on the same cache only proves access', async () => {
    await server.createRepository('cached', { files: { 'c.txt': 'c\n' } });
    const revision = await fetcher.resolve(spec('cached'), options);
    const first = await fetcher.checkout(spec('cached'), revision, options);
    const again = await requestsDuring('cached', async () => {
      const second = await fetcher.checkout(spec('cached'), revision, options);
      assert.equal(second.dir, first.dir);
      assert.deepEqual(second.commit, first.commit);
    });
    assert.equal(again, 0, 'no upload-pack request for a cached commit');
    const reported: string[] = [];
    const restarted = new GitSourceFetcher({
      cacheDir,
      onRemoteOperation: (operation) => reported.push(`${operation.kind} ${operation.result}`),
    });
    const third = await restarted.checkout(
      spec('cached', 'main'),
      { ...revision, ref: 'refs/heads/main' },
      options,
    );
    assert.equal(third.dir, first.dir);
    assert.deepEqual(third.commit, first.commit);
    assert.deepEqual(
      reported,
      ['ls-remote success'],
      'one ls-remote proves the credentials; nothing is fetched',
    );
  });

  it('shares one fetch among many concurrent checkouts of one commit, and fetches other repositories alongside', async () => {
    const single = await requestsOfOneFetch();
    const sha = await server.createRepository('crowd', { files: { 'c.txt': 'crowd\n' } });
    await server.createRepository('neighbour', { files: { 'n.txt': 'n\n' } });
    const neighbour = await fetcher.resolve(spec('neighbour'), options);
    const revision = { sha, ref: 'refs/heads/main' };
    await fetcher.resolve(spec('crowd'), options); // proves access, as the reconciler's resolve does
    const made = await requestsDuring('crowd', async () => {
      const trees = await Promise.all([
        ...Array.from({ length: 12 }, () => fetcher.checkout(spec('crowd'), revision, options)),
        fetcher.checkout(spec('neighbour'), neighbour, options),
      ]);
      const dirs = new Set(trees.slice(0, 12).map((tree) => tree.dir));
      assert.deepEqual([...dirs], [join(cacheDir, 'trees', sha)]);
      assert.equal(await readFile(join(trees[12]?.dir ?? '', 'n.txt'), 'utf8'), 'n\n');
    });
    assert.equal(made, single, 'twelve checkouts, one fetch');
  });

  it('reports each git fetch and ls-remote it runs: one fetch for many concurrent checkouts of a new commit', async () => {
    const reported: string[] = [];
    const counted = new GitSourceFetcher({
      cacheDir: await folder('counted-cache'),
      onRemoteOperation: (operation) => reported.push(`${operation.kind} ${operation.result}`),
    });
    await server.createRepository('counted', { files: { 'c.txt': 'one\n' } });
    const first = await counted.resolve(spec('counted'), options);
    await Promise.all(Array.from({ length: 12 }, () => counted.checkout(spec('counted'), first, options)));
    await server.commit('counted', { files: { 'c.txt': 'two\n' } });
    const second = await counted.resolve(spec('counted'), options);
    await Promise.all(Array.from({ length: 12 }, () => counted.checkout(spec('counted'), second, options)));
    await counted.checkout(spec('counted'), first, options);
    assert.deepEqual(reported, ['ls-remote success', 'fetch success', 'ls-remote success', 'fetch success']);
    await assert.rejects(
      counted.checkout(spec('counted'), { sha: 'f'.repeat(40), ref: 'f'.repeat(40) }, options),
    );
    assert.equal(reported.at(-1), 'fetch error');
  });

  it('sees a new commit with ls-remote alone, and fetches it once at checkout', async () => {
    const single = await requestsOfOneFetch();
    await server.createRepository('moving', { files: { 'm.txt': 'one\n' } });
    const one = await checkoutOf('moving', 'main');
    const two = await server.commit('moving', { files: { 'm.txt': 'two\n' } });

    const seen = await fetcher.resolve(spec('moving', 'main'), options);
    assert.deepEqual(seen, { sha: two, ref: 'refs/heads/main' });
    assert.notEqual(seen.sha, one.revision.sha);
    // resolve() fetched nothing: the cache does not hold the new commit yet.
    const bare = join(
      cacheDir,
      'repos',
      `${parseRepoUrl(server.url('moving'), { allowInsecureHttp: true }).cacheKey}.git`,
    );
    const has = (sha: string) =>
      runGit({
        binary: 'git',
        args: [`--git-dir=${bare}`, 'cat-file', '-e', `${sha}^{commit}`],
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: scratch },
        cwd: scratch,
        timeoutMs: 10_000,
      });
    assert.equal((await has(one.revision.sha)).ok, true);
    assert.equal((await has(two)).ok, false);

    const made = await requestsDuring('moving', async () => {
      const tree = await fetcher.checkout(spec('moving', 'main'), seen, options);
      assert.equal(await readFile(join(tree.dir, 'm.txt'), 'utf8'), 'two\n');
      await fetcher.checkout(spec('moving', 'main'), seen, options);
    });
    assert.equal(made, single, 'one fetch for the new commit, none for the second checkout');
    assert.equal(await readFile(join(one.dir, 'm.txt'), 'utf8'), 'one\n', 'the old tree is untouched');
  });

  it('serves a commit only from a repository that has it, whatever the cache holds', async () => {
    const secret = await server.createRepository('private-a', { files: { 'secret.txt': 'classified\n' } });
    await checkoutOf('private-a');
    await server.createRepository('public-b', { files: { 'b.txt': 'b\n' } });
    const revision = await fetcher.resolve(spec('public-b', secret), options);
    await rejectsWith(fetcher.checkout(spec('public-b'), revision, options), 'SOURCE_REF_NOT_FOUND');
  });

  it('gives SOURCE_AUTH_FAILED for a wrong password or none, never showing the password', async () => {
    await server.createRepository('guarded', { files: { 'g.txt': 'g\n' } });
    const password = 'Wr0ng-Pa55word-xyzzy';
    const wrong: FetchOptions = {
      ...options,
      credentials: { kind: 'basic', username: server.username, password },
    };
    const encoded = Buffer.from(`${server.username}:${password}`).toString('base64');
    for (const attempt of [
      () => fetcher.resolve(spec('guarded', 'main'), wrong),
      () => fetcher.checkout(spec('guarded'), { sha: 'ab'.repeat(20), ref: 'refs/heads/main' }, wrong),
      () => fetcher.resolve(spec('guarded', 'main'), { allowInsecureHttp: true }),
      () =>
        fetcher.resolve(spec('guarded', 'main'), {
          ...options,
          credentials: { kind: 'token', token: password },
        }),
    ]) {
      const error = await rejectsWith(attempt(), 'SOURCE_AUTH_FAILED', /refused access/);
      assert.equal(error.retryable, false);
      assert.equal(error.subject, server.url('guarded'));
      assert.ok(!error.message.includes(password) && !error.message.includes(encoded), error.message);
    }
  });

  it('hands credentials to git only through its environment, never in argv', async () => {
    await server.createRepository('argv-check', { files: { 'a.txt': 'a\n' } });
    const recording = await recordingGit();
    const watched = new GitSourceFetcher({ cacheDir: recording.cacheDir, gitBinary: recording.binary });
    const source = spec('argv-check');
    const tree = await watched.checkout(source, await watched.resolve(source, options), options);
    assert.equal(await readFile(join(tree.dir, 'a.txt'), 'utf8'), 'a\n');
    const log = await recording.read();
    assert.match(log, /argv: ls-remote --symref -- http:\/\/127\.0\.0\.1:\d+\/argv-check\.git HEAD/);
    assert.match(
      log,
      /argv: --git-dir=\S+ fetch --quiet --depth=1 .* -- http:\S+ \+[0-9a-f]{40}:refs\/capstan\//,
    );
    assert.match(log, /header: given/);
    const encoded = Buffer.from(`${server.username}:${server.password}`).toString('base64');
    assert.ok(!log.includes(server.password) && !log.includes(encoded), 'no secret in any argv');
  });

  it('writes an ssh key and known_hosts to 0600 files for GIT_SSH_COMMAND and removes them afterwards', async () => {
    const recording = await recordingGit();
    const watched = new GitSourceFetcher({ cacheDir: recording.cacheDir, gitBinary: recording.binary });
    const ssh: FetchOptions = {
      timeoutMs: 20_000,
      credentials: {
        kind: 'ssh',
        privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----',
        knownHosts:
          '[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      },
    };
    // Nothing listens on port 1: ssh runs with the key and fails to connect.
    const error = await rejectsWith(
      watched.resolve({ repoURL: 'ssh://git@127.0.0.1:1/org/repo.git', targetRevision: 'main' }, ssh),
      'SOURCE_UNREACHABLE',
    );
    assert.equal(error.retryable, true);
    assert.ok(!error.message.includes('not-a-real-key'));
    const log = await recording.read();
    assert.match(
      log,
      /ssh: ssh -F \/dev\/null -i '\S+\/tmp\/ssh-\w+\/key' -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile='\S+\/known_hosts' -o GlobalKnownHostsFile=\/dev\/null -o BatchMode=yes/,
    );
    assert.match(log, /file: 600 \S+\/key\n/);
    assert.match(log, /file: 600 \S+\/known_hosts\n/);
    assert.ok(!log.includes('not-a-real-key'), 'the key is not in argv');
    const left = (await readdir(join(recording.cacheDir, 'tmp'))).filter((name) => name.startsWith('ssh-'));
    assert.deepEqual(left, [], 'the key files are removed');

    await rejectsWith(
      watched.resolve(
        { repoURL: 'ssh://git@127.0.0.1:1/org/repo.git', targetRevision: 'main' },
        { credentials },
      ),
      'SOURCE_BAD_CREDENTIALS',
      /basic credentials, but the URL uses ssh/,
    );
  });

  it("refuses URLs and revisions that begin with '-', file://, ext:: and plain http before running git", async () => {
    const recording = await recordingGit();
    const watched = new GitSourceFetcher({ cacheDir: recording.cacheDir, gitBinary: recording.binary });
    await server.createRepository('guarded-http', { files: { 'h.txt': 'h\n' } });
    const sha = 'ab'.repeat(20);
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [
        () => watched.resolve({ repoURL: '--upload-pack=touch /tmp/x', targetRevision: '' }, options),
        'SOURCE_BAD_URL',
        /begins with '-'/,
      ],
      [
        () => watched.resolve({ repoURL: '-oProxyCommand=x:repo', targetRevision: '' }, options),
        'SOURCE_BAD_URL',
        /begins with '-'/,
      ],
      [
        () => watched.resolve({ repoURL: 'file:///etc/passwd.git', targetRevision: '' }, options),
        'SOURCE_BAD_URL',
        /file:\/\//,
      ],
      [
        () => watched.resolve({ repoURL: 'ext::sh', targetRevision: '' }, options),
        'SOURCE_BAD_URL',
        /ext::|transport/,
      ],
      [
        () => watched.resolve({ repoURL: '/srv/repo.git', targetRevision: '' }, options),
        'SOURCE_BAD_URL',
        /local paths/,
      ],
      [
        () => watched.resolve(spec('guarded-http', 'main'), { credentials }),
        'SOURCE_BAD_URL',
        /plain http.*--insecure-http/,
      ],
      [
        () => watched.resolve(spec('guarded-http', '--upload-pack=touch /tmp/x'), options),
        'SOURCE_BAD_REVISION',
        /begins with '-'/,
      ],
      [
        () => watched.resolve(spec('guarded-http', '-main'), options),
        'SOURCE_BAD_REVISION',
        /begins with '-'/,
      ],
      [
        () => watched.checkout(spec('guarded-http'), { sha, ref: '--output=/tmp/x' }, options),
        'SOURCE_BAD_REVISION',
        /begins with '-'/,
      ],
      [
        () => watched.checkout(spec('guarded-http'), { sha: '-x', ref: 'main' }, options),
        'SOURCE_BAD_REVISION',
        /40-hex/,
      ],
      [
        () => watched.checkout({ repoURL: 'ext::sh -c x', targetRevision: '' }, { sha, ref: sha }, options),
        'SOURCE_BAD_URL',
        /./,
      ],
    ];
    for (const [attempt, code, pattern] of cases) await rejectsWith(attempt(), code, pattern);
    assert.equal(await recording.read(), '', 'git never ran');
    // With allowInsecureHttp the same http URL works.
    assert.equal((await watched.resolve(spec('guarded-http', 'main'), options)).ref, 'refs/heads/main');
  });

  it('names the missing ref and the repository (without credentials) when a ref does not exist', async () => {
    await server.createRepository('refs-check', { files: { 'r.txt': 'r\n' } });
    const error = await rejectsWith(
      fetcher.resolve(spec('refs-check', 'no-such-branch'), options),
      'SOURCE_REF_NOT_FOUND',
    );
    assert.match(
      error.message,
      /no branch or tag named 'no-such-branch' exists in http:\/\/127\.0\.0\.1:\d+\/refs-check\.git/,
    );
    assert.ok(!error.message.includes(server.password));
    assert.equal(error.subject, server.url('refs-check'));
    assert.equal(error.retryable, false);
    await rejectsWith(
      fetcher.resolve(spec('no-such-repository', 'main'), options),
      'SOURCE_REPO_NOT_FOUND',
      /was not found/,
    );
  });

  it('stops git on a server that does not answer: SOURCE_TIMEOUT within the limit', async () => {
    const sha = await server.createRepository('hanging', { files: { 'h.txt': 'h\n' } });
    const quick: FetchOptions = { ...options, timeoutMs: 1500 };
    server.hang();
    try {
      for (const attempt of [
        () => fetcher.resolve(spec('hanging', 'main'), quick),
        () => fetcher.checkout(spec('hanging'), { sha, ref: 'refs/heads/main' }, quick),
      ]) {
        // The time limit's own error (not a connection failure), and git is gone: the repository
        // serves again below once the server resumes.
        const error = await rejectsWith(attempt(), 'SOURCE_TIMEOUT', /did not answer within 1\.5 s/);
        assert.ok(server.heldRequests > 0, 'git reached the server and was held');
        assert.equal(error.retryable, true);
        assert.equal(error.subject, server.url('hanging'));
      }
    } finally {
      server.resume();
    }
    const tree = await checkoutOf('hanging');
    assert.equal(await readFile(join(tree.dir, 'h.txt'), 'utf8'), 'h\n');
  });

  it('stops git when the caller cancels', async () => {
    await server.createRepository('cancelled', { files: { 'c.txt': 'c\n' } });
    server.hang();
    try {
      const controller = new AbortController();
      const resolving = fetcher.resolve(spec('cancelled', 'main'), { ...options, signal: controller.signal });
      // Cancel once git is waiting on the server (not on a timer: on a busy machine git may not have
      // started yet); the hung server never answers, so only the cancel can end the call.
      await eventually(() => server.heldRequests > 0, { what: 'git waiting on the hung server' });
      controller.abort();
      await rejectsWith(resolving, 'SOURCE_CANCELLED');
    } finally {
      server.resume();
    }
  });

  it('reports an unreachable server as retryable, and still serves commits it already has', async () => {
    await server.createRepository('offline', { files: { 'o.txt': 'o\n' } });
    const tree = await checkoutOf('offline');
    await server.stop();
    try {
      const error = await rejectsWith(
        fetcher.resolve(spec('offline', 'main'), options),
        'SOURCE_UNREACHABLE',
      );
      assert.equal(error.retryable, true);
      // The fetcher that proved these credentials before still serves what it has.
      const again = await fetcher.checkout(spec('offline'), tree.revision, options);
      assert.equal(again.dir, tree.dir);
      assert.equal((await stat(join(again.dir, 'o.txt'))).isFile(), true);
      // A new one cannot prove them, and says so (retryable); it serves the commit once the server is back.
      const restarted = new GitSourceFetcher({ cacheDir, accessTtlMs: 0 });
      const unproven = await rejectsWith(
        restarted.checkout(spec('offline'), tree.revision, options),
        'SOURCE_UNREACHABLE',
      );
      assert.equal(unproven.retryable, true);
      await server.listen();
      assert.equal((await restarted.checkout(spec('offline'), tree.revision, options)).dir, tree.dir);
    } finally {
      await server.listen();
    }
  });
});
