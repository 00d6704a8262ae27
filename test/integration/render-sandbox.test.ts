// The render sandboxes (bubblewrap and Landlock), one contract for both: a tool reads only the
// checkout, writes only its scratch folder, and reaches no network (TCP or UDP, loopback included)
// unless allowed; the same renders succeed in both. Each check is made both ways, so that it proves
// the sandbox and not a broken command: the same run outside the sandbox (or with the network
// allowed) does reach it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTool, type ToolRun } from '../../src/adapters/render/exec.ts';
import { Sandbox, type SandboxAccess } from '../../src/adapters/render/sandbox.ts';
import { findTool } from '../../src/adapters/render/tools.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import { eventually } from '../../src/testing/eventually.ts';

/** How each sandbox says no: bubblewrap hides what is outside, Landlock refuses it. */
const REFUSALS = {
  bubblewrap: {
    read: /No such file or directory/,
    write: /Read-only file system|No such file or directory|Directory nonexistent/,
  },
  landlock: { read: /Permission denied/, write: /Permission denied/ },
} as const;

for (const mode of ['bubblewrap', 'landlock'] as const) {
  describe(`the render sandbox: ${mode}`, async () => {
    await contract(mode);
  });
}

async function contract(mode: 'bubblewrap' | 'landlock'): Promise<void> {
  const binaries = await ensureBinaries();
  const workspace = await realpath(await mkdtemp(join(tmpdir(), 'capstan-sandbox-')));
  // The agent's cache: this render's checkout, and another team's beside it.
  const checkout = join(workspace, 'checkout');
  const scratch = join(workspace, 'scratch');
  const outside = join(workspace, 'other-team');
  const sandbox = new Sandbox({ mode, confine: await findTool('confine') });
  const refused = REFUSALS[mode];
  const access: SandboxAccess = { readOnly: [checkout], writable: [scratch], network: false };
  let server: Server;
  let udp: Socket;
  let requests = 0;
  let datagrams = 0;
  let port = 0;
  let udpPort = 0;

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
    udp = createSocket('udp4', () => datagrams++);
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    udpPort = udp.address().port;
  });
  after(async () => {
    server.close();
    udp.close();
    await rm(workspace, { recursive: true, force: true });
  });

  it(`names itself: ${mode}`, async () => {
    assert.equal((await sandbox.backend()).name, mode);
    const error = await failure(inside(tool('/bin/cat', [join(outside, 'secret.txt')])));
    assert.match(error.message, new RegExp(`^/bin/cat failed \\(exit 1\\) in the ${mode} sandbox:\\n`));
  });

  it('reads the checkout, and writes only to the scratch folder', async () => {
    assert.equal(await inside(tool('/bin/cat', ['own.txt'])), 'own\n');
    await inside(tool('/bin/sh', ['-c', `echo made > ${scratch}/made.txt`]));
    assert.equal(await readFile(join(scratch, 'made.txt'), 'utf8'), 'made\n');
    const error = await failure(inside(tool('/bin/sh', ['-c', 'echo x > own.txt'])));
    assert.match(error.message, refused.write);
    // Nor another team's folder.
    const planted = join(outside, 'planted.txt');
    const written = await failure(inside(tool('/bin/sh', ['-c', `echo x > ${planted}`])));
    assert.match(written.message, refused.write);
    await assert.rejects(readFile(planted), { code: 'ENOENT' });
    // Nor the system's temporary folder (bubblewrap gives the tool a /tmp of its own; Landlock refuses).
    const shared = join(tmpdir(), `capstan-planted-${process.pid}`);
    await inside(tool('/bin/sh', ['-c', `echo x > ${shared}`])).catch(() => undefined);
    await assert.rejects(readFile(shared), { code: 'ENOENT' });
  });

  it('a file outside the checkout cannot be read: another checkout of the cache, /etc, the agent environment', async () => {
    assert.equal(await runTool(tool('/bin/cat', [join(outside, 'secret.txt')])), 'other-teams-s3cr3t\n');
    const error = await failure(inside(tool('/bin/cat', [join(outside, 'secret.txt')])));
    assert.match(error.message, refused.read);
    assert.doesNotMatch(error.message, /s3cr3t/);
    // Nor its folder's listing, nor /etc.
    await failure(inside(tool('/bin/ls', [outside])));
    await failure(inside(tool('/bin/cat', ['/etc/passwd'])));
  });

  it("neither the agent's environment nor its files in /proc", async () => {
    process.env['CAPSTAN_SANDBOX_TEST_LEAK'] = 'agent-only';
    try {
      const env = await inside(tool('/usr/bin/env', []));
      assert.doesNotMatch(env, /CAPSTAN_SANDBOX_TEST_LEAK/);
      assert.match(env, /^HOME=/m);
      // The agent's own environment, as the kernel keeps it: readable outside, not inside.
      const agentEnviron = tool('/bin/cat', [`/proc/${process.pid}/environ`]);
      assert.match(await runTool(agentEnviron), /PATH=/);
      const environ = await failure(inside(agentEnviron));
      assert.doesNotMatch(environ.message, /PATH=/);
    } finally {
      delete process.env['CAPSTAN_SANDBOX_TEST_LEAK'];
    }
  });

  it('a UDP datagram to loopback is not sent, unless the network is allowed', async () => {
    const send = tool('/bin/bash', ['-c', `echo leak > /dev/udp/127.0.0.1/${udpPort}`]);
    await runTool(send);
    await waitFor(() => datagrams > 0, 'outside the sandbox, the datagram arrives');
    const before = datagrams;
    // bubblewrap: the datagram goes to the sandbox's own loopback, where nothing listens (the send
    // itself succeeds); Landlock: the socket is refused. Either way it never reaches the agent's.
    await inside(send).catch(() => undefined);
    await inside(send, { ...access, network: true });
    await waitFor(() => datagrams > before, 'with the network allowed, the datagram arrives');
    // Both sends in order: had the refused one been sent, it would have arrived before the allowed one.
    assert.equal(datagrams, before + 1, 'the refused datagram never arrived');
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

  it('a TCP connection to loopback with a shell is refused', async () => {
    const before = requests;
    const connect = tool('/bin/bash', [
      '-c',
      `exec 3<>/dev/tcp/127.0.0.1/${port}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3`,
    ]);
    assert.match(await runTool(connect), /404/);
    await failure(inside(connect));
    assert.equal(requests, before + 1, 'only the unsandboxed request reached the server');
  });

  it('the agent cannot be signalled (Landlock: from ABI 6 on)', async () => {
    // kill -0 sends nothing: it asks whether a signal would be delivered.
    const signal = tool('/bin/bash', ['-c', `kill -0 ${String(process.pid)} && echo delivered`]);
    assert.match(await runTool(signal), /delivered/, 'outside the sandbox, it would be');
    const error = await failure(inside(signal));
    assert.match(error.message, /Operation not permitted|No such process/);
  });

  it('the same renders succeed: kustomize and helm', async () => {
    await mkdir(join(checkout, 'base'), { recursive: true });
    await writeFile(
      join(checkout, 'base', 'kustomization.yaml'),
      'resources: [cm.yaml]\nnamePrefix: team-\n',
    );
    await writeFile(
      join(checkout, 'base', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\n',
    );
    const build = tool(
      join(binaries, 'kustomize'),
      ['build', '--', join(checkout, 'base')],
      join(checkout, 'base'),
    );
    assert.match(await inside({ ...build, env: { ...build.env, TMPDIR: scratch } }), /name: team-own/);
    const chart = join(checkout, 'chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 1.0.0\n');
    await writeFile(
      join(chart, 'templates', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n',
    );
    const helmHome = join(scratch, 'helm');
    const template = tool(join(binaries, 'helm'), ['template', '--', 'web-release', chart], chart);
    const helmEnv = {
      ...template.env,
      TMPDIR: scratch,
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    };
    assert.match(await inside({ ...template, env: helmEnv }), /name: web-release/);
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
}

describe('choosing the render sandbox', async () => {
  const workspace = await realpath(await mkdtemp(join(tmpdir(), 'capstan-sandbox-choice-')));
  const confine = await findTool('confine');
  const access: SandboxAccess = { readOnly: [workspace], writable: [], network: false };
  const run: ToolRun = {
    command: '/bin/true',
    args: [],
    cwd: workspace,
    env: { PATH: '/usr/bin:/bin' },
    timeoutMs: 30_000,
    maxOutputBytes: 1000,
    description: 'true',
  };
  // A bwrap that fails as one does under a seccomp profile that forbids user namespaces (RuntimeDefault).
  const bwrapWithoutNamespaces = join(workspace, 'bwrap-without-namespaces');
  // A capstan-confine that fails as the real one does on a kernel without Landlock.
  const confineWithoutLandlock = join(workspace, 'confine-without-landlock');
  const failure = async (promise: Promise<unknown>): Promise<CapstanError> => {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof CapstanError, `expected a CapstanError, got ${String(error)}`);
    return error;
  };
  // The real capstan-confine lowered to an older kernel's Landlock ABI (--max-abi; it can also read
  // itself, for the probe that runs it confined by itself).
  const confineAtAbi = (abi: number) => join(workspace, `confine-abi-${String(abi)}`);
  let requests = 0;
  let server: Server;
  let port = 0;
  before(async () => {
    for (const abi of [2, 3, 5])
      await writeFile(
        confineAtAbi(abi),
        `#!/bin/sh\nexec ${confine} --max-abi ${String(abi)} --read ${confine} "$@"\n`,
        { mode: 0o755 },
      );
    server = createServer((_request, response) => {
      requests++;
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    await writeFile(
      bwrapWithoutNamespaces,
      '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    await writeFile(
      confineWithoutLandlock,
      '#!/bin/sh\necho "capstan-confine: this kernel has no Landlock (built without CONFIG_SECURITY_LANDLOCK)" >&2\nexit 125\n',
      { mode: 0o755 },
    );
  });
  after(async () => {
    server.close();
    await rm(workspace, { recursive: true, force: true });
  });

  it('auto: bubblewrap where it can make its namespaces', async () => {
    assert.equal((await new Sandbox({ confine }).backend()).name, 'bubblewrap');
  });

  it('auto: Landlock where user namespaces are refused', async () => {
    const sandbox = new Sandbox({ command: bwrapWithoutNamespaces, confine });
    const backend = await sandbox.backend();
    assert.equal(backend.name, 'landlock');
    assert.match(backend.detail, /Landlock ABI \d+/);
    assert.equal((await sandbox.wrap(run, access)).sandbox, 'landlock');
  });

  it('auto: when neither can start, one error names what each lacks and the choices', async () => {
    const sandbox = new Sandbox({ command: bwrapWithoutNamespaces, confine: confineWithoutLandlock });
    const error = await failure(sandbox.wrap(run, access));
    assert.equal(error.code, 'RENDER_SANDBOX_UNAVAILABLE');
    assert.match(error.message, /bubblewrap: .*No permissions to create new namespace/);
    assert.match(error.message, /landlock: .*this kernel has no Landlock/);
    assert.match(error.message, /Landlock ABI 3 or newer.*render-sandbox\.json.*--render-sandbox=off/);
  });

  it('auto on a kernel with Landlock ABI 2 (Linux 6.1) and no user namespaces: refused, naming the ABI', async () => {
    const sandbox = new Sandbox({ command: bwrapWithoutNamespaces, confine: confineAtAbi(2) });
    const error = await failure(sandbox.wrap(run, access));
    assert.equal(error.code, 'RENDER_SANDBOX_UNAVAILABLE');
    assert.match(error.message, /landlock: .*Landlock ABI is 2 .*the sandbox needs 3 or newer/);
    assert.match(error.message, /bubblewrap: .*No permissions to create new namespace/);
  });

  it('auto on a kernel with Landlock ABI 3 (no network rules): Landlock, and seccomp still refuses TCP', async () => {
    const sandbox = new Sandbox({ command: bwrapWithoutNamespaces, confine: confineAtAbi(3) });
    const backend = await sandbox.backend();
    assert.equal(backend.name, 'landlock');
    assert.match(backend.detail, /Landlock ABI 3 /);
    const connect: ToolRun = {
      ...run,
      command: '/bin/bash',
      args: [
        '-c',
        `exec 3<>/dev/tcp/127.0.0.1/${String(port)}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3`,
      ],
      description: 'bash /dev/tcp',
    };
    const before = requests;
    await failure(runTool(await sandbox.wrap(connect, access)));
    assert.equal(requests, before, 'no request reached the server');
    assert.match(await runTool(await sandbox.wrap(connect, { ...access, network: true })), /ok/);
    assert.equal(requests, before + 1, 'with the network allowed, the same request does');
    const outside = { ...run, command: '/bin/cat', args: ['/etc/hostname'], description: 'cat' };
    const refused = await failure(runTool(await sandbox.wrap(outside, access)));
    assert.match(refused.message, /Permission denied/);
  });

  it('auto on a kernel with Landlock ABI 5 (no signal scoping): Landlock, and its detail (logged at start) says what is open', async () => {
    const sandbox = new Sandbox({ command: bwrapWithoutNamespaces, confine: confineAtAbi(5) });
    const backend = await sandbox.backend();
    assert.equal(backend.name, 'landlock');
    assert.match(backend.detail, /Landlock ABI 5 .*below ABI 6 a render can signal the agent's processes/);
    const full = await new Sandbox({ command: bwrapWithoutNamespaces, confine }).backend();
    assert.doesNotMatch(full.detail, /signal/, `this kernel (${full.detail}) scopes signals`);
  });

  it('bubblewrap without bwrap says which package to install', async () => {
    const missing = new Sandbox({ mode: 'bubblewrap', command: join(workspace, 'no-bwrap-here') });
    const error = await failure(missing.wrap(run, access));
    assert.equal(error.code, 'RENDER_SANDBOX_MISSING');
    assert.match(error.message, /Debian package bubblewrap/);
  });

  it('bubblewrap where namespaces cannot be made says so before any render runs', async () => {
    const error = await failure(
      new Sandbox({ mode: 'bubblewrap', command: bwrapWithoutNamespaces }).wrap(run, access),
    );
    assert.equal(error.code, 'RENDER_SANDBOX_UNAVAILABLE');
    assert.match(
      error.message,
      /^the render sandbox cannot start here \(bwrap: bwrap: No permissions to create new namespace\): it needs user namespaces/,
    );
  });

  it('landlock without capstan-confine says how to get it', async () => {
    const missing = new Sandbox({
      mode: 'landlock',
      confine: () => findTool('confine', { env: { CAPSTAN_CONFINE: join(workspace, 'none') } }),
    });
    const error = await failure(missing.wrap(run, access));
    assert.equal(error.code, 'RENDER_SANDBOX_MISSING');
    assert.match(error.message, /build-tool\.sh confine/);
  });

  it('landlock on a kernel without it says what is missing', async () => {
    const error = await failure(
      new Sandbox({ mode: 'landlock', confine: confineWithoutLandlock }).wrap(run, access),
    );
    assert.equal(error.code, 'RENDER_SANDBOX_UNAVAILABLE');
    assert.match(
      error.message,
      /^the Landlock render sandbox cannot start here \(capstan-confine: this kernel has no Landlock/,
    );
  });

  it('off: the tool runs as it is (for hosts that isolate renders otherwise)', async () => {
    const unconfined = { ...run, command: '/bin/cat', args: ['/etc/passwd'] };
    assert.deepEqual(await new Sandbox({ mode: 'off' }).wrap(unconfined, access), unconfined);
  });
});

// What only the Landlock sandbox has to do itself: bubblewrap's namespaces hide these from the tool.
describe('capstan-confine', async () => {
  const confine = await findTool('confine');
  const workspace = await realpath(await mkdtemp(join(tmpdir(), 'capstan-confine-')));
  const socketPath = join(workspace, 'agent.sock');
  let unixServer: NetServer;
  let unixConnections = 0;
  const perl = (script: string, options: { network: boolean }): ToolRun => ({
    command: '/usr/bin/perl',
    args: ['-e', script],
    cwd: workspace,
    env: { PATH: '/usr/bin:/bin' },
    timeoutMs: 30_000,
    maxOutputBytes: 10_000,
    description: options.network ? 'perl (network allowed)' : 'perl',
  });
  const landlock = new Sandbox({ mode: 'landlock', confine });
  const access = (network: boolean): SandboxAccess => ({ readOnly: [], writable: [], network });
  before(async () => {
    unixServer = createNetServer((socket) => {
      unixConnections++;
      socket.end('hello\n');
    });
    await new Promise<void>((resolve) => unixServer.listen(socketPath, resolve));
  });
  after(async () => {
    unixServer.close();
    await rm(workspace, { recursive: true, force: true });
  });

  it('prints the Landlock ABI of this kernel', () => {
    const abi = /^landlock-abi (\d+)\n$/.exec(execFileSync(confine, ['--abi'], { encoding: 'utf8' }));
    assert.ok(abi?.[1] !== undefined && Number(abi[1]) >= 3, `ABI 3 or newer: ${String(abi?.[0])}`);
  });

  it('refuses a program given by a relative path (exit 2), and sets nothing up', () => {
    const result = spawnSync(confine, ['--', 'true'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^capstan-confine: the program must be an absolute path, not "true"/);
  });

  it('a unix socket by its path: Landlock does not cover it, the seccomp filter does, network or not', async () => {
    const connect = `use Socket; socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!\\n"; connect($s, pack_sockaddr_un("${socketPath}")) or die "connect: $!\\n"; print <$s>;`;
    assert.equal(await runTool(perl(connect, { network: false })), 'hello\n', 'unconfined, it connects');
    assert.equal(unixConnections, 1);
    for (const network of [false, true]) {
      const run = perl(connect, { network });
      await assert.rejects(runTool(await landlock.wrap(run, access(network))), /socket: Permission denied/);
    }
    assert.equal(unixConnections, 1, 'no confined connection reached the socket');
  });

  it(
    'refuses ptrace',
    { skip: process.arch !== 'x64' && 'the system call number below is x86-64’s' },
    async () => {
      const traceMe = 'my $r = syscall(101, 0, 0, 0, 0); print $r == 0 ? "traced\\n" : "refused: $!\\n";';
      assert.equal(await runTool(perl(traceMe, { network: false })), 'traced\n', 'unconfined, it may');
      const confined = await runTool(await landlock.wrap(perl(traceMe, { network: false }), access(false)));
      assert.equal(confined, 'refused: Operation not permitted\n');
    },
  );
});

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  await eventually(condition, { what, intervalMs: 25 });
}
