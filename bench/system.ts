// What the harness needs from each GitOps system it measures (Capstan, Flux, Argo CD): start its
// processes against the cluster, declare applications, ask for a refresh the way its webhook does,
// read its own counters, stop. Progress is observed in the cluster, the same way for every system.
import type { GitServer } from '../src/devcluster/gitserver.ts';
import type { LocalCluster } from '../src/devcluster/cluster.ts';

export interface BenchApp {
  /** Unique among the applications of one run: `app-0001`. */
  readonly name: string;
  readonly repoURL: string;
  /** Folder in the repository. */
  readonly path: string;
  /** Where its objects go (one namespace shared by the applications of a run). */
  readonly namespace: string;
}

export interface SystemSettings {
  /** How many applications this start holds: the peers take their maintainers' settings for it (bench/scale.ts). */
  readonly apps: number;
  /** Polling interval, seconds (the same for every system). */
  readonly intervalSeconds: number;
  /** Capstan's applications reconciled at once (the peers' workers come from bench/scale.ts). */
  readonly concurrency: number;
  /** Correct drift (selfHeal) and prune. */
  readonly selfHeal: boolean;
  /** Where CPU profiles go when the run takes them (`--profile`); none otherwise. */
  readonly profileDir?: string;
}

export interface BenchEnvironment {
  readonly cluster: LocalCluster;
  readonly git: GitServer;
  /** Scratch space for this system's run (storage, logs). */
  readonly workDir: string;
  readonly log: (line: string) => void;
}

/** Counters a system reports about itself (from its metrics endpoint), where it has them. */
export interface SystemCounters {
  /** Renders (kustomize builds, manifest generations) run, not served from a cache. */
  readonly renders?: number;
}

export interface RunningSystem {
  /** The processes to account for (CPU seconds, RSS). */
  readonly pids: readonly number[];
  /** Declares applications (all at once, as `kubectl apply` of a folder would). */
  createApps(apps: readonly BenchApp[]): Promise<void>;
  /** What a push webhook does: the applications of `apps` look at their source now. */
  refresh(apps: readonly BenchApp[], changedPaths: readonly string[]): Promise<void>;
  counters(): Promise<SystemCounters>;
  /**
   * Profiles the system's CPU for the next `seconds` (only when started with a profileDir) and
   * resolves when they are written: the files, or the window they will cover once the process exits.
   */
  profile?(seconds: number): Promise<ProfileTaken[]>;
  /**
   * Writes what is alive on the system's heap now, by allocating stack (a V8 sampling heap profile),
   * and resolves with the file: only where the system runs under a heap sampler.
   */
  heapProfile?(): Promise<string>;
  /** Stops the processes and removes what it declared (not the applications' objects: the namespace goes). */
  stop(): Promise<void>;
}

/** One CPU profile of one process of a system over a steady-state window. */
export interface ProfileTaken {
  /** The process (`kustomize-controller`, `capstan agent`). */
  readonly process: string;
  /** `pprof`: a Go profile (gzipped protobuf); `cpuprofile`: V8's JSON, written when the process exits. */
  readonly format: 'pprof' | 'cpuprofile';
  /** The file, or for a cpuprofile the folder it will be written to. */
  readonly path: string;
  /** The window on the monotonic clock (µs, as V8's profile timestamps), for a cpuprofile that covers more. */
  readonly fromMicros?: number;
  readonly toMicros?: number;
}

export interface SystemDriver {
  readonly name: string;
  /** How it was built and configured for `apps` applications (the scale scenarios'), for the report. */
  describe(apps: number): string;
  /** Undefined when it can run here; otherwise why not (shown in the report). */
  unavailable(): Promise<string | undefined>;
  start(env: BenchEnvironment, settings: SystemSettings): Promise<RunningSystem>;
}
