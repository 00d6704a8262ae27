/**
 * The sandbox a rendering tool runs in: bubblewrap (`bwrap`, Debian package `bubblewrap`) gives it
 * new mount, network, PID, IPC, UTS and user namespaces. Inside, the file system holds only the
 * system's programs and libraries (/usr, read-only), the tool itself, the checkout (read-only) and
 * the render's scratch folder; nothing of the agent's cache (other teams' checkouts), home or /etc.
 * The network namespace is empty, loopback included, unless the render is allowed to reach out
 * (kustomize remote bases), when it shares the agent's network and sees the files name resolution
 * and TLS need.
 *
 * The pre-checks of kustomize.ts and helm.ts give clear messages for what they see; the sandbox is
 * what holds when a tool reads something they did not foresee.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, readlink, realpath } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ToolRun } from './exec.ts';

/** `bubblewrap` (the default): every tool in its own namespaces. `off`: the tool runs as the agent does. */
export type SandboxMode = 'bubblewrap' | 'off';

export interface SandboxOptions {
  /** Default: bubblewrap. `off` only where something else isolates the renders (a pod per render, gVisor). */
  readonly mode?: SandboxMode;
  /** Path of bwrap. Default: `bwrap` found on PATH. */
  readonly command?: string;
}

/** What a tool may touch. */
export interface SandboxAccess {
  /** Folders and files visible read-only (the checkout). */
  readonly readOnly: readonly string[];
  /** Folders visible read-write (the render's scratch folder). */
  readonly writable: readonly string[];
  /** True: the tool shares the agent's network (remote bases); false: it has none, not even loopback. */
  readonly network: boolean;
}

/** Top-level system folders that merged-/usr systems keep as symlinks into /usr. */
const SYSTEM_LINKS = ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];
/** What name resolution and TLS read, visible only to a tool that may reach the network. */
const NETWORK_FILES = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/nsswitch.conf',
  '/etc/ssl',
  '/etc/ca-certificates',
];

export class Sandbox {
  readonly #mode: SandboxMode;
  readonly #command: string | undefined;
  #resolved: Promise<SandboxHost> | undefined;

  constructor(options: SandboxOptions = {}) {
    this.#mode = options.mode ?? 'bubblewrap';
    this.#command = options.command;
  }

  get mode(): SandboxMode {
    return this.#mode;
  }

  /** The same run, inside the sandbox. Rejects with RENDER_SANDBOX_MISSING when bwrap is not installed. */
  async wrap(run: ToolRun, allowed: SandboxAccess): Promise<ToolRun> {
    if (this.#mode === 'off') return run;
    const { bwrap, proc } = await this.#bwrap();
    const tool = await realpath(run.command).catch(() => run.command);
    const args = [
      ...['--unshare-all', ...(allowed.network ? ['--share-net'] : []), '--die-with-parent'],
      ...(await systemArgs()),
      ...(proc ? ['--proc', '/proc'] : []),
      ...['--dev', '/dev', '--tmpfs', '/tmp'],
      ...(allowed.network ? NETWORK_FILES.flatMap((path) => ['--ro-bind-try', path, path]) : []),
      ...['--ro-bind', tool, tool],
      ...allowed.readOnly.flatMap((path) => ['--ro-bind', path, path]),
      ...allowed.writable.flatMap((path) => ['--bind', path, path]),
      ...['--chdir', run.cwd, '--', tool, ...run.args],
    ];
    return { ...run, command: bwrap, args };
  }

  #bwrap(): Promise<SandboxHost> {
    this.#resolved ??= findBwrap(this.#command).then(checkNamespaces);
    // A failure is not kept: the next render tries again (the package may have been installed since).
    this.#resolved.catch(() => {
      this.#resolved = undefined;
    });
    return this.#resolved;
  }
}

/** bwrap, and whether a sandbox can have a /proc of its own here. */
interface SandboxHost {
  readonly bwrap: string;
  readonly proc: boolean;
}

/**
 * Runs `true` in an empty sandbox once, so that a host that allows no user namespaces (a container's
 * seccomp profile, a kernel setting) is told as such rather than as a failed render. In a container the
 * runtime masks parts of /proc (kcore, keys, sysrq-trigger...), and the kernel then refuses a new proc
 * mount in a user namespace: there the tools get no /proc at all (kustomize and helm need none), which
 * hides more from them, not less.
 */
async function checkNamespaces(bwrap: string): Promise<SandboxHost> {
  const system = await systemArgs();
  const tryRun = (extra: readonly string[]) =>
    new Promise<string | undefined>((resolve) => {
      const args = ['--unshare-all', '--die-with-parent', ...system, ...extra, '--', '/usr/bin/true'];
      execFile(bwrap, args, { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (error, _stdout, stderr) => {
        resolve(error ? (stderr.trim() || error.message).split('\n').slice(-3).join(' / ') : undefined);
      });
    });
  const withProc = await tryRun(['--proc', '/proc']);
  if (withProc === undefined) return { bwrap, proc: true };
  if (/mount proc/i.test(withProc) && (await tryRun([])) === undefined) return { bwrap, proc: false };
  throw new CapstanError(
    'RENDER_SANDBOX_UNAVAILABLE',
    `the render sandbox cannot start here (bwrap: ${withProc}): it needs user namespaces. Allow them to the agent (in a pod: the seccomp profile deploy/seccomp/render-sandbox.json, see docs/security.md; elsewhere the kernel setting), or turn the sandbox off (--render-sandbox=off) only where something else isolates renders`,
    { retryable: true },
  );
}

async function findBwrap(command: string | undefined): Promise<string> {
  const candidates =
    command !== undefined
      ? [command]
      : // The system's folders after the caller's PATH: a CI job's PATH may hold only node and git.
        [...(process.env['PATH'] ?? '').split(delimiter).filter((f) => f !== ''), '/usr/bin', '/bin'].map(
          (folder) => join(folder, 'bwrap'),
        );
  for (const candidate of candidates) {
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    ) {
      return candidate;
    }
  }
  throw new CapstanError(
    'RENDER_SANDBOX_MISSING',
    `${command ?? 'bwrap'} is not installed: kustomize and helm run inside bubblewrap so that a render reads only its checkout and reaches no network. Install the Debian package bubblewrap (scripts/setup.sh does), or turn the sandbox off (--render-sandbox=off) only where something else isolates renders`,
    { retryable: true },
  );
}

/** /usr read-only, and the top-level folders that point into it (symlinks kept as symlinks). */
async function systemArgs(): Promise<string[]> {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const path of SYSTEM_LINKS) {
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined) continue;
    if (info.isSymbolicLink()) args.push('--symlink', await readlink(path), path);
    else args.push('--ro-bind', path, path);
  }
  return args;
}
