/**
 * The kustomize renderer: `kustomize build` of a folder in the checkout.
 *
 * kustomize has no switch to turn remote resources off, and its load restrictor confines files to
 * each kustomization's own folder but still loads *folders* (bases) from anywhere on disk. So before
 * it runs, every kustomization reachable from the folder is read and each path it names is checked:
 * local paths must stay inside the checkout (also through symlinks), and remote ones (URLs, git
 * repositories) are refused unless `allowRemoteBases`. kustomize then runs without credentials,
 * with `--load-restrictor=LoadRestrictionsRootOnly`, and (unless remote bases are allowed) with
 * proxies that lead nowhere and git allowed no protocol at all.
 *
 * The same walk tells what a render reads (kustomizeInputs): the folder, and every base, component and
 * file its kustomizations name, recursively, wherever they are in the checkout.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject } from '../../core/manifest.ts';
import type { KustomizeOptions } from '../../ports/renderer.ts';
import { confine, joinInside } from './confine.ts';
import { checkpoint, NO_NETWORK, renderAccess, type RenderContext } from './context.ts';
import { runTool } from './exec.ts';
import { locateKustomizeError } from './kustomize-errors.ts';
import { outermost } from './inputs.ts';
import { kustomizationPaths, type PathEntry } from './kustomization-fields.ts';
import { parseConfig, readBounded, tooLarge, type ConfigFile } from './read.ts';

/** The names kustomize looks for, in its order. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

/** The kustomization file name in a folder, or undefined. */
export async function findKustomization(folder: string): Promise<string | undefined> {
  const names = new Set(await readdir(folder));
  return KUSTOMIZATION_FILES.find((name) => names.has(name));
}

export async function renderKustomize(
  context: RenderContext,
  options: KustomizeOptions,
  binary: string,
): Promise<ParsedObject[]> {
  const allowRemote = options.allowRemoteBases ?? false;
  // 1. Check every path named by the kustomizations reachable from the folder.
  await walkKustomizations(context, allowRemote);
  // 2. Run kustomize in the sandbox and a clean environment, bounded in time and output.
  const home = join(context.scratch, 'kustomize-home');
  await mkdir(home, { recursive: true });
  const folder = context.folder.relative;
  const run = await context.sandbox.wrap(
    {
      command: binary,
      args: ['build', '--load-restrictor=LoadRestrictionsRootOnly', '--', context.folder.absolute],
      cwd: context.folder.absolute,
      env: kustomizeEnv(home, allowRemote),
      timeoutMs: checkpoint(context),
      render: { subject: context.folder.relative, limitMs: context.limits.timeoutMs },
      maxOutputBytes: context.limits.maxTotalBytes,
      signal: context.signal,
      description: `kustomize build ${folder}`,
      redact: (text) => text.replaceAll(`${context.root}/`, '').replaceAll(context.root, '.'),
      // kustomize's deprecation notices and other warnings, which the user should see.
      onWarnings: (text) => {
        for (const line of text.split('\n'))
          if (line.trim() !== '') context.warn(`kustomize build ${folder}: ${line.trim()}`);
      },
    },
    renderAccess(context, { network: allowRemote }),
  );
  // Its errors start with the entry or file that caused them, where its message says so.
  const output = await runTool(run).catch(async (error: unknown) => {
    throw await locateKustomizeError(context, error);
  });
  // 3. Parse what it printed.
  const { maxAliases, maxObjects, maxTotalBytes } = context.limits;
  return context.parse(output, `${folder} (kustomize)`, { maxAliases, maxObjects, maxBytes: maxTotalBytes });
}

/**
 * The folders and files of the checkout a kustomize render reads: the folder, every kustomization folder
 * reachable from it and every path they name (reduced to the outermost ones). Undefined with a remote
 * base (what it reads is not in the checkout). Rejects as the render would: a kustomization that cannot
 * be parsed, a path out of the checkout, a remote base that is not allowed.
 */
export async function kustomizeInputs(
  context: RenderContext,
  options: KustomizeOptions,
): Promise<string[] | undefined> {
  const reads = await walkKustomizations(context, options.allowRemoteBases ?? false);
  return reads.remote ? undefined : outermost([context.folder.relative, ...reads.paths]);
}

function kustomizeEnv(home: string, allowRemote: boolean): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    TMPDIR: home,
    LANG: 'C',
    // git, should kustomize run it: no system or user configuration (credential helpers), no prompts.
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    // Public HTTPS repositories only when remote bases are allowed (no ssh keys, no file://, no ext::);
    // nothing at all otherwise.
    GIT_ALLOW_PROTOCOL: allowRemote ? 'https' : 'capstan-remote-bases-disabled',
  };
  return allowRemote ? env : { ...env, ...NO_NETWORK };
}

// ---------------------------------------------------------------------------------------------
// Checking the kustomizations before kustomize runs

/** What the kustomizations reachable from the folder read: local paths, and whether anything remote. */
interface KustomizationReads {
  readonly paths: string[];
  remote: boolean;
}

/** One checked entry: the local path it reads, the kustomization folder to walk next, or remote. */
interface CheckedEntry {
  readonly reads?: string;
  readonly next?: string;
  readonly remote?: true;
}

/** Checks every kustomization reachable from the folder (see the top of this file) and tells what they read. */
async function walkKustomizations(context: RenderContext, allowRemote: boolean): Promise<KustomizationReads> {
  const reads: KustomizationReads = { paths: [], remote: false };
  const queue = [context.folder.relative];
  const seen = new Set<string>();
  for (let folder = queue.shift(); folder !== undefined; folder = queue.shift()) {
    checkpoint(context);
    const confined = await confine(context.root, folder, 'kustomization folder');
    if (seen.has(confined.absolute)) continue;
    seen.add(confined.absolute);
    reads.paths.push(confined.relative);
    const name = await findKustomization(confined.absolute);
    if (name === undefined) {
      if (folder === context.folder.relative) {
        throw new CapstanError(
          'RENDER_NOT_FOUND',
          `${folder} has no kustomization file (${KUSTOMIZATION_FILES.join(', ')})`,
          { subject: folder },
        );
      }
      continue; // a folder of plain files named as a resource: kustomize reports what it needs
    }
    const file = folder === '.' ? name : `${folder}/${name}`;
    const fileSize = (await stat(join(confined.absolute, name))).size;
    if (fileSize > context.limits.maxFileBytes) throw tooLarge(file, context.limits.maxFileBytes, fileSize);
    const text = await readBounded(join(confined.absolute, name), file, context.limits.maxFileBytes);
    const config = parseConfig(text, file, context.limits.maxAliases);
    for (const entry of kustomizationPaths(config.document)) {
      const checked = await checkEntry(context, config, folder, entry, allowRemote);
      if (checked.reads !== undefined) reads.paths.push(checked.reads);
      if (checked.next !== undefined) queue.push(checked.next);
      if (checked.remote) reads.remote = true;
    }
  }
  return reads;
}

/** Checks one path; tells what it reads, and the folder to scan next when it names another kustomization. */
async function checkEntry(
  context: RenderContext,
  config: ConfigFile,
  folder: string,
  entry: PathEntry,
  allowRemote: boolean,
): Promise<CheckedEntry> {
  const where = `${config.at(entry.offset)}: ${entry.field} entry`;
  /** Remote entries are skipped when allowed (kustomize fetches them), refused otherwise. */
  const checkRemote = (): void => {
    if (allowRemote) return;
    throw new CapstanError(
      'RENDER_REMOTE_BASE',
      `${where} ${JSON.stringify(entry.value)} is remote; Capstan does not fetch remote bases, so that a render depends only on the commit: copy it into the repository and name it by its path there`,
      { subject: config.at(entry.offset) },
    );
  };
  if (CLEARLY_REMOTE.test(entry.value)) {
    checkRemote();
    return { remote: true };
  }
  const relative = joinInside(folder, entry.value, where);
  let target: Awaited<ReturnType<typeof confine>>;
  try {
    target = await confine(context.root, relative, where);
  } catch (error) {
    if (!(error instanceof CapstanError) || error.code !== 'RENDER_NOT_FOUND') throw error;
    if (!entry.base) return { reads: relative }; // kustomize names a missing patch or file itself
    if (MAYBE_REMOTE.test(entry.value)) {
      checkRemote();
      return { remote: true };
    }
    throw new CapstanError('RENDER_NOT_FOUND', `${where} ${JSON.stringify(entry.value)} does not exist`, {
      subject: config.at(entry.offset),
    });
  }
  const info = await stat(target.absolute);
  if (info.isDirectory()) return { reads: target.relative, ...(entry.base && { next: target.relative }) };
  if (info.size > context.limits.maxFileBytes) {
    throw tooLarge(target.relative, context.limits.maxFileBytes, info.size);
  }
  return { reads: target.relative };
}

/** A URL of any scheme (https:, ssh:, file:, git::, gh:) or an scp-like git address (git@host:repo). */
const CLEARLY_REMOTE = /^(?:[a-z][a-z0-9+.-]*:|[^/\s]*@[^/\s]+:)/i;
/** Shapes kustomize reads as a repository when no such local path exists: `github.com/org/repo`, `?ref=`. */
const MAYBE_REMOTE = /^[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?\/|[?&](?:ref|version|submodules|timeout)=|\/\//i;
