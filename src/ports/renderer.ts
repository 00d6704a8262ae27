import type { KubeObject } from '../core/resource.ts';
import type { GitCredentials } from './source.ts';

/** Bounds on everything read while rendering (DESIGN.md, "Every read from outside is bounded"). */
export interface RenderLimits {
  /** Largest single file read. Default 10 MiB. */
  readonly maxFileBytes: number;
  /** Sum of all files read, and of a tool's output. Default 64 MiB. */
  readonly maxTotalBytes: number;
  /** Largest number of objects in one render. Default 5000. */
  readonly maxObjects: number;
  /** Largest number of YAML aliases in one document. Default 100. */
  readonly maxAliases: number;
  /** Time limit for one render (and for a tool it runs). Default 60 s. */
  readonly timeoutMs: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = {
  maxFileBytes: 10 * 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
  maxObjects: 5000,
  maxAliases: 100,
  timeoutMs: 60_000,
};

export interface DirectoryOptions {
  /** Descend into sub-folders. Default true. */
  readonly recurse?: boolean;
  /** Glob patterns (relative to the path) of files to read; default every *.yaml, *.yml, *.json and *.jsonnet. */
  readonly include?: readonly string[];
  /** Glob patterns of files to leave out. */
  readonly exclude?: readonly string[];
  /** How the folder's *.jsonnet files are evaluated (as Argo CD's directory.jsonnet). Default: no arguments. */
  readonly jsonnet?: JsonnetOptions;
}

/** One top-level argument or external variable of a Jsonnet evaluation. */
export interface JsonnetVariable {
  readonly name: string;
  readonly value: string;
  /** The value is Jsonnet code (`--tla-code`, `--ext-code`), not a string. Default false. */
  readonly code?: boolean;
}

export interface JsonnetOptions {
  /** Top-level arguments: the parameters of a file that evaluates to a function. */
  readonly tlas?: readonly JsonnetVariable[];
  /** External variables, read with std.extVar. */
  readonly extVars?: readonly JsonnetVariable[];
  /** Library folders (-J), relative to the repository root and inside it; the last one wins, as jsonnet's -J. */
  readonly libs?: readonly string[];
}

/** One `--set NAME=VALUE` (or `--set-string` with forceString) of a Helm render. */
export interface HelmParameter {
  /** The value's path, as helm's --set writes it: `image.tag`, `ingress.hosts[0]`. */
  readonly name: string;
  readonly value: string;
  /** Pass the value as a string (`--set-string`), never as a number or boolean. Default false. */
  readonly forceString?: boolean;
}

export interface HelmOptions {
  /** Default: the application name. */
  readonly releaseName?: string;
  /** Namespace passed to `helm template --namespace`. */
  readonly namespace?: string;
  /** Values files, relative to the chart folder, confined to the checkout. */
  readonly valueFiles?: readonly string[];
  /** Inline values (a YAML document as text, or an object). Applied after the values files. */
  readonly values?: string | Readonly<Record<string, unknown>>;
  /** Single values (`--set`), applied after the values files and the inline values. */
  readonly parameters?: readonly HelmParameter[];
  /** Leave out the chart's `crds/` folder (`--skip-crds`). Default false: CRDs are rendered. */
  readonly skipCrds?: boolean;
  /** The target cluster's version, e.g. `v1.36.3` (`--kube-version`). */
  readonly kubeVersion?: string;
  /** The target cluster's API versions (`--api-versions`), e.g. `apps/v1`, `monitoring.coreos.com/v1/ServiceMonitor`. */
  readonly apiVersions?: readonly string[];
}

/**
 * What `helm template` is told of the cluster it renders for (`.Capabilities`): its version and served
 * API versions, as discovery gives them (Cluster.info).
 */
export interface HelmCapabilities {
  /** `v1.36.3` (`--kube-version`). */
  readonly kubeVersion: string;
  /** `apps/v1`, `apps/v1/Deployment`, … (`--api-versions`). */
  readonly apiVersions: readonly string[];
}

export interface KustomizeOptions {
  /** Let kustomize load remote bases. Default false. */
  readonly allowRemoteBases?: boolean;
}

export type RendererType = 'directory' | 'kustomize' | 'helm';

export interface RenderRequest {
  /** Absolute path of the checkout (the confinement root): nothing outside it is read. */
  readonly root: string;
  /** Folder inside the checkout, relative to root ('' or '.' for the root itself). */
  readonly path: string;
  /** Default: kustomize when the folder has a kustomization file, helm when it has Chart.yaml, else directory. */
  readonly type?: RendererType;
  readonly directory?: DirectoryOptions;
  readonly helm?: HelmOptions;
  readonly kustomize?: KustomizeOptions;
  /**
   * Credentials for the Helm repositories (HTTP or OCI) that charts are downloaded from, each sent
   * only to the URLs its urlPrefix covers (basic or token; a cache key holds them only by a keyed hash). Default: none.
   */
  readonly chartCredentials?: readonly GitCredentials[];
  /** Allow plain http:// Helm repositories (local test servers). Default false. */
  readonly insecureHttp?: boolean;
  readonly limits?: Partial<RenderLimits>;
  readonly signal?: AbortSignal;
}

/** Where an object came from, for error messages: `apps/web/deploy.yaml:12` (document starting on line 12). */
export interface ObjectSource {
  readonly file: string;
  readonly line: number;
}

export interface RenderedObject {
  readonly object: KubeObject;
  readonly source: ObjectSource;
}

export interface RenderResult {
  readonly type: RendererType;
  readonly objects: readonly RenderedObject[];
  /**
   * What the user should know though the render succeeded: the tool's own warnings (kustomize's
   * deprecations), why a render came out empty. Default: none.
   */
  readonly warnings?: readonly string[];
}

/** What a render reads and what renders it: enough to know, without rendering, when it would render the same. */
export interface RenderInputs {
  readonly type: RendererType;
  /**
   * The folders and files of the checkout the render reads (relative to its root, normalised, `.` for
   * the root), sorted, none inside another. Undefined when they cannot be known for sure (a remote
   * base): then only the commit identifies the render.
   */
  readonly paths: readonly string[] | undefined;
  /** What identifies the programs that render it (`kustomize v5.8.1`); empty for plain files. */
  readonly tools: readonly string[];
}

export interface Renderer {
  render(request: RenderRequest): Promise<RenderResult>;
  /**
   * What `render(request)` would read, found without rendering (configuration files such as
   * kustomizations are read; a tool runs only once, for its version). Rejects where the render would
   * fail before running (a kustomization that cannot be parsed, a path out of the checkout). Optional:
   * without it, or when it rejects, a cache keys renders by their commit.
   */
  inputs?(request: RenderRequest): Promise<RenderInputs>;
}
