/**
 * What identifies a render besides its options (see Renderer.inputs): the paths of the checkout it
 * reads, reduced to the outermost ones, and the versions of the tools that render it, asked once each.
 */
import { tmpdir } from 'node:os';
import { messageOf } from '../../core/errors.ts';
import { NO_NETWORK } from './context.ts';
import { runTool } from './exec.ts';

const VERSION_TIMEOUT_MS = 10_000;
const MAX_VERSION_BYTES = 64 * 1024;
const MAX_VERSION_CHARS = 200;

/** Sorted, without duplicates, and without any path inside another of them (`.` holds them all). */
export function outermost(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  if (sorted.includes('.')) return ['.'];
  // In sorted order a folder comes before what is inside it (`a` < `a/b`), though not always directly
  // (`a` < `a-b` < `a/b`): compare with every path kept so far.
  const kept: string[] = [];
  for (const path of sorted) {
    if (!kept.some((outer) => path.startsWith(`${outer}/`))) kept.push(path);
  }
  return kept;
}

/** The version of each rendering tool, asked once per binary (`kustomize version`, `helm version`). */
export class ToolVersions {
  readonly #versions = new Map<string, Promise<string>>();

  /** `<name> <first line of its version output>`; when that fails, the binary's path (and it is asked again next time). */
  of(name: string, binary: string, args: readonly string[]): Promise<string> {
    const key = `${binary}\u0000${args.join('\u0000')}`;
    let version = this.#versions.get(key);
    if (version === undefined) {
      version = ask(name, binary, args);
      this.#versions.set(key, version);
      version.catch(() => this.#versions.delete(key));
    }
    return version.catch((error: unknown) => `${name} ${binary} (version unknown: ${messageOf(error)})`);
  }
}

async function ask(name: string, binary: string, args: readonly string[]): Promise<string> {
  const home = tmpdir();
  const output = await runTool({
    command: binary,
    args,
    cwd: home,
    env: {
      PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: home,
      LANG: 'C',
      ...NO_NETWORK,
    },
    timeoutMs: VERSION_TIMEOUT_MS,
    maxOutputBytes: MAX_VERSION_BYTES,
    description: `${name} version`,
  });
  const line = output.trim().split('\n')[0]?.trim() ?? '';
  return `${name} ${line.slice(0, MAX_VERSION_CHARS)}`;
}
