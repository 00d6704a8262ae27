/**
 * The Store port: records that outgrow an object's status (DESIGN.md, "State"). For the server these
 * are the audit trail, local users, sessions and API tokens. Adapters: embedded SQLite
 * (src/adapters/store/sqlite-store.ts); every adapter passes the contract suite of
 * src/testing/store-contract.ts.
 *
 * Secrets never enter a Store: passwords arrive as scrypt hashes, sessions and tokens as SHA-256
 * digests of their random secret. An adapter that cannot reach its database throws CapstanError
 * STORE_UNAVAILABLE (retryable), so the API can say so.
 */

import { RUN_PHASES } from '../contracts/pipeline.ts';
import type { PromotionState } from '../core/promotion.ts';

export type { PromotionState };

/** Who did something. */
export interface Actor {
  /** `user`: a person logged in; `token`: an API token; `agent`: the agent; `anonymous`: nobody yet (a failed login). */
  readonly kind: 'user' | 'token' | 'agent' | 'anonymous';
  /** The user name, the token's name (`token:<id>`), `agent`, or the name given at a failed login. */
  readonly name: string;
}

export const AUDIT_RESULTS = ['success', 'failure', 'denied'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];

/** What an action changed, counted (a sync: objects created, configured, pruned) or in words. */
export type ChangeSummary = Readonly<Record<string, string | number | boolean>>;

export interface AuditEntryInput {
  readonly time: string;
  readonly actor: Actor;
  /** A stable verb: `application.sync`, `login`, `token.create`, … */
  readonly action: string;
  /** What it was done to: `Application/team-a/web`, `Token/abc123`, `User/admin`; '' for none. */
  readonly target: string;
  /** The project of the target, when it has one (queries filter on it). */
  readonly project?: string;
  readonly result: AuditResult;
  /** Why it failed or was refused; never a secret. */
  readonly reason?: string;
  readonly changes?: ChangeSummary;
  /**
   * Written once: a second append with the same key (another server replica that saw the same
   * event) writes nothing and returns the first. Not returned by queries.
   */
  readonly key?: string;
}

export interface AuditEntry extends Omit<AuditEntryInput, 'key'> {
  /** Increases with every entry written. */
  readonly id: number;
}

export interface AuditQuery {
  readonly actor?: string;
  /** An exact action, or a prefix ending in `.` (`application.`). */
  readonly action?: string;
  readonly target?: string;
  readonly project?: string;
  readonly result?: AuditResult;
  /** Inclusive bounds, ISO 8601. */
  readonly since?: string;
  readonly until?: string;
  /** Newest first; only entries with an id below this one (the next page). */
  readonly beforeId?: number;
  /** At most this many entries (1 to 1000). */
  readonly limit: number;
}

export interface LocalUser {
  readonly name: string;
  /** `scrypt$N$r$p$salt$hash` (base64url parts). */
  readonly passwordHash: string;
  /** Global admin: every permission in every project. */
  readonly admin: boolean;
  readonly createdAt: string;
}

export interface SessionRecord {
  /** SHA-256 of the session secret, hex: the cookie holds the secret, the Store only its digest. */
  readonly digest: string;
  readonly user: string;
  /** Groups of the user (from OIDC), mapped to roles by the projects. */
  readonly groups: readonly string[];
  readonly admin: boolean;
  /** The CSRF token the client must send back on unsafe methods (not a credential by itself). */
  readonly csrf: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  /** A single sign-on session that the provider's refresh token keeps going (absent: none given). */
  readonly signOn?: SessionSignOn;
  /**
   * Who the OpenID provider said signed on (every single sign-on session, refresh token or not): its
   * `sub`, and its session id `sid` when the ID token had one. A back-channel logout names them.
   */
  readonly provider?: SessionProvider;
}

/** The provider's names for a single sign-on session's user and session (OpenID Connect Back-Channel Logout). */
export interface SessionProvider {
  readonly subject: string;
  readonly sid?: string;
}

/** Which sessions a back-channel logout ends: those of a provider session (`sid`), of a user (`subject`), or both. */
export interface SessionProviderMatch {
  readonly subject?: string;
  readonly sid?: string;
}

/** What keeps a single sign-on session going: the provider's refresh token, sealed, and when to use it. */
export interface SessionSignOn {
  /**
   * The refresh token sealed (AES-256-GCM, src/server/sealed.ts) under the key the server replicas
   * share and bound to this session: the Store never holds it in clear.
   */
  readonly refreshToken: string;
  /** The provider's `sub` for the user: a refreshed ID token must name the same one. */
  readonly subject: string;
  /** When to refresh: before the ID token expires (ISO 8601, server clock). */
  readonly refreshAfter: string;
  /** When the ID token expires (ISO 8601, server clock). */
  readonly idTokenExpiresAt: string;
  /**
   * While a refresh runs (claimed by a request of some replica): until when the claim holds. Requests
   * of every replica wait for that refresh's groups rather than go on with the session's old ones.
   */
  readonly refreshingUntil?: string;
}

/** What a refresh changes in a session: the groups the new ID token (or userinfo) gives, and the grant. */
export interface SessionRefresh {
  readonly groups: readonly string[];
  readonly admin: boolean;
  readonly signOn: SessionSignOn;
}

export const TOKEN_ROLES = ['viewer', 'deployer', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

export interface TokenRecord {
  /** Public id, part of the token text (`capstan_<id>_<secret>`). */
  readonly id: string;
  readonly name: string;
  /** SHA-256 of the secret part, hex. */
  readonly digest: string;
  /** The project it acts in; `*` for every project (only a global admin may create one). */
  readonly project: string;
  readonly role: TokenRole;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly revokedAt?: string;
}

export interface AuditLog {
  append(entry: AuditEntryInput): Promise<AuditEntry>;
  /**
   * Which of these keys (AuditEntryInput.key) an entry was written with: what is recorded already
   * (the server's catch-up of the agent's syncs asks this of a batch, at most 1,000 keys).
   */
  recordedKeys(keys: readonly string[]): Promise<Set<string>>;
  /** Newest first. */
  query(query: AuditQuery): Promise<AuditEntry[]>;
  /** Deletes entries older than `before` (retention); returns how many. */
  prune(before: string): Promise<number>;
}

export interface UserStore {
  get(name: string): Promise<LocalUser | undefined>;
  /** Creates the user, or replaces its password and admin flag. */
  put(user: LocalUser): Promise<void>;
  /**
   * Creates the user only when there is none of that name; false when there was (another replica
   * created it first: its password stands).
   */
  create(user: LocalUser): Promise<boolean>;
}

export interface SessionStore {
  create(session: SessionRecord): Promise<void>;
  get(digest: string): Promise<SessionRecord | undefined>;
  delete(digest: string): Promise<void>;
  /**
   * Records a refresh, only if the session still holds the sealed refresh token `from` (the one its
   * refresh used): false when it is gone or another request (or replica) refreshed it first.
   */
  refreshed(digest: string, from: string, change: SessionRefresh): Promise<boolean>;
  /**
   * Claims a single sign-on session's refresh for a while: moves its `refreshAfter` from `from` to
   * `to`, only if it still is `from`, and marks it refreshing until `to` (`refreshingUntil`). False
   * when another request (or replica) claimed it first, or the session is gone: then that one
   * refreshes, and its refresh token is presented once. A recorded refresh (`refreshed`) clears the mark.
   */
  claimRefresh(digest: string, from: string, to: string): Promise<boolean>;
  /**
   * Lets a claim go without a refresh recorded: `refreshAfter` set to `refreshAfter` and the mark
   * cleared, only if the session is still marked refreshing until `claimedUntil`.
   */
  releaseRefresh(digest: string, claimedUntil: string, refreshAfter: string): Promise<boolean>;
  /**
   * Deletes the single sign-on sessions a back-channel logout names (both given: both must match);
   * answers those deleted. Nothing when neither is given.
   */
  endSignedOn(match: SessionProviderMatch): Promise<SessionRecord[]>;
  /**
   * Records a back-channel logout token's `jti` as spent until `expiresAt`: false when it was spent
   * already (a replay, on this replica or another).
   */
  spendLogoutToken(jti: string, expiresAt: string): Promise<boolean>;
  /** Deletes sessions (and spent logout tokens) expired at `now`; returns how many sessions. */
  deleteExpired(now: string): Promise<number>;
}

export interface TokenStore {
  create(token: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  /** Every token, newest first (revoked ones too). */
  list(): Promise<TokenRecord[]>;
  /** Marks it revoked at `at`; false when there is no such token. */
  revoke(id: string, at: string): Promise<boolean>;
}

// ── Pipeline runs (docs/pipelines.md) ───────────────────────────────────────────────────────────

/** A run's phases, as its Pipeline's status names them (one list: src/contracts/pipeline.ts). */
export const RUN_RECORD_PHASES = RUN_PHASES;
export type RunRecordPhase = (typeof RUN_RECORD_PHASES)[number];
export const RUN_TRIGGERS = ['push', 'tag', 'pullRequest', 'manual', 'poll', 'rerun'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** A step of a run, as it ended (or stands). */
export interface RunStepRecord {
  readonly name: string;
  readonly phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Skipped';
  readonly exitCode?: number;
  readonly reason?: string;
  /** The container's termination message (an image step: its digest, or why the push failed). */
  readonly message?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

/** An image a run pushed: by digest, with the tags it was given. */
export interface RunImageRecord {
  readonly step: string;
  /** `<registry>/<repository>@sha256:…` */
  readonly reference: string;
  /**
   * What the tags point to, the same for every build of a commit: the image index holding the image
   * and its provenance attestation, made reproducible (src/core/provenance.ts); or, for a step with
   * `provenance: false`, the image manifest.
   */
  readonly digest: string;
  readonly tags: readonly string[];
}

export interface RunRecord {
  /** A DNS label, unique in the Store: it names the run Pod with the pipeline. */
  readonly id: string;
  readonly namespace: string;
  readonly pipeline: string;
  readonly project: string;
  readonly revision: string;
  readonly branch?: string;
  readonly tag?: string;
  readonly author?: string;
  readonly commitMessage?: string;
  readonly trigger: RunTrigger;
  /** Who or what started it: a user, `webhook`, `poll`. */
  readonly triggeredBy: string;
  readonly phase: RunRecordPhase;
  readonly queuedAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly steps: readonly RunStepRecord[];
  readonly images: readonly RunImageRecord[];
  /** Why it failed or ended (StepTimeout, DeadlineExceeded, Evicted, a step's exit), for programs. */
  readonly reason?: string;
  /** The same for people; never a secret. */
  readonly statusMessage?: string;
  readonly cancelledBy?: string;
  /** The run this one re-ran. */
  readonly rerunOf?: string;
  /** The pull request of a run it started (trigger `pullRequest`); `branch` is its source branch. */
  readonly pullRequest?: {
    readonly number: number;
    readonly sourceBranch: string;
    readonly targetBranch: string;
    /** From a fork: the run had no secret (docs/pipelines.md, "Pull requests from forks"). */
    readonly fromFork?: boolean;
    /** The pull request's author (their login at the provider). */
    readonly author?: string;
  };
  /** Who approved the run of a pull request from a fork (`forkPullRequests: RequireApproval`). */
  readonly approvedBy?: string;
}

/** What may change of a run after it is created. */
export type RunUpdate = Partial<
  Pick<
    RunRecord,
    | 'phase'
    | 'startedAt'
    | 'finishedAt'
    | 'steps'
    | 'images'
    | 'reason'
    | 'statusMessage'
    | 'cancelledBy'
    | 'approvedBy'
  >
>;

export interface RunQuery {
  readonly namespace?: string;
  readonly pipeline?: string;
  readonly phase?: RunRecordPhase;
  readonly branch?: string;
  readonly revision?: string;
  /** Newest first; only runs queued before this run (the next page). */
  readonly before?: string;
  /** At most this many runs (1 to 1000). */
  readonly limit: number;
}

/** A line a step wrote, masked before it is stored. */
export interface RunLogLine {
  /** Increases with every line of the run: a client resumes after the last it saw. */
  readonly seq: number;
  readonly step: string;
  readonly time: string;
  readonly line: string;
}

export interface RunStore {
  create(run: RunRecord): Promise<void>;
  /**
   * Changes the run, as one read and write no other update of it interleaves with. Undefined, and
   * nothing changed, when there is no such run; when `expect` is given and the run's phase is not one
   * of them (it moved since the caller read it, as a promotion's update); and when the change's phase
   * would take the run back (core/run-phase.ts: a Running run is never Queued again, an ended run
   * stays as it ended).
   */
  update(id: string, change: RunUpdate, expect?: readonly RunRecordPhase[]): Promise<RunRecord | undefined>;
  get(id: string): Promise<RunRecord | undefined>;
  /** Newest first. */
  list(query: RunQuery): Promise<RunRecord[]>;
  /** Appends lines (already masked) to the run's log, in order. */
  appendLogs(id: string, lines: readonly Omit<RunLogLine, 'seq'>[]): Promise<void>;
  /** The run's log lines after `afterSeq` (default: from the start), at most `limit`, optionally of one step. */
  logs(
    id: string,
    query: { readonly afterSeq?: number; readonly step?: string; readonly limit: number },
  ): Promise<RunLogLine[]>;
  /** Deletes the runs that finished before `before`, and their logs (retention); returns how many runs. */
  prune(before: string): Promise<number>;
}

// ── Promotions (docs/promotions.md) ─────────────────────────────────────────────────────────────

/** One step of a promotion, as it happened: the state it reached, when, by whom, why. */
export interface PromotionStepRecord {
  readonly state: PromotionState;
  readonly at: string;
  readonly by?: string;
  readonly message?: string;
}

export interface PromotionRecord {
  /** Unique in the Store. */
  readonly id: string;
  readonly namespace: string;
  readonly environment: string;
  readonly project: string;
  /** `name@sha256:…` */
  readonly image: string;
  /** The pipeline run that pushed the image (the first environment's source). */
  readonly fromRun?: string;
  /** The environment it was promoted from, and that environment's promotion. */
  readonly fromEnvironment?: string;
  readonly fromPromotion?: string;
  /** What the environment ran before (a rollback promotes it again). */
  readonly previousImage?: string;
  readonly state: PromotionState;
  /** Why it is Failed or Rejected, for programs (Degraded, GateTimeout, PushFailed, Superseded, Rejected). */
  readonly reason?: string;
  /** The same for people, or what it waits for. */
  readonly message?: string;
  /** Who asked: a user, or `auto` (a run or the previous environment). */
  readonly requestedBy: string;
  readonly approvedBy?: string;
  readonly rejectedBy?: string;
  /** The commit it made to the configuration repository. */
  readonly commit?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly committedAt?: string;
  /** When the Application was first seen Synced and Healthy on the commit without a break since. */
  readonly healthySince?: string;
  readonly finishedAt?: string;
  readonly steps: readonly PromotionStepRecord[];
}

export type PromotionUpdate = Partial<
  Pick<
    PromotionRecord,
    | 'state'
    | 'reason'
    | 'message'
    | 'approvedBy'
    | 'rejectedBy'
    | 'commit'
    | 'previousImage'
    | 'updatedAt'
    | 'committedAt'
    | 'finishedAt'
    | 'steps'
  >
> & {
  /** undefined clears it (the Application was not Healthy on the commit any more). */
  readonly healthySince?: string | undefined;
};

export interface PromotionQuery {
  readonly namespace?: string;
  readonly environment?: string;
  readonly state?: PromotionState;
  readonly fromRun?: string;
  readonly fromPromotion?: string;
  /** Only those not yet Rejected, Verified or Failed. */
  readonly active?: boolean;
  /** Newest first; only promotions created before this one (the next page). */
  readonly before?: string;
  /** At most this many (1 to 1000). */
  readonly limit: number;
}

export interface PromotionStore {
  create(promotion: PromotionRecord): Promise<void>;
  /**
   * Changes the promotion only if it is still in state `expect` (another replica or request did not
   * move it first); undefined when there is none or it moved.
   */
  update(id: string, expect: PromotionState, change: PromotionUpdate): Promise<PromotionRecord | undefined>;
  get(id: string): Promise<PromotionRecord | undefined>;
  /** Newest first. */
  list(query: PromotionQuery): Promise<PromotionRecord[]>;
}

export interface Store {
  readonly promotions: PromotionStore;
  readonly runs: RunStore;
  readonly audit: AuditLog;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly tokens: TokenStore;
  close(): Promise<void>;
}
