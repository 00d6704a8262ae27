/**
 * Where desired state comes from: a Git repository at a revision. The adapter (src/adapters/git) uses
 * the git CLI; the engine and controller see only this port.
 */

/** Credentials for a repository. They never appear in argv, URLs, logs, errors or events. */
export type GitCredentials = (
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'ssh'; readonly privateKey: string; readonly knownHosts: string }
) & {
  /**
   * The repositories these credentials may be sent to: the URL itself or any below it
   * (`https://git.example.com/team-a` covers `https://git.example.com/team-a/web.git`). Undefined:
   * any repository (credentials a user hands the CLI for their own use); Secrets always bind one.
   */
  readonly urlPrefix?: string;
};

export interface SourceSpec {
  /** https://…, ssh://… or user@host:path; http:// only where `allowInsecureHttp` is set. */
  readonly repoURL: string;
  /**
   * A branch (`main`), a tag (`v1.2.3`), a semver range over tags (`>=1.2 <2`, `^1.4`, `1.x`),
   * or a full 40-hex commit SHA. Empty means the remote's default branch (HEAD).
   */
  readonly targetRevision: string;
  /**
   * A chart of the Helm repository `repoURL` (https://… with an index.yaml, or oci://…) instead of a
   * git repository: `targetRevision` is then its version or a semver range (empty or `*`: the newest),
   * a revision is `<version>@sha256:<archive digest>`, and the tree holds the chart unpacked in a
   * folder of its name.
   */
  readonly chart?: string;
}

export interface FetchOptions {
  readonly credentials?: GitCredentials;
  /** Allow plain http:// (for loopback test servers). Default false. */
  readonly allowInsecureHttp?: boolean;
  /** Time limit for one git operation. Default 60 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ResolvedRevision {
  /** The full 40-hex commit SHA; of a chart, `<version>@sha256:<hex>`. */
  readonly sha: string;
  /** What it was resolved from: `refs/heads/main`, `refs/tags/v1.2.3`, or the SHA itself. */
  readonly ref: string;
}

export interface CommitInfo {
  readonly sha: string;
  readonly author: string;
  readonly email: string;
  /** ISO 8601. */
  readonly date: string;
  /** First line of the message. */
  readonly subject: string;
}

/** The files of one commit, on disk and read-only for the caller. */
export interface SourceTree {
  readonly revision: ResolvedRevision;
  readonly commit: CommitInfo;
  /** Absolute path of the tree's root folder. Shared by every caller of the same commit: never write into it. */
  readonly dir: string;
}

export interface SourceFetcher {
  /** Resolves a target revision to a commit with `ls-remote` only: cheap change detection, no fetch. */
  resolve(source: SourceSpec, options?: FetchOptions): Promise<ResolvedRevision>;
  /**
   * The tree of a resolved commit. Fetches at most once per repository and commit (one shared cache per
   * repository URL); later calls for the same commit reuse the tree on disk.
   */
  checkout(source: SourceSpec, revision: ResolvedRevision, options?: FetchOptions): Promise<SourceTree>;
  /**
   * What the files at some paths of a checked-out tree are, by content, without reading them: for each
   * path (relative to the tree's root, `.` for the root itself) an id that is equal at two commits
   * exactly when the files at and below that path are written the same at both (git's tree or blob
   * hash, with whatever else decides the checked-out bytes). Undefined for a path that is not a plain
   * folder or file of the commit: missing, reached through a symlink, or with a symlink in or under it
   * (a reader following it would read outside the path). Keys of the result are the paths as given.
   * Costs at most one local git run per tree and set of paths (no network), remembered afterwards.
   */
  contentIds(
    source: SourceSpec,
    tree: SourceTree,
    paths: readonly string[],
    options?: FetchOptions,
  ): Promise<ReadonlyMap<string, string | undefined>>;
}
