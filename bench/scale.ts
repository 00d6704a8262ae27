// How each system is configured for the number of applications a run holds: the settings each peer's
// maintainers recommend for that scale, one function, so that a run at 50, 1000 or 10 000 applications
// states what it gave each system. docs/peers.md cites the document each setting comes from.
import { readFileSync } from 'node:fs';

/** Flux's settings (source-controller and kustomize-controller). */
export interface FluxScaleSettings {
  /** `--concurrent` of source-controller. */
  readonly sourceConcurrent: number;
  /** `--concurrent` of kustomize-controller. */
  readonly kustomizeConcurrent: number;
  /** `--requeue-dependency` of both controllers, seconds. */
  readonly requeueDependencySeconds: number;
  /** A tmpfs folder for kustomize-controller's temporary files (its TMPDIR), when the machine has one. */
  readonly tmpfs?: string;
  /**
   * `shared`: one GitRepository for the monorepo, one Kustomization per folder; `per-app`: one
   * GitRepository per application that checks out only its folder (`spec.sparseCheckout`) and keeps only
   * it in the artifact (`spec.ignore`).
   */
  readonly layout: 'shared' | 'per-app';
}

/** Argo CD's settings (application-controller and repo-server). */
export interface ArgoCDScaleSettings {
  readonly statusProcessors: number;
  readonly operationProcessors: number;
  /** `--parallelismlimit` of the repo-server (0: no limit, the default). */
  readonly repoParallelism: number;
}

export interface ScaleSettings {
  readonly apps: number;
  readonly flux: FluxScaleSettings;
  readonly argocd: ArgoCDScaleSettings;
}

/**
 * Where Flux's vertical-scaling guide starts ("If Flux is managing hundreds of applications"): from
 * here on its workers, requeue interval and tmpfs advice apply; below, the controllers' defaults.
 */
export const FLUX_HUNDREDS = 100;
/** Where Argo CD's high-availability guide gives its processors ("For 1000 applications, we use 50 … 25"). */
export const ARGOCD_THOUSAND = 1000;

/** The settings each peer's maintainers recommend for `apps` applications on this machine. */
export function scaleSettings(options: {
  readonly apps: number;
  readonly tmpfs?: string | undefined;
}): ScaleSettings {
  const { apps } = options;
  if (!Number.isInteger(apps) || apps < 1)
    throw new Error(`scaleSettings: apps ${String(apps)}: expected a whole number from 1`);
  return { apps, flux: fluxSettings(apps, options.tmpfs), argocd: argoCDSettings(apps) };
}

function fluxSettings(apps: number, tmpfs: string | undefined): FluxScaleSettings {
  // Below hundreds of applications: the controllers' own defaults (source 2, kustomize 4, 30 s) and
  // the monorepo layout of Flux's repository-structure guide (one source, a Kustomization per path).
  if (apps < FLUX_HUNDREDS)
    return { sourceConcurrent: 2, kustomizeConcurrent: 4, requeueDependencySeconds: 30, layout: 'shared' };
  // "--concurrent=10 … --requeue-dependency=5s" on every controller; kustomize-controller with
  // "--concurrent=20" when /tmp is a tmpfs ("Enable in-memory kustomize builds").
  return {
    sourceConcurrent: 10,
    kustomizeConcurrent: tmpfs === undefined ? 10 : 20,
    requeueDependencySeconds: 5,
    ...(tmpfs === undefined ? {} : { tmpfs }),
    // One artifact per application (source-watcher's ArtifactGenerator cannot be built here: see
    // docs/peers.md), so that a pass downloads and unpacks its own folder, not the whole monorepo.
    layout: 'per-app',
  };
}

function argoCDSettings(apps: number): ArgoCDScaleSettings {
  // The defaults (20 status, 10 operation processors) up to the guide's figure for 1000 applications,
  // which is also what runs above it: the guide gives no larger figure, and shards by cluster only.
  return apps < ARGOCD_THOUSAND
    ? { statusProcessors: 20, operationProcessors: 10, repoParallelism: 0 }
    : { statusProcessors: 50, operationProcessors: 25, repoParallelism: 0 };
}

/** The tmpfs mount points listed in a /proc/mounts text. */
export function tmpfsMounts(mounts: string): string[] {
  return mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'tmpfs' && fields[1] !== undefined)
    .map((fields) => fields[1] as string);
}

/** /dev/shm when this machine mounts a tmpfs there (Linux does by default), else undefined. */
export function machineTmpfs(mountsFile = '/proc/mounts'): string | undefined {
  try {
    return tmpfsMounts(readFileSync(mountsFile, 'utf8')).includes('/dev/shm') ? '/dev/shm' : undefined;
  } catch {
    return undefined;
  }
}

/** One line per system saying what it was given, for the report. */
export function describeScaleSettings(s: ScaleSettings): { flux: string; argocd: string } {
  const f = s.flux;
  const a = s.argocd;
  return {
    flux:
      `for ${String(s.apps)} applications: source-controller \`--concurrent=${String(f.sourceConcurrent)}\`, ` +
      `kustomize-controller \`--concurrent=${String(f.kustomizeConcurrent)}\`${f.tmpfs ? ` with its TMPDIR on tmpfs (${f.tmpfs})` : ''}, ` +
      `\`--requeue-dependency=${String(f.requeueDependencySeconds)}s\` on both; ` +
      (f.layout === 'per-app'
        ? 'one GitRepository per application that checks out only its folder (`spec.sparseCheckout`) and keeps only it (`spec.ignore`)'
        : 'one GitRepository for the monorepo'),
    argocd:
      `for ${String(s.apps)} applications: \`--status-processors=${String(a.statusProcessors)}\` ` +
      `\`--operation-processors=${String(a.operationProcessors)}\`, repo-server \`--parallelismlimit=${String(a.repoParallelism)}\`; ` +
      "argocd-cm with the `resource.exclusions` Argo CD's install ships and `ignoreResourceUpdates` on (status-only updates ignored)",
  };
}
