// A promotion's commit against a real git server (git http-backend with basic auth): the image
// reference by digest lands in the kustomization of the branch, in one commit whose message names the
// promotion; a branch that moves between the checkout and the push is fetched again and the push
// retried (the other commit kept); a reference that is not by digest, a path with `..` and a symbolic
// link out of the checkout are refused with a clear error and push nothing. The gates' question to git:
// a later promotion on the branch contains the earlier one; a commit of another branch, or an older
// one, does not.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { containsCommit } from '../../src/adapters/git/ancestry.ts';
import { writeImageReference, type ImageWriteOptions } from '../../src/adapters/git/image-write.ts';
import { startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after);
const exec = promisify(execFile);
const DIGEST = `sha256:${'d'.repeat(64)}`;
const IMAGE = `127.0.0.1:5000/capstan/hello@${DIGEST}`;
const KUSTOMIZATION = `resources:\n  - deployment.yaml\nimages:\n  - name: hello\n    newTag: "1"\n`;

/** A file of the branch as the server holds it. */
async function show(repo: string, spec: string): Promise<string> {
  const { stdout } = await exec('git', ['--git-dir', join(git.root, 'repos', `${repo}.git`), 'show', spec]);
  return stdout;
}

const options = (repo: string, overrides: Partial<ImageWriteOptions> = {}): ImageWriteOptions => ({
  repoURL: git.url(repo),
  branch: 'main',
  file: 'dev/kustomization.yaml',
  location: { kind: 'kustomize', name: 'hello' },
  reference: IMAGE,
  message: 'promote dev\n\nCapstan-Promotion: p-1\n',
  author: { name: 'Capstan', email: 'capstan@capstan.invalid' },
  credentials: { kind: 'basic', username: git.username, password: git.password },
  allowInsecureHttp: true,
  ...overrides,
});

describe('writing an image reference to the configuration repository', () => {
  it('commits the digest to the branch, once', async () => {
    const repo = `promote-write-${String(process.pid)}`;
    const first = await git.createRepository(repo, { files: { 'dev/kustomization.yaml': KUSTOMIZATION } });
    const written = await writeImageReference(options(repo));
    assert.equal(written.changed, true);
    assert.equal(written.attempts, 1);
    assert.equal(written.previous, undefined);
    assert.match(written.commit, /^[0-9a-f]{40}$/);
    assert.equal((await show(repo, 'main:dev/kustomization.yaml')).includes(`digest: ${DIGEST}`), true);
    assert.equal(
      (
        await exec('git', ['--git-dir', join(git.root, 'repos', `${repo}.git`), 'rev-parse', 'main'])
      ).stdout.trim(),
      written.commit,
    );
    const log = (
      await exec('git', [
        '--git-dir',
        join(git.root, 'repos', `${repo}.git`),
        'log',
        '-1',
        '--format=%P%n%an%n%B',
        'main',
      ])
    ).stdout;
    assert.match(log, new RegExp(`^${first}\nCapstan\npromote dev\n\nCapstan-Promotion: p-1`));
    // The same image again: nothing to commit, the tip holds it already.
    const again = await writeImageReference(options(repo));
    assert.deepEqual(again, { commit: written.commit, changed: false, previous: IMAGE, attempts: 1 });
  });

  it('retries on a branch that moved before the push, and keeps the other commit', async () => {
    const repo = `promote-moved-${String(process.pid)}`;
    await git.createRepository(repo, { files: { 'dev/kustomization.yaml': KUSTOMIZATION } });
    let other = '';
    const written = await writeImageReference(
      options(repo, {
        beforePush: async (attempt) => {
          if (attempt === 1) other = await git.commit(repo, { files: { 'README.md': 'moved meanwhile\n' } });
        },
      }),
    );
    assert.equal(written.attempts, 2);
    const parents = (
      await exec('git', [
        '--git-dir',
        join(git.root, 'repos', `${repo}.git`),
        'log',
        '-1',
        '--format=%P',
        'main',
      ])
    ).stdout.trim();
    assert.equal(parents, other, 'the promotion is committed on top of the commit that moved the branch');
    assert.equal(await show(repo, 'main:README.md'), 'moved meanwhile\n');
    assert.ok((await show(repo, 'main:dev/kustomization.yaml')).includes(DIGEST));
  });

  it('refuses a reference that is not by digest, and paths that leave the checkout', async () => {
    const repo = `promote-hostile-${String(process.pid)}`;
    const scratch = await mkdtemp(join(tmpdir(), 'capstan-promote-hostile-'));
    after(() => rm(scratch, { recursive: true, force: true }));
    await writeFile(join(scratch, 'kustomization.yaml'), KUSTOMIZATION);
    await symlink('/etc/hostname', join(scratch, 'escape.yaml'));
    const tip = await git.createRepository(repo, { fromDir: scratch });
    await assert.rejects(writeImageReference(options(repo, { reference: 'capstan/hello:latest' })), {
      code: 'PROMOTION_IMAGE_INVALID',
      message: /'capstan\/hello:latest' is not an image reference by digest/,
    });
    await assert.rejects(writeImageReference(options(repo, { file: '../../etc/passwd' })), {
      code: 'PROMOTION_PATH_INVALID',
      message: /'\.\.\/\.\.\/etc\/passwd' is not a path inside the repository/,
    });
    await assert.rejects(writeImageReference(options(repo, { file: 'escape.yaml' })), {
      code: 'PROMOTION_PATH_INVALID',
      message: /the file 'escape\.yaml' leads out of the repository/,
    });
    await assert.rejects(
      writeImageReference(
        options(repo, { file: 'kustomization.yaml', location: { kind: 'kustomize', name: 'web' } }),
      ),
      {
        code: 'PROMOTION_IMAGE_ENTRY',
        message: /kustomization\.yaml has no images entry named web/,
      },
    );
    const now = (
      await exec('git', ['--git-dir', join(git.root, 'repos', `${repo}.git`), 'rev-parse', 'main'])
    ).stdout.trim();
    assert.equal(now, tip, 'nothing was pushed');
  });

  it('tells a later commit that contains the promotion from one that does not', async () => {
    const repo = `promote-ancestry-${String(process.pid)}`;
    const root = await git.createRepository(repo, { files: { 'dev/kustomization.yaml': KUSTOMIZATION } });
    const side = await git.commit(repo, { branch: 'side', files: { 'README.md': 'another branch\n' } });
    const first = await writeImageReference(options(repo));
    const later = await writeImageReference(
      options(repo, { reference: `127.0.0.1:5000/capstan/hello@sha256:${'e'.repeat(64)}` }),
    );
    assert.notEqual(later.commit, first.commit);
    const contains = (ancestor: string, descendant: string) =>
      containsCommit({
        repoURL: git.url(repo),
        branch: 'main',
        ancestor,
        descendant,
        credentials: { kind: 'basic', username: git.username, password: git.password },
        allowInsecureHttp: true,
      });
    assert.equal(await contains(first.commit, later.commit), true, 'a later promotion contains it');
    assert.equal(await contains(first.commit, first.commit), true, 'a commit contains itself');
    assert.equal(await contains(first.commit, root), false, 'an older commit does not');
    assert.equal(await contains(first.commit, side), false, 'a commit of another branch does not');
    assert.equal(await contains(first.commit, 'f'.repeat(40)), false, 'a commit the server lacks does not');
    await assert.rejects(contains('main', later.commit), { code: 'PROMOTION_CONFIG_INVALID' });
  });

  it('fetches the branch shallow, deepening while it has not found the promotion, up to a bound', async () => {
    const repo = `promote-ancestry-deep-${String(process.pid)}`;
    await git.createRepository(repo, { files: { 'dev/kustomization.yaml': KUSTOMIZATION } });
    const promoted = await writeImageReference(options(repo));
    let tip = promoted.commit;
    // Ten later promotions on top (the server's branch moves; the test server's own clone would not follow).
    for (let i = 1; i <= 10; i++)
      tip = (
        await writeImageReference(
          options(repo, { reference: `127.0.0.1:5000/capstan/hello@sha256:${String(i % 10).repeat(64)}` }),
        )
      ).commit;
    const contains = (bounds: { depth: number; maxDepth: number }) =>
      containsCommit({
        repoURL: git.url(repo),
        branch: 'main',
        ancestor: promoted.commit,
        descendant: tip,
        credentials: { kind: 'basic', username: git.username, password: git.password },
        allowInsecureHttp: true,
        ...bounds,
      });
    // 10 commits behind: not in the first 2, found once deepened to 16.
    assert.equal(await contains({ depth: 2, maxDepth: 4096 }), true, 'found after deepening');
    assert.equal(await contains({ depth: 16, maxDepth: 16 }), true, 'found in the first fetch');
    // Further back than the bound: not known, so no (the gates wait), never a guess.
    assert.equal(await contains({ depth: 2, maxDepth: 8 }), false, 'not within 8 commits');
  });
});
