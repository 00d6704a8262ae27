/**
 * The bubblewrap sandbox (`bwrap`, Debian package `bubblewrap`): the tool gets new mount, network,
 * PID, IPC, UTS and user namespaces. Inside, the file system holds only the system's programs and
 * libraries (/usr, read-only), the tool itself, the checkout (read-only) and the render's scratch
 * folder; nothing of the agent's cache (other teams' checkouts), home or /etc. The network namespace
 * is empty, loopback included, unless the render is allowed to reach out (kustomize remote bases),
 * when it shares the agent's network and sees the files name resolution and TLS need.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, readlink, realpath } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ToolRun } from './exec.ts';
import {
  NETWORK_FILES,
  SANDBOX_OFF_HINT,
  type SandboxAccess,
  type SandboxBackend,
} from './sandbox-access.ts';

/** Top-level system folders that merged-/usr systems keep as symlinks into /usr. */
const SYSTEM_LINKS = ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];

/** The bubblewrap backend, once bwrap is found and has made its namespaces here. */
export async function bubblewrapBackend(command: string | undefined): Promise<SandboxBackend> {
  const bwrap = await findBwrap(command);
  const { proc } = await checkNamespaces(bwrap);
  return {
    name: 'bubblewrap',
    detail: `bubblewrap (${bwrap}; user, mount, network, PID, IPC and UTS namespaces${proc ? '' : '; no /proc'})`,
    wrap: (run, allowed) => wrapInBwrap(bwrap, proc, run, allowed),
  };
}

async function wrapInBwrap(
  bwrap: string,
  proc: boolean,
  run: ToolRun,
  allowed: SandboxAccess,
): Promise<ToolRun> {
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

/**
 * Runs `true` in an empty sandbox once, so that a host that allows no user namespaces (a container's
 * seccomp profile, a kernel setting) is told as such rather than as a failed render. In a container the
 * runtime masks parts of /proc (kcore, keys, sysrq-trigger...), and the kernel then refuses a new proc
 * mount in a user namespace: there the tools get no /proc at all (kustomize and helm need none), which
 * hides more from them, not less.
 */
async function checkNamespaces(bwrap: string): Promise<{ proc: boolean }> {
  const system = await systemArgs();
  const tryRun = (extra: readonly string[]) =>
    new Promise<string | undefined>((resolve) => {
      const args = ['--unshare-all', '--die-with-parent', ...system, ...extra, '--', '/usr/bin/true'];
      execFile(bwrap, args, { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (error, _stdout, stderr) => {
        resolve(error ? (stderr.trim() || error.message).split('\n').slice(-3).join(' / ') : undefined);
      });
    });
  const withProc = await tryRun(['--proc', '/proc']);
  if (withProc === undefined) return { proc: true };
  if (/mount proc/i.test(withProc) && (await tryRun([])) === undefined) return { proc: false };
  throw new CapstanError(
    'RENDER_SANDBOX_UNAVAILABLE',
    `the render sandbox cannot start here (bwrap: ${withProc}): it needs user namespaces. Use the Landlock sandbox (--render-sandbox=landlock, or auto), or allow user namespaces to the agent (in a pod: the seccomp profile deploy/seccomp/render-sandbox.json, see docs/security.md; elsewhere the kernel setting), ${SANDBOX_OFF_HINT}`,
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
    `${command ?? 'bwrap'} is not installed: kustomize and helm run inside bubblewrap so that a render reads only its checkout and reaches no network. Install the Debian package bubblewrap (scripts/setup.sh does), use the Landlock sandbox (--render-sandbox=landlock, or auto), ${SANDBOX_OFF_HINT}`,
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
