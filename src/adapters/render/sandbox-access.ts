/** What the render sandboxes share: what a tool may touch, and the shape of a sandbox. */
import type { ToolRun } from './exec.ts';

/** What a tool may touch. */
export interface SandboxAccess {
  /** Folders and files visible read-only (the checkout). */
  readonly readOnly: readonly string[];
  /** Folders visible read-write (the render's scratch folder). */
  readonly writable: readonly string[];
  /** True: the tool shares the agent's network (remote bases); false: it has none, not even loopback. */
  readonly network: boolean;
}

/** The sandboxes a render can run in; `off` is none. */
export type SandboxName = 'bubblewrap' | 'landlock' | 'off';

/** One sandbox, ready to use on this host. */
export interface SandboxBackend {
  readonly name: SandboxName;
  /** For the agent's log: what it is and how it was found (`landlock (capstan-confine at ..., ABI 7)`). */
  readonly detail: string;
  /** The same run, inside the sandbox. */
  wrap(run: ToolRun, allowed: SandboxAccess): Promise<ToolRun>;
}

/** What name resolution and TLS read, visible only to a tool that may reach the network. */
export const NETWORK_FILES = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/nsswitch.conf',
  '/etc/ssl',
  '/etc/ca-certificates',
];

/** The last choice every "cannot sandbox" message names. */
export const SANDBOX_OFF_HINT =
  'or turn the sandbox off (--render-sandbox=off) only where something else isolates renders';
