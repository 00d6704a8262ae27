/**
 * ManifestRenderer: the Renderer port over plain folders, kustomize and helm. It confines the
 * requested folder to the checkout, picks the renderer (or takes the one asked for), applies the
 * limits and the time limit, and gives every renderer a private scratch folder, removed afterwards.
 * inputs() tells, without rendering, what a render reads and which tool version renders it.
 */
import { lstat, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject } from '../../core/manifest.ts';
import {
  DEFAULT_RENDER_LIMITS,
  type RenderInputs,
  type Renderer,
  type RendererType,
  type RenderLimits,
  type RenderRequest,
  type RenderResult,
} from '../../ports/renderer.ts';
import { ChartRepository, type ChartRepositoryOptions } from './chart-repository.ts';
import { confine, type ConfinedPath } from './confine.ts';
import { checkpoint, type RenderContext } from './context.ts';
import { directoryInputs, hasJsonnetPrograms, renderDirectory } from './directory.ts';
import { CHART_FILE, helmInputs, renderHelm } from './helm.ts';
import { outermost, ToolVersions } from './inputs.ts';
import { findKustomization, kustomizeInputs, renderKustomize } from './kustomize.ts';
import { ParsePool } from './parse-pool.ts';
import type { SandboxBackend } from './sandbox-access.ts';
import { Sandbox, type SandboxOptions } from './sandbox.ts';
import { lazyTool, locate, type ToolLocator } from './tools.ts';

export interface ManifestRendererOptions {
  /** Path of the kustomize binary, or how to find it when a render first needs it (tools.ts). */
  readonly kustomizeBinary: ToolLocator;
  /** Path of the helm binary, or how to find it when a render first needs it. */
  readonly helmBinary: ToolLocator;
  /** Path of jsonnet, for the *.jsonnet programs of a directory. Default: found (or built) on first use (tools.ts). */
  readonly jsonnetBinary?: ToolLocator;
  /** Where each render's private scratch folder is made. Default: the system's temporary folder. */
  readonly tempDir?: string;
  /** Limits for every render (a request's own limits win). Default: DEFAULT_RENDER_LIMITS. */
  readonly limits?: Partial<RenderLimits>;
  /** Where kustomize and helm run. Default: auto, bubblewrap else Landlock (see sandbox.ts). */
  readonly sandbox?: SandboxOptions;
  /** How charts of Helm repositories are downloaded (cache, extra CA). Default: no cache, the system's CAs. */
  readonly charts?: ChartRepositoryOptions;
}

export class ManifestRenderer implements Renderer {
  readonly #options: ManifestRendererOptions;
  readonly #versions = new ToolVersions();
  readonly #sandbox: Sandbox;
  readonly #parser = new ParsePool();
  readonly #charts: ChartRepository;
  readonly #jsonnet: ToolLocator;

  constructor(options: ManifestRendererOptions) {
    this.#options = options;
    this.#jsonnet = options.jsonnetBinary ?? lazyTool('jsonnet');
    this.#sandbox = new Sandbox(options.sandbox);
    this.#charts = new ChartRepository(options.charts);
  }

  /** The sandbox kustomize and helm run in here, chosen on first use (sandbox.ts); rejects when none can start. */
  sandbox(): Promise<SandboxBackend> {
    return this.#sandbox.backend();
  }

  /** Stops the idle parser threads (they do not keep the process alive in any case). */
  close(): Promise<void> {
    return this.#parser.close();
  }

  async render(request: RenderRequest): Promise<RenderResult> {
    const limits = { ...DEFAULT_RENDER_LIMITS, ...this.#options.limits, ...request.limits };
    // 1. The folder, confined to the checkout.
    const root = await checkoutRoot(request.root);
    const folder = await confine(root, request.path === '' ? '.' : request.path, 'path');
    if (!(await lstat(folder.absolute)).isDirectory()) {
      throw new CapstanError('RENDER_NOT_FOUND', `path ${folder.relative} is not a folder`, {
        subject: folder.relative,
      });
    }
    // 2. Which renderer.
    const type = request.type ?? (await detectType(folder));
    if (type === 'helm') await requireFile(folder, CHART_FILE, 'a Helm chart');
    // 3. The tool it needs, found (or built, once) before its time limit starts.
    const tool = await this.#toolFor(type);
    // 4. Render, with a scratch folder of its own.
    const started = Date.now();
    const scratch = await mkdtemp(join(this.#options.tempDir ?? tmpdir(), 'capstan-render-'));
    const warnings: string[] = [];
    try {
      const context: RenderContext = {
        root,
        folder,
        limits,
        deadline: started + limits.timeoutMs,
        signal: request.signal,
        scratch,
        sandbox: this.#sandbox,
        parse: (text, file, parseLimits) =>
          this.#parser.parse(text, file, parseLimits, {
            timeoutMs: checkpoint(context),
            limitMs: limits.timeoutMs,
            subject: folder.relative,
            signal: request.signal,
          }),
        warn: (message) => warnings.push(message),
      };
      checkpoint(context);
      const objects = await this.#renderAs(type, context, request, tool);
      return { type, objects, ...(warnings.length > 0 ? { warnings } : {}) };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  async inputs(request: RenderRequest): Promise<RenderInputs> {
    const limits = { ...DEFAULT_RENDER_LIMITS, ...this.#options.limits, ...request.limits };
    // 1. The folder, as render() confines it.
    const root = await checkoutRoot(request.root);
    const folder = await confine(root, request.path === '' ? '.' : request.path, 'path');
    if (!(await lstat(folder.absolute)).isDirectory()) {
      throw new CapstanError('RENDER_NOT_FOUND', `path ${folder.relative} is not a folder`, {
        subject: folder.relative,
      });
    }
    // 2. What each renderer reads: its checks before rendering walk it (no tool runs, no scratch folder).
    const type = request.type ?? (await detectType(folder));
    const context: RenderContext = {
      root,
      folder,
      limits,
      deadline: Date.now() + limits.timeoutMs,
      signal: request.signal,
      scratch: '',
      sandbox: this.#sandbox,
      parse: () => Promise.reject(new Error('inputs() parses no manifests')),
      warn: () => undefined,
    };
    switch (type) {
      case 'directory': {
        const directory = request.directory ?? {};
        const jsonnet = (await hasJsonnetPrograms(context, directory))
          ? [await this.#versions.of('jsonnet', await locate(this.#jsonnet), ['--version'])]
          : [];
        return { type, paths: outermost(await directoryInputs(context, directory)), tools: jsonnet };
      }
      case 'kustomize':
        return {
          type,
          paths: await kustomizeInputs(context, request.kustomize ?? {}),
          tools: [
            await this.#versions.of('kustomize', await locate(this.#options.kustomizeBinary), ['version']),
          ],
        };
      case 'helm':
        return {
          type,
          paths: await helmInputs(context, request.helm ?? {}),
          tools: [await this.#versions.of('helm', await locate(this.#options.helmBinary), ['version'])],
        };
    }
  }

  /** The path of the tool a type of render runs; none for plain folders. */
  async #toolFor(type: RendererType): Promise<string> {
    switch (type) {
      case 'directory':
        return '';
      case 'kustomize':
        return locate(this.#options.kustomizeBinary);
      case 'helm':
        return locate(this.#options.helmBinary);
    }
  }

  async #renderAs(
    type: RendererType,
    context: RenderContext,
    request: RenderRequest,
    tool: string,
  ): Promise<ParsedObject[]> {
    switch (type) {
      case 'directory':
        return renderDirectory(context, request.directory ?? {}, this.#jsonnet);
      case 'kustomize':
        return renderKustomize(context, request.kustomize ?? {}, tool);
      case 'helm':
        return renderHelm(context, request.helm ?? {}, {
          binary: tool,
          charts: this.#charts,
          credentials: request.chartCredentials ?? [],
          allowHttp: request.insecureHttp === true,
        });
    }
  }
}

/** kustomize when the folder has a kustomization file, helm when it has Chart.yaml, else directory. */
export async function detectType(folder: ConfinedPath): Promise<RendererType> {
  if ((await findKustomization(folder.absolute)) !== undefined) return 'kustomize';
  const chart = await lstat(join(folder.absolute, CHART_FILE)).catch(() => undefined);
  return chart ? 'helm' : 'directory';
}

async function checkoutRoot(root: string): Promise<string> {
  if (!isAbsolute(root)) {
    throw new CapstanError('RENDER_NOT_FOUND', `the checkout root must be an absolute path, not ${root}`);
  }
  try {
    return await realpath(root);
  } catch (error) {
    throw new CapstanError('RENDER_NOT_FOUND', `the checkout ${root} does not exist`, { cause: error });
  }
}

async function requireFile(folder: ConfinedPath, name: string, what: string): Promise<void> {
  const found = await lstat(join(folder.absolute, name)).catch(() => undefined);
  if (!found) {
    throw new CapstanError('RENDER_NOT_FOUND', `${folder.relative} is not ${what}: it has no ${name}`, {
      subject: folder.relative,
    });
  }
}
