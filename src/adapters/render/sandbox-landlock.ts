/**
 * The Landlock sandbox: capstan-confine (scripts/confine) confines the tool with the kernel's Landlock
 * LSM and a seccomp filter, then executes it. It needs no namespaces, no capabilities and no change to
 * a pod's default seccomp profile (RuntimeDefault), so it works in the default install.
 *
 * The tool may read and execute the system's folders (/usr, /lib*), itself and the checkout, write
 * only its scratch folder (and /dev/null), open nothing else of the file system (other checkouts of
 * the cache, /proc and so the agent's environment, the ServiceAccount token); without the network it
 * can neither bind nor connect TCP (Landlock) nor make any socket (seccomp, which also covers UDP and
 * unix sockets by path); with it, only IPv4 and IPv6 sockets, in the agent's network namespace.
 * Unlike bubblewrap, it still sees the names and metadata of files outside (stat, readlink: not their
 * content, nor folder listings).
 */
import { execFile } from 'node:child_process';
import { access, realpath } from 'node:fs/promises';
import { CapstanError } from '../../core/errors.ts';
import type { ToolRun } from './exec.ts';
import {
  NETWORK_FILES,
  SANDBOX_OFF_HINT,
  type SandboxAccess,
  type SandboxBackend,
} from './sandbox-access.ts';
import { locate, type ToolLocator } from './tools.ts';

/** From this ABI on (Linux 6.12), Landlock refuses signals to processes outside the sandbox. */
const SCOPED_ABI = 6;
const UNSCOPED_NOTE = `; below ABI ${String(SCOPED_ABI)} a render can signal the agent's processes (files and network stay closed; see docs/security.md)`;

/** The Landlock backend, once capstan-confine is found and has confined a run of itself here. */
export async function landlockBackend(locator: ToolLocator): Promise<SandboxBackend> {
  const confine = await findConfine(locator);
  const abi = await probe(confine);
  return {
    name: 'landlock',
    detail: `landlock (${confine}; Landlock ABI ${abi} and a seccomp filter)${abi < SCOPED_ABI ? UNSCOPED_NOTE : ''}`,
    wrap: (run, allowed) => wrapInConfine(confine, run, allowed),
  };
}

async function wrapInConfine(confine: string, run: ToolRun, allowed: SandboxAccess): Promise<ToolRun> {
  const tool = await realpath(run.command).catch(() => run.command);
  const networkFiles = allowed.network ? await existing(NETWORK_FILES) : [];
  const args = [
    ...[tool, ...allowed.readOnly, ...networkFiles].flatMap((path) => ['--read', path]),
    ...allowed.writable.flatMap((path) => ['--write', path]),
    ...(allowed.network ? ['--network'] : []),
    // Only what Capstan gave the tool: the launcher drops everything else of its environment.
    ...Object.keys(run.env).flatMap((name) => ['--keep-env', name]),
    ...['--', tool, ...run.args],
  ];
  return { ...run, command: confine, args };
}

async function findConfine(locator: ToolLocator): Promise<string> {
  try {
    return await locate(locator);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new CapstanError(
      'RENDER_SANDBOX_MISSING',
      `capstan-confine, the launcher of the Landlock render sandbox, is not installed (${why}). The Capstan image has it; elsewhere build it with bash scripts/build-tool.sh confine (scripts/setup.sh does) or set CAPSTAN_CONFINE, use bubblewrap (--render-sandbox=bubblewrap), ${SANDBOX_OFF_HINT}`,
      { retryable: true, cause: error },
    );
  }
}

/**
 * Runs `capstan-confine --abi` confined by itself: proves that Landlock, no_new_privs and seccomp can
 * all be set up here (not only that the kernel knows Landlock), and reads the ABI version.
 */
function probe(confine: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['--read', confine, '--', confine, '--abi'];
    execFile(confine, args, { timeout: 10_000, env: {} }, (error, stdout, stderr) => {
      const abi = /^landlock-abi (\d+)$/m.exec(stdout);
      if (error === null && abi?.[1] !== undefined) {
        resolve(Number(abi[1]));
        return;
      }
      const why = (stderr.trim() || error?.message || `unexpected output ${JSON.stringify(stdout)}`)
        .split('\n')
        .slice(-3)
        .join(' / ');
      reject(
        new CapstanError(
          'RENDER_SANDBOX_UNAVAILABLE',
          `the Landlock render sandbox cannot start here (${why}). It needs a kernel with Landlock ABI 3 or newer (Linux 6.2, landlock in the lsm= boot parameter) and seccomp. Use bubblewrap where user namespaces are allowed (--render-sandbox=bubblewrap; in a pod the seccomp profile deploy/seccomp/render-sandbox.json, see docs/security.md), ${SANDBOX_OFF_HINT}`,
          { retryable: true },
        ),
      );
    });
  });
}

async function existing(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      found.push(path);
  }
  return found;
}
