/**
 * The pipeline controller: turns requests for runs (pushes from webhooks and polls, runs by hand,
 * re-runs) into runs, at most `concurrency.maxRuns` of a pipeline at once, the rest queued in the
 * Store; a newer push to a branch cancels the older runs of that branch when `cancelOlder`. One
 * process drives runs (the leader, src/main/pipelines.ts); it survives a restart: queued runs in the
 * Store resume, and runs that were going are adopted (their Pods, found by their labels, followed from
 * the lines the Store has; a Pod gone meanwhile fails its run with the reason). A controller that
 * stops leaves its runs' Pods going for the next one.
 *
 * A request goes through these steps, each under the pipeline's own lock:
 *   1. the Pipeline exists and is not suspended; the request was not handled before (the Store);
 *   2. the commit (ls-remote for a branch without one) and the pipeline file at it;
 *   3. the file's triggers and path filters (an invalid file is a failed run, with its line);
 *   4. the run is recorded Queued; admission cancels older runs and starts what may start.
 * Built on core, contracts and ports only.
 */
import { randomBytes } from 'node:crypto';
import { parsePipelineFile, PIPELINE_FILE_DEFAULTS, type PipelineFile } from '../contracts/pipeline-file.ts';
import {
  resolvePipelineSpec,
  validatePipeline,
  type ApprovedForkAuthor,
  type PipelineStatus,
} from '../contracts/pipeline.ts';
import { requesterOf, runRequestsOf, type RunRequest } from '../contracts/pipeline-request.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import { eventStartsRun, type PipelineEvent } from '../core/pipeline-trigger.ts';
import { admitRun, startable, type ActiveRun, type ConcurrencyRules } from '../core/run-admission.ts';
import { runPodName } from '../core/run-pod.ts';
import type { Logger } from '../ports/logger.ts';
import type { PipelineRef, PipelineSourceReader } from '../ports/pipelines.ts';
import type { CommitInfo } from '../ports/source.ts';
import type { RunRecord, RunStore, RunTrigger } from '../ports/store.ts';
import type { WatchEvent } from '../ports/watch.ts';
import { StatusWriter, type StatusRetryOptions } from './status-writer.ts';
import { runPhaseBehind } from '../core/run-phase.ts';
import {
  adoptPipelineRun,
  queuedRecord,
  runPipeline,
  type PipelineRunDeps,
  type PipelineRunRequest,
} from './run-pipeline.ts';

/** Observations for Prometheus (src/main wires them to the process's registry). */
export interface PipelineMetrics {
  runFinished(run: RunRecord): void;
  runStarted(run: RunRecord): void;
}

export interface PipelineControllerOptions {
  readonly store: RunStore;
  readonly source: PipelineSourceReader;
  readonly run: Omit<PipelineRunDeps, 'store' | 'signal' | 'detach'>;
  /**
   * Writes the Pipeline's status (the latest run). A write of a run's status that fails is retried
   * (`statusRetry`, default 1 s doubling, 5 retries) while the run is still the Pipeline's latest.
   */
  readonly writeStatus: (namespace: string, name: string, status: PipelineStatus) => Promise<void>;
  readonly statusRetry?: StatusRetryOptions;
  /** The wait between status retries; default a timer that does not keep the process alive (tests pass a clock's). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Deletes a run Pod at once (a run that outlived the process that drove it). */
  readonly deletePod: (namespace: string, name: string) => Promise<void>;
  /**
   * The run Pods of a namespace (label `capstan.dev/run`): name and run id. Absent: no sweep of run
   * Pods the Store has no going run for.
   */
  readonly listRunPods?: (
    namespace: string,
  ) => Promise<readonly { readonly name: string; readonly runId: string }[]>;
  readonly log?: Logger;
  readonly metrics?: PipelineMetrics;
  /** A new run id (a DNS label). Default 10 random hex digits. */
  readonly newRunId?: () => string;
  /**
   * The server's key for run requests: an annotation's `by` is believed when sealed with it, else
   * recorded as `unverified:<by>`. Absent: no annotation's `by` is believed.
   */
  readonly requestKey?: Uint8Array;
  /**
   * Told of each phase a run reaches (queued, waiting, running, its end), as the Pipeline's status
   * is: the commit status at the git provider (commit-status-reporter.ts). It must not throw.
   */
  readonly commitStatus?: { report(pipeline: PipelineRef, run: RunRecord): void };
}

/** What became of a request. */
export type RequestOutcome = { readonly run: RunRecord } | { readonly skipped: string };

/** Reasons recorded on runs the controller ends itself. */
export const CONTROLLER_REASONS = {
  superseded: 'Superseded',
  restarted: 'ControllerRestarted',
} as const;

interface Going {
  readonly abort: AbortController;
  /** Stops following the run, its Pod left going (the controller stops). */
  readonly detach: AbortController;
  /** The run's end, recorded (before the bookkeeping after it, which waits for the pipeline's lock). */
  readonly finished: Promise<RunRecord | undefined>;
  /** The end and its bookkeeping. */
  readonly done: Promise<void>;
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

export class PipelineController {
  readonly #options: PipelineControllerOptions;
  readonly #pipelines = new Map<string, PipelineRef>();
  /** Requests seen in this process, `namespace/name#id` (the Store answers for those of an earlier one). */
  readonly #seen = new Set<string>();
  /** Runs going in this process, by id. */
  readonly #going = new Map<string, Going>();
  /** The file text of queued and running runs, by id (read again after a restart). */
  readonly #texts = new Map<string, string>();
  /** The authors of pull requests from forks approved for each pipeline (its status). */
  readonly #approved = new Map<string, ApprovedForkAuthor[]>();
  /**
   * The approved authors this process wrote, until a watch event shows them: an event from before the
   * write (the status of a run's start, delivered late) must not bring the older list back meanwhile.
   * For a minute at most: a watch that listed again may never show that write, only what came after.
   */
  readonly #approvalsWritten = new Map<string, { list: ApprovedForkAuthor[]; at: number }>();
  /** The concurrency rules last read for each pipeline. */
  readonly #rules = new Map<string, ConcurrencyRules>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Requests in flight (observe() does not wait for them). */
  readonly #pending = new Set<Promise<unknown>>();
  /** The Pipelines' status writes: one at a time per Pipeline, retried (status-writer.ts). */
  readonly #status: StatusWriter<PipelineStatus>;
  #stopped = false;

  constructor(options: PipelineControllerOptions) {
    this.#options = options;
    this.#status = new StatusWriter({
      kind: 'Pipeline',
      write: options.writeStatus,
      ...(options.statusRetry === undefined ? {} : { retry: options.statusRetry }),
      ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
      ...(options.log === undefined ? {} : { log: options.log }),
    });
  }

  /** Status writes retried that wait or write now. */
  get statusRetries(): number {
    return this.#status.pending;
  }

  /** A watch event of Pipelines: keep the spec, and act on its run-request annotations. */
  observe(event: WatchEvent): void {
    if (event.type === 'SYNCED') return;
    const namespace = event.object.metadata.namespace ?? 'default';
    const name = event.object.metadata.name ?? '';
    const key = keyOf(namespace, name);
    if (event.type === 'DELETED') {
      this.#pipelines.delete(key);
      return;
    }
    const checked = validatePipeline(event.object);
    if (!checked.ok) {
      this.#log('warn', 'invalid Pipeline ignored', { pipeline: key, errors: checked.errors });
      this.#pipelines.delete(key);
      return;
    }
    this.#pipelines.set(key, { namespace, name, spec: resolvePipelineSpec(checked.value.spec) });
    this.#observeApprovals(key, checked.value.status?.approvedForkAuthors ?? []);
    const { requests, problems } = runRequestsOf(event.object.metadata.annotations);
    for (const problem of problems) this.#log('warn', 'run request ignored', { pipeline: key, problem });
    for (const request of requests) {
      if (this.#seen.has(`${key}#${request.id}`)) continue;
      // Anyone who may patch the Pipeline wrote it, perhaps: its `by` counts when the server sealed it.
      const by = requesterOf({ namespace, name }, request, this.#options.requestKey);
      this.#track(this.request(namespace, name, { ...request, by }), {
        pipeline: key,
        request: request.id,
      });
    }
  }

  /** The Pipelines known, for polls. */
  pipelines(): readonly PipelineRef[] {
    return [...this.#pipelines.values()];
  }

  /** Where a ref of a pipeline's repository points now (polls). */
  resolve(pipeline: PipelineRef, ref: string): Promise<{ readonly sha: string; readonly ref: string }> {
    return this.#options.source.resolve(pipeline, ref);
  }

  /** Every branch and tag of a pipeline's repository now (polls). */
  refs(pipeline: PipelineRef): Promise<ReadonlyMap<string, string>> {
    return this.#options.source.refs(pipeline);
  }

  /** Handles one request (steps 1 to 4 above). */
  request(
    namespace: string,
    name: string,
    request: RunRequest,
    trigger?: RunTrigger,
  ): Promise<RequestOutcome> {
    const key = keyOf(namespace, name);
    this.#seen.add(`${key}#${request.id}`);
    return this.#locked(key, () => this.#admit(key, request, trigger));
  }

  /** Cancels a queued or running run; `by` is recorded. Undefined when there is no such run. */
  async cancel(id: string, by: string): Promise<RunRecord | undefined> {
    const record = await this.#options.store.get(id);
    if (record === undefined) return undefined;
    return this.#locked(keyOf(record.namespace, record.pipeline), () => this.#cancelRun(record, by));
  }

  /**
   * After a restart (or a new leader): runs the Store says were going are adopted (their Pods followed
   * to their end: see adoptPipelineRun); queued runs start as the rules allow. A run of a Pipeline that
   * is gone fails with the reason, its Pod deleted.
   */
  async resume(): Promise<void> {
    const { store } = this.#options;
    const running = await store.list({ phase: 'Running', limit: 1000 });
    for (const run of running.filter((r) => !this.#going.has(r.id))) {
      const key = keyOf(run.namespace, run.pipeline);
      if (this.#pipelines.has(key) && !this.#stopped) {
        this.#log('info', 'run adopted', { pipeline: key, run: run.id });
        this.#launch(key, run.id, 'adopt');
        continue;
      }
      await this.#options
        .deletePod(run.namespace, runPodName(run.pipeline, run.id))
        .catch((error: unknown) => {
          this.#log('warn', 'run Pod not deleted', { run: run.id, error: messageOf(error) });
        });
      const ended = await store.update(
        run.id,
        {
          phase: 'Failed',
          finishedAt: this.#now(),
          reason: CONTROLLER_REASONS.restarted,
          statusMessage:
            'the process that drove this run stopped while it went, and its Pipeline is gone; its Pod was deleted.',
        },
        ['Running'],
      );
      if (ended) await this.#ended(ended);
    }
    await this.#sweep();
    const queued = await store.list({ phase: 'Queued', limit: 1000 });
    const keys = new Set(queued.map((r) => keyOf(r.namespace, r.pipeline)));
    for (const key of keys) await this.#locked(key, () => this.#drain(key));
  }

  /**
   * Deletes the run Pods of the Pipelines' namespaces whose run the Store does not have going: a Store
   * that did not outlive the server (an emptyDir), or a driver that stopped between a run's end and
   * its Pod's deletion. A run's record is always written before its Pod is made.
   */
  async #sweep(): Promise<void> {
    const list = this.#options.listRunPods;
    if (list === undefined) return;
    const namespaces = new Set([...this.#pipelines.values()].map((p) => p.namespace));
    for (const namespace of namespaces) {
      const pods = await list(namespace).catch((error: unknown) => {
        this.#log('warn', 'run Pods not listed', { namespace, error: messageOf(error) });
        return [];
      });
      for (const pod of pods) {
        const run = await this.#options.store.get(pod.runId);
        if (run?.phase === 'Running' || run?.phase === 'Queued') continue;
        this.#log('info', 'run Pod without a going run deleted', {
          namespace,
          pod: pod.name,
          run: pod.runId,
          ...(run === undefined ? { record: 'none' } : { phase: run.phase }),
        });
        await this.#options.deletePod(namespace, pod.name).catch((error: unknown) => {
          this.#log('warn', 'run Pod not deleted', { pod: pod.name, error: messageOf(error) });
        });
      }
    }
  }

  /** Deletes runs that finished before `before` and their logs; returns how many. */
  prune(before: Date): Promise<number> {
    return this.#options.store.prune(before.toISOString());
  }

  /** Waits for the requests in flight and the runs going (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0 || this.#going.size > 0) {
      await Promise.allSettled([...this.#pending, ...[...this.#going.values()].map((g) => g.done)]);
    }
  }

  /**
   * Stops starting runs and stops following the runs going here: their Pods go on, their records stay
   * Running, and the next controller (this process restarted, or another replica) adopts them. Status
   * writes that wait for a retry are given up (the next controller writes the status of what ends).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const going of this.#going.values()) going.detach.abort();
    await this.idle();
    await this.#status.stop();
  }

  // ── Steps ──────────────────────────────────────────────────────────────────────────────────────

  async #admit(key: string, request: RunRequest, trigger: RunTrigger | undefined): Promise<RequestOutcome> {
    // 1. The Pipeline, and whether this request already made a run.
    const pipeline = this.#pipelines.get(key);
    if (pipeline === undefined) return this.#skip(key, request, 'the Pipeline does not exist');
    if (pipeline.spec.suspend) return this.#skip(key, request, 'the Pipeline is suspended (spec.suspend)');
    if (this.#stopped) return this.#skip(key, request, 'the controller is stopping');
    if (request.pullRequest?.fromFork === true && pipeline.spec.forkPullRequests === 'Ignore')
      return this.#skip(key, request, 'a pull request from a fork (spec.forkPullRequests: Ignore)');
    // 2. The commit and the file at it.
    const target = await this.#commitOf(pipeline, request);
    const kind = trigger ?? triggerOf(request, target.ref);
    if (await this.#alreadyRan(pipeline, request, kind, target))
      return this.#skip(key, request, `commit ${target.sha.slice(0, 12)} of ${target.ref} already has a run`);
    const { text, commit } = await this.#options.source.readFile(pipeline, target.sha);
    if (text === undefined)
      return this.#skip(key, request, `commit ${target.sha.slice(0, 12)} has no ${pipeline.spec.file}`);
    // 3. The triggers (an invalid file runs, to fail with its line).
    const file = parsedOrUndefined(text, pipeline.spec.file);
    // A re-run repeats a run someone chose: the triggers decided already.
    if (
      file !== undefined &&
      kind !== 'rerun' &&
      !eventStartsRun(file.triggers, eventOf(request, kind, target.ref))
    )
      return this.#skip(key, request, `the triggers of ${pipeline.spec.file} do not match ${target.ref}`);
    // 4. Record it Queued, then admit it. A re-run of a fork's run is a fork's run again: no secrets.
    const original =
      request.kind === 'rerun' && request.rerunOf !== undefined
        ? await this.#options.store.get(request.rerunOf)
        : undefined;
    const fork = original?.pullRequest?.fromFork === true ? original.pullRequest : undefined;
    const runRequest = this.#runRequest(pipeline, request, { kind, target, commit, text, fork });
    const queued = queuedRecord(runRequest, [], this.#now());
    // An invalid file fails without a Pod: nothing of a fork's runs, so nothing to approve.
    const record = file !== undefined && this.#waitsForApproval(pipeline, queued) ? waiting(queued) : queued;
    await this.#options.store.create(record);
    this.#texts.set(record.id, text);
    this.#log('info', record.phase === 'Queued' ? 'run queued' : 'run waits for approval', {
      pipeline: key,
      run: record.id,
      revision: record.revision,
      trigger: kind,
    });
    if (file === undefined) {
      this.#launch(key, record.id);
      return { run: record };
    }
    const rules = {
      maxRuns: file.concurrency?.maxRuns ?? PIPELINE_FILE_DEFAULTS.maxRuns,
      cancelOlder: file.concurrency?.cancelOlder ?? PIPELINE_FILE_DEFAULTS.cancelOlder,
    };
    this.#rules.set(key, rules);
    if (rules.cancelOlder) await this.#supersedeWaiting(pipeline, record);
    if (record.phase === 'WaitingForApproval') {
      await this.#writeStatus(pipeline, record);
      return { run: record };
    }
    return { run: await this.#admitQueued(key, pipeline, record, rules) };
  }

  /** Admission of a queued run: older runs of its lane cancelled (cancelOlder), what may start started. */
  async #admitQueued(
    key: string,
    pipeline: PipelineRef,
    record: RunRecord,
    rules: ConcurrencyRules,
  ): Promise<RunRecord> {
    const active = (await this.#active(pipeline)).filter((r) => r.id !== record.id);
    const admission = admitRun(active, activeOf(record), rules);
    for (const id of admission.cancel) {
      const older = await this.#options.store.get(id);
      if (older)
        await this.#cancelRun(
          older,
          `run ${record.id} (${supersedingWhat(record)})`,
          CONTROLLER_REASONS.superseded,
        );
    }
    for (const id of admission.start) this.#launch(key, id);
    await this.#writeStatus(pipeline, record);
    return (await this.#options.store.get(record.id)) ?? record;
  }

  /**
   * A run of a pull request from a fork waits for approval when its Pipeline says so
   * (`forkPullRequests: RequireApproval`) and its author is not approved yet; a re-run was asked by
   * someone who may run the Pipeline's runs.
   */
  #waitsForApproval(pipeline: PipelineRef, record: RunRecord): boolean {
    if (record.pullRequest?.fromFork !== true || record.trigger === 'rerun') return false;
    if (pipeline.spec.forkPullRequests !== 'RequireApproval') return false;
    const author = record.pullRequest.author?.toLowerCase();
    const approved = this.#approved.get(keyOf(pipeline.namespace, pipeline.name)) ?? [];
    return author === undefined || !approved.some((a) => a.login.toLowerCase() === author);
  }

  /** A newer run of a pull request replaces its older runs still waiting for approval. */
  async #supersedeWaiting(pipeline: PipelineRef, record: RunRecord): Promise<void> {
    const number = record.pullRequest?.number;
    if (number === undefined) return;
    const waitingRuns = await this.#options.store.list({
      namespace: pipeline.namespace,
      pipeline: pipeline.name,
      phase: 'WaitingForApproval',
      limit: 1000,
    });
    for (const older of waitingRuns) {
      if (older.id === record.id || older.pullRequest?.number !== number) continue;
      const cancelled = await this.#options.store.update(
        older.id,
        {
          phase: 'Cancelled',
          finishedAt: this.#now(),
          cancelledBy: `run ${record.id} (${supersedingWhat(record)})`,
          reason: CONTROLLER_REASONS.superseded,
        },
        ['WaitingForApproval'],
      );
      this.#texts.delete(older.id);
      if (cancelled) await this.#ended(cancelled);
    }
  }

  /**
   * Approves a run waiting for approval: it is queued and admitted as any run, and its author is
   * approved for the Pipeline's next runs (its status). `by` is recorded. Undefined when there is no
   * such run; `not-waiting` when it does not wait.
   */
  async approve(id: string, by: string): Promise<RunRecord | 'not-waiting' | undefined> {
    const found = await this.#options.store.get(id);
    if (found === undefined) return undefined;
    const key = keyOf(found.namespace, found.pipeline);
    return this.#locked(key, async () => {
      const record = await this.#options.store.get(id);
      const pipeline = this.#pipelines.get(key);
      if (record?.phase !== 'WaitingForApproval' || pipeline === undefined) return 'not-waiting';
      const author = record.pullRequest?.author;
      if (author !== undefined) await this.#setApproved(pipeline, author, { by, run: id });
      const queued = await this.#options.store.update(
        id,
        { phase: 'Queued', approvedBy: by, reason: 'Approved', statusMessage: `approved by ${by}` },
        ['WaitingForApproval'],
      );
      if (queued === undefined) return undefined;
      this.#log('info', 'run approved', { pipeline: key, run: id, by, ...(author ? { author } : {}) });
      const rules = this.#rules.get(key) ?? {
        maxRuns: PIPELINE_FILE_DEFAULTS.maxRuns,
        cancelOlder: PIPELINE_FILE_DEFAULTS.cancelOlder,
      };
      return this.#admitQueued(key, pipeline, queued, rules);
    });
  }

  /**
   * Revokes the approval of a fork's author for a Pipeline: their next runs wait again. False when
   * they were not approved; undefined when the Pipeline is not known here.
   */
  async revoke(namespace: string, name: string, login: string, by: string): Promise<boolean | undefined> {
    const key = keyOf(namespace, name);
    return this.#locked(key, async () => {
      const pipeline = this.#pipelines.get(key);
      if (pipeline === undefined) return undefined;
      const approved = this.#approved.get(key) ?? [];
      const kept = approved.filter((a) => a.login.toLowerCase() !== login.toLowerCase());
      if (kept.length === approved.length) return false;
      await this.#writeApprovals(namespace, name, kept);
      this.#log('info', 'approval revoked', { pipeline: key, author: login, by });
      return true;
    });
  }

  /** The approved authors a watch event shows, unless it is older than this process's last write. */
  #observeApprovals(key: string, seen: readonly ApprovedForkAuthor[]): void {
    const written = this.#approvalsWritten.get(key);
    const logins = (list: readonly ApprovedForkAuthor[]) => list.map((a) => `${a.login}@${a.at}`).join(',');
    const recent = written !== undefined && this.#options.run.now().getTime() - written.at < 60_000;
    if (written !== undefined && recent && logins(written.list) !== logins(seen)) return;
    this.#approvalsWritten.delete(key);
    this.#approved.set(key, [...seen]);
  }

  /** Writes the approved authors of a Pipeline into its status, and keeps them here. */
  async #writeApprovals(namespace: string, name: string, list: ApprovedForkAuthor[]): Promise<void> {
    await this.#options.writeStatus(namespace, name, { approvedForkAuthors: list });
    this.#approved.set(keyOf(namespace, name), list);
    this.#approvalsWritten.set(keyOf(namespace, name), { list, at: this.#options.run.now().getTime() });
  }

  /** Remembers an approved author in the Pipeline's status (written before the run starts). */
  async #setApproved(pipeline: PipelineRef, login: string, how: { by: string; run: string }): Promise<void> {
    const key = keyOf(pipeline.namespace, pipeline.name);
    const approved = (this.#approved.get(key) ?? []).filter(
      (a) => a.login.toLowerCase() !== login.toLowerCase(),
    );
    const next = [...approved, { login, by: how.by, at: this.#now(), run: how.run }].slice(-MAX_APPROVED);
    await this.#writeApprovals(pipeline.namespace, pipeline.name, next);
  }

  async #commitOf(pipeline: PipelineRef, request: RunRequest): Promise<{ sha: string; ref: string }> {
    if (request.revision !== undefined) return { sha: request.revision, ref: request.ref ?? '' };
    return this.#options.source.resolve(pipeline, request.ref ?? '');
  }

  /** A push or tag whose commit and ref already have a run (a webhook sent again, a poll after a webhook). */
  async #alreadyRan(
    pipeline: PipelineRef,
    request: RunRequest,
    kind: RunTrigger,
    target: { sha: string; ref: string },
  ): Promise<boolean> {
    if (request.kind !== 'push' && request.kind !== 'pullRequest') return false;
    const runs = await this.#options.store.list({
      namespace: pipeline.namespace,
      pipeline: pipeline.name,
      revision: target.sha,
      limit: 100,
    });
    const pr = request.pullRequest?.number;
    if (request.kind === 'pullRequest') return runs.some((r) => r.pullRequest?.number === pr);
    const { branch, tag } = refNames(target.ref);
    return runs.some(
      (r) =>
        (r.trigger === kind || r.trigger === 'push' || r.trigger === 'poll' || r.trigger === 'tag') &&
        r.pullRequest === undefined &&
        r.branch === branch &&
        r.tag === tag,
    );
  }

  #runRequest(
    pipeline: PipelineRef,
    request: RunRequest,
    found: {
      kind: RunTrigger;
      target: { sha: string; ref: string };
      commit: CommitInfo;
      text: string;
      fork: RunRecord['pullRequest'];
    },
  ): PipelineRunRequest {
    const pr = request.kind === 'pullRequest' ? request.pullRequest : found.fork;
    // A pull request's run is of its source branch (for `{branch}` tags and the list by branch).
    const { branch, tag } =
      pr === undefined ? refNames(found.target.ref) : { branch: pr.sourceBranch, tag: undefined };
    return {
      namespace: pipeline.namespace,
      pipeline: pipeline.name,
      spec: pipeline.spec,
      fileText: found.text,
      runId: (this.#options.newRunId ?? defaultRunId)(),
      revision: found.target.sha,
      ...(branch === undefined ? {} : { branch }),
      ...(tag === undefined ? {} : { tag }),
      author: found.commit.author,
      commitMessage: found.commit.subject,
      trigger: found.kind,
      triggeredBy: request.by,
      ...(request.rerunOf === undefined ? {} : { rerunOf: request.rerunOf }),
      ...(pr === undefined ? {} : { pullRequest: pr }),
      queued: true,
    };
  }

  /** Queued and running runs of a pipeline, oldest first. */
  async #active(pipeline: { namespace: string; name: string }): Promise<ActiveRun[]> {
    const query = { namespace: pipeline.namespace, pipeline: pipeline.name, limit: 1000 };
    const [queued, running] = await Promise.all([
      this.#options.store.list({ ...query, phase: 'Queued' }),
      this.#options.store.list({ ...query, phase: 'Running' }),
    ]);
    return (
      [...queued, ...running]
        .sort((a, b) => a.queuedAt.localeCompare(b.queuedAt) || a.id.localeCompare(b.id))
        .map(activeOf)
        // Runs going here are running even while their record still says Queued.
        .map((r) => (this.#going.has(r.id) ? { ...r, phase: 'Running' as const } : r))
    );
  }

  /** Starts the queued runs of a pipeline that may start now. */
  async #drain(key: string): Promise<void> {
    if (this.#stopped) return;
    const [namespace = '', name = ''] = key.split('/');
    const rules = this.#rules.get(key) ?? {
      maxRuns: PIPELINE_FILE_DEFAULTS.maxRuns,
      cancelOlder: PIPELINE_FILE_DEFAULTS.cancelOlder,
    };
    for (const id of startable(await this.#active({ namespace, name }), rules.maxRuns)) this.#launch(key, id);
  }

  /** Runs a queued run (or adopts a running one) in the background; when it ends, the next queued runs start. */
  #launch(key: string, id: string, how: 'start' | 'adopt' = 'start'): void {
    if (this.#going.has(id)) return;
    const abort = new AbortController();
    const detach = new AbortController();
    const signals = { signal: abort.signal, detach: detach.signal };
    const finished = this.#execute(key, id, signals, how).catch((error: unknown) => {
      this.#log('error', 'run failed to start', { pipeline: key, run: id, error: messageOf(error) });
      return this.#options.store.update(id, {
        phase: 'Failed',
        finishedAt: this.#now(),
        reason: 'RunFailed',
        statusMessage: messageOf(error),
      });
    });
    const done = finished
      .then(async (ended) => {
        this.#going.delete(id);
        this.#texts.delete(id);
        // A detached run is still going (on its Pod): its end is the next controller's.
        if (ended && ended.phase !== 'Running' && ended.phase !== 'Queued') await this.#ended(ended);
        await this.#locked(key, () => this.#drain(key));
      })
      .catch((error: unknown) => {
        this.#log('error', 'run bookkeeping failed', { pipeline: key, run: id, error: messageOf(error) });
      });
    this.#going.set(id, { abort, detach, finished, done });
  }

  async #execute(
    key: string,
    id: string,
    signals: { signal: AbortSignal; detach: AbortSignal },
    how: 'start' | 'adopt',
  ): Promise<RunRecord | undefined> {
    const record = await this.#options.store.get(id);
    const pipeline = this.#pipelines.get(key);
    if (record?.phase !== (how === 'adopt' ? 'Running' : 'Queued')) return undefined;
    if (pipeline === undefined) {
      return this.#options.store.update(id, {
        phase: 'Cancelled',
        finishedAt: this.#now(),
        cancelledBy: 'capstan: the Pipeline was deleted',
      });
    }
    const text =
      this.#texts.get(id) ?? (await this.#options.source.readFile(pipeline, record.revision)).text ?? '';
    if (how === 'start') {
      // Running in the Store first, only from Queued (a cancel may have ended it), then the status.
      const started = await this.#options.store.update(id, { phase: 'Running', startedAt: this.#now() }, [
        'Queued',
      ]);
      if (started === undefined) return this.#options.store.get(id);
      this.#options.metrics?.runStarted(started);
      this.#log('info', 'run started', { pipeline: key, run: id });
      await this.#writeStatus(pipeline, started);
    }
    return (how === 'adopt' ? adoptPipelineRun : runPipeline)(
      {
        namespace: record.namespace,
        pipeline: record.pipeline,
        spec: pipeline.spec,
        fileText: text,
        runId: id,
        revision: record.revision,
        // The image tags {branch} and {tag}, and the run Pod's checkout, follow the run's ref.
        ...(record.branch === undefined ? {} : { branch: record.branch }),
        ...(record.tag === undefined ? {} : { tag: record.tag }),
        ...(record.pullRequest === undefined ? {} : { pullRequest: record.pullRequest }),
        trigger: record.trigger,
        triggeredBy: record.triggeredBy,
        queued: true,
      },
      { ...this.#options.run, store: this.#options.store, ...signals },
    );
  }

  async #cancelRun(record: RunRecord, by: string, reason?: string): Promise<RunRecord> {
    const { store } = this.#options;
    if (record.phase !== 'Queued' && record.phase !== 'Running' && record.phase !== 'WaitingForApproval')
      return record;
    const going = this.#going.get(record.id);
    if (going) {
      // The executor deletes the Pod; runPipeline records the end as Cancelled.
      await store.update(record.id, { cancelledBy: by, ...(reason === undefined ? {} : { reason }) });
      going.abort.abort();
      await going.finished;
      // The run's end was recorded with the executor's reason; the controller's is the one that matters.
      if (reason !== undefined) await store.update(record.id, { reason });
      return (await store.get(record.id)) ?? record;
    }
    // Running with no one following it here (not adopted yet): its Pod goes too.
    if (record.phase === 'Running')
      await this.#options.deletePod(record.namespace, runPodName(record.pipeline, record.id));
    const cancelled = await store.update(
      record.id,
      {
        phase: 'Cancelled',
        finishedAt: this.#now(),
        cancelledBy: by,
        ...(reason === undefined ? {} : { reason }),
      },
      [record.phase],
    );
    this.#texts.delete(record.id);
    if (cancelled) await this.#ended(cancelled);
    return cancelled ?? (await store.get(record.id)) ?? record;
  }

  /** A run ended: metrics, and the Pipeline's status when it is the latest run. */
  async #ended(run: RunRecord): Promise<void> {
    this.#options.metrics?.runFinished(run);
    this.#log('info', 'run ended', {
      pipeline: keyOf(run.namespace, run.pipeline),
      run: run.id,
      phase: run.phase,
      ...(run.reason === undefined ? {} : { reason: run.reason }),
    });
    const pipeline = this.#pipelines.get(keyOf(run.namespace, run.pipeline));
    if (pipeline) await this.#writeStatus(pipeline, run);
  }

  /**
   * The Pipeline's status names its latest run; an older run's news does not overwrite it, neither at
   * once nor when a failed write is retried (each retry asks the Store again).
   */
  async #writeStatus(pipeline: PipelineRef, run: RunRecord): Promise<void> {
    // Every run, latest or not, has its commit's status.
    this.#options.commitStatus?.report(pipeline, run);
    // Asked when the write's turn comes: a Queued that lost the race to the run's Running is not written.
    const isLatest = async () => {
      const [latest] = await this.#options.store.list({
        namespace: pipeline.namespace,
        pipeline: pipeline.name,
        limit: 1,
      });
      return latest === undefined || (latest.id === run.id && !runPhaseBehind(run.phase, latest.phase));
    };
    const status: PipelineStatus = { lastRun: { id: run.id, phase: run.phase, revision: run.revision } };
    await this.#status.write(pipeline.namespace, pipeline.name, status, isLatest);
  }

  #skip(key: string, request: RunRequest, reason: string): RequestOutcome {
    this.#log('info', 'run request skipped', { pipeline: key, request: request.id, reason });
    return { skipped: reason };
  }

  /** Runs `work` after the pipeline's earlier work, one at a time. */
  #locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.#locks.set(key, settled);
    void settled.then(() => {
      if (this.#locks.get(key) === settled) this.#locks.delete(key);
    });
    return next;
  }

  #track(work: Promise<unknown>, fields: Record<string, unknown>): void {
    const tracked = work
      .catch((error: unknown) => {
        const code = error instanceof CapstanError ? error.code : undefined;
        this.#log('warn', 'run request failed', {
          ...fields,
          error: messageOf(error),
          ...(code ? { code } : {}),
        });
      })
      .finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  #now(): string {
    return this.#options.run.now().toISOString();
  }

  #log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
    this.#options.log?.({ level, msg, ...fields });
  }
}

/** Approved authors kept per Pipeline (the status's limit); the oldest approvals go first. */
const MAX_APPROVED = 1000;

/** A run of a pull request from a fork, recorded to wait until someone approves it. */
function waiting(record: RunRecord): RunRecord {
  const author = record.pullRequest?.author;
  return {
    ...record,
    phase: 'WaitingForApproval',
    reason: 'WaitingForApproval',
    statusMessage: `pull request ${String(record.pullRequest?.number)} comes from a fork${author === undefined ? '' : ` by ${author}, who is not approved for this Pipeline yet`}: it waits until someone who may run its runs approves it (capstan pipeline approve ${record.id})`,
  };
}

function defaultRunId(): string {
  return randomBytes(5).toString('hex');
}

function parsedOrUndefined(text: string, path: string): PipelineFile | undefined {
  try {
    return parsePipelineFile(text, path);
  } catch (error) {
    if (error instanceof CapstanError) return undefined;
    throw error;
  }
}

/** The branch or tag of a full ref. */
export function refNames(ref: string): { branch?: string; tag?: string } {
  if (ref.startsWith('refs/heads/')) return { branch: ref.slice('refs/heads/'.length) };
  if (ref.startsWith('refs/tags/')) return { tag: ref.slice('refs/tags/'.length) };
  return {};
}

function triggerOf(request: RunRequest, ref: string): RunTrigger {
  if (request.kind === 'manual') return 'manual';
  if (request.kind === 'rerun') return 'rerun';
  if (request.kind === 'pullRequest') return 'pullRequest';
  return ref.startsWith('refs/tags/') ? 'tag' : 'push';
}

/** What happened, for the file's triggers. */
function eventOf(request: RunRequest, kind: RunTrigger, ref: string): PipelineEvent {
  const { branch, tag } = refNames(ref);
  if (kind === 'manual' || kind === 'rerun') return { kind: 'manual' };
  if (kind === 'pullRequest') {
    return {
      kind: 'pullRequest',
      targetBranch: request.pullRequest?.targetBranch ?? '',
      ...(request.changedPaths === undefined ? {} : { changedFiles: request.changedPaths }),
    };
  }
  if (tag !== undefined) return { kind: 'tag', tag };
  return {
    kind: 'push',
    branch: branch ?? '',
    ...(request.changedPaths === undefined ? {} : { changedFiles: request.changedPaths }),
  };
}

/**
 * A run as admission sees it. The "branch" whose newer run replaces the older is the pull request for
 * its runs (`pull/<n>`): a push to the source branch and the pull request from it are two lanes.
 */
function activeOf(run: RunRecord): ActiveRun {
  const lane = run.pullRequest === undefined ? run.branch : `pull/${String(run.pullRequest.number)}`;
  return {
    id: run.id,
    phase: run.phase === 'Running' ? 'Running' : 'Queued',
    ...(lane === undefined ? {} : { branch: lane }),
    trigger: run.trigger,
  };
}

/** What replaced older runs, for their `cancelledBy`: `push of 1a2b3c4d5e6f to main`. */
function supersedingWhat(record: RunRecord): string {
  const commit = record.revision.slice(0, 12);
  if (record.pullRequest !== undefined) {
    return `pull request ${String(record.pullRequest.number)} at ${commit}, ${record.pullRequest.sourceBranch} into ${record.pullRequest.targetBranch}`;
  }
  return `${record.trigger} of ${commit} to ${record.branch ?? ''}`;
}
