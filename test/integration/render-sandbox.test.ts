// The render sandbox (bubblewrap): a tool sees only the checkout and its scratch folder, and no
// network, loopback included. Each check is made both ways, so that it proves the sandbox and not a
// broken command: the same run outside the sandbox (or with the network allowed) does reach it.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTool, type ToolRun } from '../../src/adapters/render/exec.ts';
import { Sandbox, type SandboxAccess } from '../../src/adapters/render/sandbox.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';

describe('the render sandbox', async () => {
  const binaries = await ensureBinaries();
  const workspace = await realpath(await mkdtemp(join(tmpdir(), 'capstan-sandbox-')));
  const checkout = join(workspace, 'checkout');
  const scratch = join(workspace, 'scratch');
  const outside = join(workspace, 'other-team');
  const sandbox = new Sandbox();
  const access: SandboxAccess = { readOnly: [checkout], writable: [scratch], network: false };
  let server: Server;
  let requests = 0;
  let port = 0;

  const tool = (command: string, args: string[], cwd = checkout): ToolRun => ({
    command,
    args,
    cwd,
    env: { PATH: '/usr/bin:/bin', HOME: scratch, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    timeoutMs: 30_000,
    maxOutputBytes: 1_000_000,
    description: command,
  });
  const inside = async (run: ToolRun, allowed = access): Promise<string> =>
    runTool(await sandbox.wrap(run, allowed));
  const failure = async (promise: Promise<unknown>): Promise<CapstanError> => {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof CapstanError, `expected a CapstanError, got ${String(error)}`);
    return error;
  };

  before(async () => {
    await mkdir(checkout);
    await mkdir(scratch);
    await mkdir(outside);
    await writeFile(join(checkout, 'own.txt'), 'own\n');
    await writeFile(join(outside, 'secret.txt'), 'other-teams-s3cr3t\n');
    server = createServer((_request, response) => {
      requests++;
      response.statusCode = 404;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.close();
    await rm(workspace, { recursive: true, force: true });
  });

  it('reads the checkout, and writes only to the scratch folder', async () => {
    assert.equal(await inside(tool('/bin/cat', ['own.txt'])), 'own\n');
    await inside(tool('/bin/sh', ['-c', `echo made > ${scratch}/made.txt`]));
    const error = await failure(inside(tool('/bin/sh', ['-c', 'echo x > own.txt'])));
    assert.match(error.message, /Read-only file system/);
  });

  it('a file outside the checkout does not exist for the tool', async () => {
    assert.equal(await runTool(tool('/bin/cat', [join(outside, 'secret.txt')])), 'other-teams-s3cr3t\n');
    const error = await failure(inside(tool('/bin/cat', [join(outside, 'secret.txt')])));
    assert.match(error.message, /No such file or directory/);
    assert.doesNotMatch(error.message, /s3cr3t/);
    // Nor the agent's home, nor /etc.
    await failure(inside(tool('/bin/cat', ['/etc/passwd'])));
  });

  it('a loopback port cannot be reached, unless the network is allowed', async () => {
    const lsRemote = tool('/usr/bin/git', ['ls-remote', `http://127.0.0.1:${port}/repo.git`]);
    const before = requests;
    const error = await failure(inside(lsRemote));
    assert.match(error.message, /Failed to connect|Couldn't connect|Connection refused/);
    assert.equal(requests, before, 'no request reached the server');
    // With the network allowed, the same command does reach it (it answers 404).
    await failure(inside(lsRemote, { ...access, network: true }));
    assert.ok(requests > before, 'with the network allowed, the request reaches the server');
  });

  it('kustomize in the sandbox cannot load a base outside the checkout, even without the pre-check', async () => {
    const kustomize = join(binaries, 'kustomize');
    await writeFile(join(outside, 'kustomization.yaml'), 'resources: [cm.yaml]\n');
    await writeFile(join(outside, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\n');
    await mkdir(join(checkout, 'app'));
    await writeFile(join(checkout, 'app', 'kustomization.yaml'), 'resources: [../../other-team]\n');
    const build = tool(kustomize, ['build', '--', join(checkout, 'app')], join(checkout, 'app'));
    assert.match(await runTool(build), /name: leak/, 'outside the sandbox, kustomize reads it');
    const error = await failure(inside(build));
    assert.match(error.message, /other-team/);
    assert.doesNotMatch(error.message, /name: leak/);
  });

  it('without bwrap, says which package to install', async () => {
    const missing = new Sandbox({ command: join(workspace, 'no-bwrap-here') });
    const error = await failure(missing.wrap(tool('/bin/true', []), access));
    assert.equal(error.code, 'RENDER_SANDBOX_MISSING');
    assert.match(error.message, /Debian package bubblewrap/);
  });

  it('where namespaces cannot be made, says so before any render runs', async () => {
    // A bwrap that fails as one does under a seccomp profile that forbids user namespaces.
    const fake = join(workspace, 'bwrap-without-namespaces');
    await writeFile(fake, '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n', {
      mode: 0o755,
    });
    const error = await failure(new Sandbox({ command: fake }).wrap(tool('/bin/true', []), access));
    assert.equal(error.code, 'RENDER_SANDBOX_UNAVAILABLE');
    assert.match(
      error.message,
      /^the render sandbox cannot start here \(bwrap: bwrap: No permissions to create new namespace\): it needs user namespaces/,
    );
  });

  it('off: the tool runs as it is (for hosts that isolate renders otherwise)', async () => {
    const run = tool('/bin/cat', [join(outside, 'secret.txt')]);
    assert.deepEqual(await new Sandbox({ mode: 'off' }).wrap(run, access), run);
  });
});
