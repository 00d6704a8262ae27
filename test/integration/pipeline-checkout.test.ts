// The checkout of a pipeline run (`capstan pipeline checkout`) against a real git server over smart
// HTTP with basic auth: one commit alone into the workspace, credentials never in its messages.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkoutRevision } from '../../src/adapters/git/checkout.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { run } from '../../src/devcluster/exec.ts';
import { GitServer } from '../../src/devcluster/gitserver.ts';

let server: GitServer;
let root: string;
let first: string;
let second: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'capstan-checkout-'));
  server = await GitServer.start({ root: join(root, 'server'), password: 'checkout-password-123' });
  first = await server.createRepository('app', { files: { 'README.md': 'one\n' } });
  second = await server.commit('app', { files: { 'README.md': 'two\n' }, message: 'second' });
});

after(async () => {
  await server.stop();
  await rm(root, { recursive: true, force: true });
});

const credentials = () => ({ kind: 'basic' as const, username: server.username, password: server.password });

describe('checkoutRevision', () => {
  it('checks out the commit asked for, not the branch head, and fetches it alone', async () => {
    const dest = join(root, 'ws-1');
    const commit = await checkoutRevision({
      repoURL: server.url('app'),
      revision: first,
      dest,
      credentials: credentials(),
      allowInsecureHttp: true,
    });
    assert.equal(commit, first);
    assert.equal(await readFile(join(dest, 'README.md'), 'utf8'), 'one\n');
    const log = await run('git', ['-c', `safe.directory=${dest}`, '-C', dest, 'rev-list', '--count', 'HEAD']);
    assert.equal(log.stdout.trim(), '1', 'a shallow fetch of that commit only');
    assert.notEqual(first, second);
  });

  it('refuses a revision that is not a full commit, before any git runs', async () => {
    await assert.rejects(
      checkoutRevision({ repoURL: server.url('app'), revision: 'main', dest: join(root, 'ws-2') }),
      (e: unknown) => e instanceof CapstanError && e.code === 'SOURCE_BAD_REVISION',
    );
  });

  it('refuses plain http unless allowed', async () => {
    await assert.rejects(
      checkoutRevision({ repoURL: server.url('app'), revision: second, dest: join(root, 'ws-3') }),
      (e: unknown) => e instanceof CapstanError && e.code === 'SOURCE_BAD_URL',
    );
  });

  it('fails with the server’s reason on wrong credentials, without the password', async () => {
    const error = await checkoutRevision({
      repoURL: server.url('app'),
      revision: second,
      dest: join(root, 'ws-4'),
      credentials: { ...credentials(), password: 'wrong-password-456' },
      allowInsecureHttp: true,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof CapstanError);
    assert.equal(error.code, 'SOURCE_AUTH_FAILED', error.message);
    assert.ok(!error.message.includes('wrong-password-456'));
  });
});
