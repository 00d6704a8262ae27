// The test git server is real git (git http-backend) over smart HTTP with basic auth.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { run } from '../../src/devcluster/exec.ts';
import { fixture, startGitServer } from '../../src/testing/git.ts';

describe('git server (smart HTTP, basic auth)', async () => {
  const server = await startGitServer(after);
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-clone-'));
  after(() => rm(scratch, { recursive: true, force: true }));
  // Credentials travel in a header given through the environment, never in argv or the URL.
  const git = (args: string[], password = server.password) =>
    run('git', args, {
      cwd: scratch,
      timeoutMs: 20_000,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: scratch,
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.extraHeader',
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`${server.username}:${password}`).toString('base64')}`,
      },
    });

  it('serves a repository created from a fixture folder, and later commits and tags', async () => {
    const first = await server.createRepository('team/config', { fromDir: fixture('repos', 'plain') });
    await git(['clone', '--quiet', '--', server.url('team/config'), 'a']);
    assert.match(await readFile(join(scratch, 'a', 'app', 'configmap.yaml'), 'utf8'), /level: info/);

    const second = await server.commit('team/config', {
      files: { 'app/configmap.yaml': 'kind: ConfigMap\n', 'app/extra.yaml': 'x: 1\n' },
      message: 'change level',
    });
    await server.tag('team/config', 'v1.2.0');
    assert.notEqual(first, second);
    const refs = (await git(['ls-remote', '--', server.url('team/config')])).stdout;
    assert.match(refs, new RegExp(`^${second}\\trefs/heads/main$`, 'm'));
    assert.match(refs, new RegExp(`^${second}\\trefs/tags/v1.2.0$`, 'm'));
    assert.ok(server.fetchCount('team/config') >= 2, 'the server counts fetches per repository');

    const removed = await server.commit('team/config', { files: { 'app/extra.yaml': null } });
    await git(['-C', 'a', 'pull', '--quiet']);
    assert.equal((await git(['-C', 'a', 'rev-parse', 'HEAD'])).stdout.trim(), removed);
  });

  it('accepts a push over HTTP from an authenticated client', async () => {
    await server.createRepository('pushable');
    await git(['clone', '--quiet', '--', server.url('pushable'), 'p']);
    await git([
      '-C',
      'p',
      '-c',
      'user.name=ci',
      '-c',
      'user.email=ci@example.invalid',
      'commit',
      '--quiet',
      '--allow-empty',
      '-m',
      'from ci',
    ]);
    await git(['-C', 'p', 'push', '--quiet', 'origin', 'HEAD:main']);
    const refs = (await git(['ls-remote', '--', server.url('pushable'), 'refs/heads/main'])).stdout;
    assert.match(refs, new RegExp((await git(['-C', 'p', 'rev-parse', 'HEAD'])).stdout.trim()));
  });

  it('refuses a wrong password', async () => {
    await server.createRepository('private');
    await assert.rejects(
      git(['ls-remote', '--', server.url('private')], 'wrong'),
      /Authentication failed|401|could not read Username/,
    );
  });

  it('can hang (accept and never answer), and come back', async () => {
    await server.createRepository('flaky');
    server.hang();
    await assert.rejects(
      run(
        'git',
        [
          '-c',
          `http.extraHeader=Authorization: Basic ${Buffer.from(`${server.username}:${server.password}`).toString('base64')}`,
          'ls-remote',
          '--',
          server.url('flaky'),
        ],
        {
          timeoutMs: 1500,
          env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: scratch, GIT_TERMINAL_PROMPT: '0' },
        },
      ),
      /did not finish within 1500 ms/,
    );
    // The time limit ended it while the server held its request (not a refused connection).
    assert.ok(server.heldRequests > 0, 'git reached the server and was held');
    server.resume();
    assert.match((await git(['ls-remote', '--', server.url('flaky')])).stdout, /refs\/heads\/main/);
  });

  it('can stop and listen again on the same port', async () => {
    await server.createRepository('restartable');
    const port = server.port;
    await server.stop();
    await assert.rejects(
      git(['ls-remote', '--', server.url('restartable')]),
      /Could not connect|Failed to connect|Connection refused/i,
    );
    await server.listen();
    assert.equal(server.port, port);
    assert.match((await git(['ls-remote', '--', server.url('restartable')])).stdout, /refs\/heads\/main/);
  });
});
