/**
 * Where the rendering tools (kustomize, helm, jsonnet) and the Landlock launcher of the render sandbox
 * (capstan-confine, built from scripts/confine) come from, found only when a render needs one:
 *   1. CAPSTAN_KUSTOMIZE / CAPSTAN_HELM / CAPSTAN_JSONNET / CAPSTAN_CONFINE, the path of the program;
 *   2. the program on PATH;
 *   3. the project's binary cache: CAPSTAN_BIN_DIR, the control-plane set of scripts/build-binaries.sh
 *      or the tool's own folder of scripts/build-tool.sh;
 *   4. else scripts/build-tool.sh builds that one tool from Go modules (never the control plane), and
 *      says so.
 * Plain YAML needs none of them, so it never looks.
 */
import { spawn } from 'node:child_process';
import { access, constants, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { CapstanError } from '../../core/errors.ts';

export type ToolName = 'kustomize' | 'helm' | 'jsonnet' | 'confine';

/** The file name of a tool's program. */
export function toolProgram(name: ToolName): string {
  return name === 'confine' ? 'capstan-confine' : name;
}

/** A tool's path, or how to find it when a render first needs it. */
export type ToolLocator = string | (() => Promise<string>);

export const BUILD_TOOL_SCRIPT = resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'build-tool.sh');

/** Capstan's cache folder: CAPSTAN_CACHE_DIR, else $XDG_CACHE_HOME/capstan, else ~/.cache/capstan. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAPSTAN_CACHE_DIR'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'capstan');
}

/** The folders the script's own commands (sed, mktemp, flock) are in, after the caller's PATH. */
const SYSTEM_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

/** The environment variable that names a tool's path: CAPSTAN_KUSTOMIZE, CAPSTAN_HELM, CAPSTAN_JSONNET, CAPSTAN_CONFINE. */
export function toolVariable(name: ToolName): string {
  return `CAPSTAN_${name.toUpperCase()}`;
}

export interface FindToolOptions {
  /** Where the variables, PATH and the cache root are read. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Told when the tool is built (one line per step of the build). */
  readonly progress?: (line: string) => void;
  /** The script that finds or builds one tool. Default: scripts/build-tool.sh. */
  readonly buildScript?: string;
}

/** The path of a tool, found in the order above. Rejects with RENDER_TOOL_MISSING when nothing provides it. */
export async function findTool(name: ToolName, options: FindToolOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  // 1. The variable, which must then name a program: a wrong path is an error, not a reason to look elsewhere.
  const given = env[toolVariable(name)];
  if (given) {
    if (!(await isExecutable(given))) {
      throw new CapstanError(
        'RENDER_TOOL_MISSING',
        `${toolVariable(name)}=${given} is not an executable file: point it at the ${toolProgram(name)} program, or unset it to use ${toolProgram(name)} from PATH`,
        { subject: toolVariable(name) },
      );
    }
    return given;
  }
  // 2. PATH.
  const program = toolProgram(name);
  const onPath = await searchPath(program, env['PATH'] ?? '');
  if (onPath) return onPath;
  // 3. A folder of binaries given explicitly.
  const binDir = env['CAPSTAN_BIN_DIR'];
  if (binDir && (await isExecutable(join(binDir, program)))) return join(binDir, program);
  // 3, 4. The caches, or a build of this tool alone.
  return buildTool(name, env, options);
}

/** A locator that finds the tool once, on first use, and remembers the answer (not a failure). */
export function lazyTool(name: ToolName, options: FindToolOptions = {}): () => Promise<string> {
  let found: Promise<string> | undefined;
  return () => {
    found ??= findTool(name, options).catch((error: unknown) => {
      found = undefined;
      throw error;
    });
    return found;
  };
}

/** The path a locator stands for. */
export function locate(locator: ToolLocator): Promise<string> {
  return typeof locator === 'string' ? Promise.resolve(locator) : locator();
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function searchPath(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    if (await isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Runs scripts/build-tool.sh: it prints a cached tool's path at once, or builds the tool (progress on stderr). */
async function buildTool(name: ToolName, env: NodeJS.ProcessEnv, options: FindToolOptions): Promise<string> {
  const script = options.buildScript ?? BUILD_TOOL_SCRIPT;
  const bash = (await searchPath('bash', env['PATH'] ?? '')) ?? '/bin/bash';
  const progress = options.progress ?? (() => undefined);
  const missing = `${toolProgram(name)} is needed for this render and is not installed: set ${toolVariable(name)} to its path or put it on PATH`;
  return new Promise((resolvePath, reject) => {
    // The caller's environment (its Go, its proxy settings), with the cache named and the system's
    // folders after its PATH: a CI job's PATH may hold nothing but node and git.
    const scriptEnv = {
      ...env,
      CAPSTAN_CACHE_DIR: cacheRoot(env),
      PATH: [...(env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...SYSTEM_PATH].join(delimiter),
    };
    const child = spawn(bash, [script, name], { env: scriptEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let error = '';
    let partial = '';
    const tail: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('[build-tool] ')) progress(line.slice('[build-tool] '.length));
        else if (line.startsWith('build-tool: error: ')) error = line.slice('build-tool: error: '.length);
        else if (!line.startsWith('go: downloading')) tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    });
    child.on('error', (cause) => {
      reject(
        new CapstanError('RENDER_TOOL_MISSING', `${missing} (cannot run ${script}: ${cause.message})`, {
          cause,
        }),
      );
    });
    child.on('close', (code) => {
      const path = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && path !== '') {
        resolvePath(path);
        return;
      }
      if (code === 3) {
        reject(new CapstanError('RENDER_TOOL_MISSING', error || missing, { subject: name }));
        return;
      }
      const why = error || tail.join('\n') || `${script} stopped without a message`;
      reject(
        new CapstanError('RENDER_TOOL_BUILD_FAILED', `${missing}; building it failed: ${why}`, {
          subject: name,
        }),
      );
    });
  });
}

/**
 * kustomize, helm, jsonnet and capstan-confine, each found when a render first needs it
 * (below): CAPSTAN_KUSTOMIZE / CAPSTAN_HELM / CAPSTAN_JSONNET / CAPSTAN_CONFINE,
 * then PATH, then the project's binary cache, else that one tool is built. Plain YAML needs none of them.
 */
export function toolPaths(progress: (line: string) => void): {
  kustomize: () => Promise<string>;
  helm: () => Promise<string>;
  jsonnet: () => Promise<string>;
  /** capstan-confine, the launcher of the Landlock render sandbox. */
  confine: () => Promise<string>;
} {
  return {
    kustomize: lazyTool('kustomize', { progress }),
    helm: lazyTool('helm', { progress }),
    jsonnet: lazyTool('jsonnet', { progress }),
    confine: lazyTool('confine', { progress }),
  };
}
