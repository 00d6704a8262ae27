/**
 * The sandbox a rendering tool runs in, so that a render reads only its checkout and reaches no
 * network, whatever the repository asks of kustomize or helm:
 *   - `bubblewrap` (sandbox-bubblewrap.ts): namespaces; the tool's world holds nothing else. Needs
 *     user namespaces, which a pod's default seccomp profile (RuntimeDefault) refuses.
 *   - `landlock` (sandbox-landlock.ts): the Landlock LSM and a seccomp filter through capstan-confine;
 *     needs no namespaces and no privilege, so it works in the default install.
 *   - `auto` (the default): bubblewrap when it can start here, else Landlock when the kernel has it,
 *     else RENDER_SANDBOX_UNAVAILABLE naming what each lacks and the choices.
 *   - `off`: the tool runs as the agent does; only where something else isolates renders.
 *
 * The pre-checks of kustomize.ts and helm.ts give clear messages for what they see; the sandbox is
 * what holds when a tool reads something they did not foresee.
 */
import { CapstanError } from '../../core/errors.ts';
import type { ToolRun } from './exec.ts';
import {
  SANDBOX_OFF_HINT,
  type SandboxAccess,
  type SandboxBackend,
  type SandboxName,
} from './sandbox-access.ts';
import { bubblewrapBackend } from './sandbox-bubblewrap.ts';
import { landlockBackend } from './sandbox-landlock.ts';
import { lazyTool, type ToolLocator } from './tools.ts';

export type { SandboxAccess, SandboxName } from './sandbox-access.ts';

export type SandboxMode = 'auto' | SandboxName;

/** The values --render-sandbox accepts, in the order the help lists them. */
export const SANDBOX_MODES: readonly SandboxMode[] = ['auto', 'bubblewrap', 'landlock', 'off'];

export interface SandboxOptions {
  /** Default: auto. `off` only where something else isolates the renders (a pod per render, gVisor). */
  readonly mode?: SandboxMode;
  /** Path of bwrap. Default: `bwrap` found on PATH. */
  readonly command?: string;
  /** capstan-confine, or how to find it. Default: found (or built) as tools.ts finds a tool named `confine`. */
  readonly confine?: ToolLocator;
}

/** What runs a tool unconfined. */
const OFF: SandboxBackend = {
  name: 'off',
  detail: 'off (kustomize and helm run with the agent’s own rights)',
  wrap: (run) => Promise.resolve(run),
};

export class Sandbox {
  readonly #mode: SandboxMode;
  readonly #command: string | undefined;
  readonly #confine: ToolLocator;
  #resolved: Promise<SandboxBackend> | undefined;

  constructor(options: SandboxOptions = {}) {
    this.#mode = options.mode ?? 'auto';
    this.#command = options.command;
    this.#confine = options.confine ?? lazyTool('confine');
  }

  get mode(): SandboxMode {
    return this.#mode;
  }

  /**
   * The sandbox used here, chosen once (for `auto`, the first that can start). Rejects with
   * RENDER_SANDBOX_MISSING or RENDER_SANDBOX_UNAVAILABLE; a failure is not kept: the next call tries
   * again (a package may have been installed since).
   */
  backend(): Promise<SandboxBackend> {
    this.#resolved ??= this.#select();
    this.#resolved.catch(() => {
      this.#resolved = undefined;
    });
    return this.#resolved;
  }

  /** The same run, inside the sandbox, which its failures name. */
  async wrap(run: ToolRun, allowed: SandboxAccess): Promise<ToolRun> {
    if (this.#mode === 'off') return run;
    const backend = await this.backend();
    return { ...(await backend.wrap(run, allowed)), sandbox: backend.name };
  }

  #select(): Promise<SandboxBackend> {
    switch (this.#mode) {
      case 'off':
        return Promise.resolve(OFF);
      case 'bubblewrap':
        return bubblewrapBackend(this.#command);
      case 'landlock':
        return landlockBackend(this.#confine);
      case 'auto':
        return this.#firstThatStarts();
    }
  }

  /** bubblewrap, else Landlock, else one error with both reasons. */
  async #firstThatStarts(): Promise<SandboxBackend> {
    const reasons: string[] = [];
    for (const [name, start] of [
      ['bubblewrap', () => bubblewrapBackend(this.#command)],
      ['landlock', () => landlockBackend(this.#confine)],
    ] as const) {
      try {
        return await start();
      } catch (error) {
        reasons.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    throw new CapstanError(
      'RENDER_SANDBOX_UNAVAILABLE',
      `no render sandbox can start here, so kustomize and helm renders are refused (plain manifests still render). Tried, in order: ${reasons.join(' | ')}. Choices: a kernel with Landlock ABI 3 or newer (Linux 6.2) and capstan-confine (in the Capstan image), user namespaces for bubblewrap (in a pod: the seccomp profile deploy/seccomp/render-sandbox.json, docs/security.md), ${SANDBOX_OFF_HINT}`,
      { retryable: true },
    );
  }
}
