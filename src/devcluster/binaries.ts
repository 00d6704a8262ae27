import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CapstanError } from '../core/errors.ts';

/** The programs a local cluster runs, and the tools the renderers call. */
export const BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
  'kustomize',
  'helm',
] as const;
export type BinaryName = (typeof BINARIES)[number];

export const BUILD_SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'build-binaries.sh');

export interface EnsureBinariesOptions {
  /** Receives one line per step of the build (or a note that the cache was used). */
  readonly progress?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Returns the folder holding the pinned binaries, building them from Go modules on first use
 * (scripts/build-binaries.sh: a versioned cache outside the repository, locked against parallel builds).
 * `CAPSTAN_BIN_DIR` points at a ready folder instead.
 */
export async function ensureBinaries(options: EnsureBinariesOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const given = env['CAPSTAN_BIN_DIR'];
  if (given) {
    await assertBinaries(given);
    return given;
  }
  return runBuildScript(BUILD_SCRIPT, 'build-binaries', options);
}

/**
 * Runs one of the project's build scripts (scripts/build-*.sh: a versioned cache, locked against parallel
 * builds) and returns the folder it prints. `tag` is the script's log prefix (`[tag] ...`, `tag: error: ...`).
 */
export function runBuildScript(
  script: string,
  tag: string,
  options: EnsureBinariesOptions = {},
): Promise<string> {
  const env = options.env ?? process.env;
  const progress = options.progress ?? (() => undefined);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let lastLines: string[] = [];
    let downloads = 0;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    let partial = '';
    child.stderr.on('data', (c: Buffer) => {
      const lines = (partial + c.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('go: downloading')) {
          downloads += 1;
          if (downloads % 50 === 0) progress(`  downloaded ${downloads} Go modules`);
          continue;
        }
        lastLines = [...lastLines.slice(-19), line];
        if (line.startsWith(`[${tag}]`)) progress(line.replace(`[${tag}] `, ''));
        else if (line.startsWith(`${tag}: error:`)) progress(line);
      }
    });
    child.on('error', (error) => {
      reject(
        new CapstanError('BINARIES_BUILD_FAILED', `cannot run ${script}: ${error.message}`, {
          cause: error,
        }),
      );
    });
    child.on('close', (code) => {
      if (code === 0) {
        resolvePromise(stdout.trim().split('\n').pop() ?? '');
        return;
      }
      const message = lastLines.find((l) => l.startsWith(`${tag}: error:`))?.replace(`${tag}: error: `, '');
      const codeName = code === 3 ? 'GO_TOOLCHAIN_MISSING' : 'BINARIES_BUILD_FAILED';
      reject(
        new CapstanError(
          codeName,
          message ?? `${script} failed (exit ${code ?? 'signal'}):\n${lastLines.join('\n')}`,
        ),
      );
    });
  });
}

export async function assertBinaries(dir: string): Promise<void> {
  for (const name of BINARIES) {
    try {
      await access(join(dir, name), constants.X_OK);
    } catch {
      throw new CapstanError(
        'BINARIES_MISSING',
        `${join(dir, name)} is missing or not executable; run scripts/build-binaries.sh`,
      );
    }
  }
}

/** The programs a real node runs (scripts/build-node.sh); runc, iptables and the CNI plugins are Debian's. */
export const NODE_BINARIES = [
  'kubelet',
  'kube-proxy',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'capstan-node-forward',
  'capstan-pause',
] as const;
export type NodeBinaryName = (typeof NODE_BINARIES)[number];

export const NODE_BUILD_SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'build-node.sh');

/** The folder of the real node's programs, built from Go modules on first use. `CAPSTAN_NODE_BIN_DIR` points at a ready one. */
export async function ensureNodeBinaries(options: EnsureBinariesOptions = {}): Promise<string> {
  const given = (options.env ?? process.env)['CAPSTAN_NODE_BIN_DIR'];
  const dir = given ?? (await runBuildScript(NODE_BUILD_SCRIPT, 'build-node', options));
  for (const name of NODE_BINARIES) {
    try {
      await access(join(dir, name), constants.X_OK);
    } catch {
      throw new CapstanError(
        'BINARIES_MISSING',
        `${join(dir, name)} is missing or not executable; run scripts/build-node.sh`,
      );
    }
  }
  return dir;
}
