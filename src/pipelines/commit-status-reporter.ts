/**
 * Reports each run's state to its git provider as a commit status (docs/pipelines.md, "Commit
 * status"), for the Pipelines whose spec has `commitStatus`. Never in the run's way: a report is sent
 * in the background, a failure the provider may take later (no answer, 408, 429, 5xx) is retried with
 * backoff (StatusWriter: 1 s doubling, 5 retries), one that it will not (401, 403, 404, 422) is logged
 * once; the run goes on either way. Per run, the reports go one at a time, in the phases' order: a
 * report behind one already asked for (a late Queued after the Running) is not sent, and a newer one
 * cancels the retry of the older.
 */
import {
  commitStatusDescription,
  commitStatusTarget,
  type CommitStatusReport,
} from '../core/commit-status.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import { runPhaseBehind } from '../core/run-phase.ts';
import type { CommitStatusCredentials, CommitStatusSink } from '../ports/commit-status.ts';
import type { Logger } from '../ports/logger.ts';
import type { PipelineRef } from '../ports/pipelines.ts';
import type { RunRecord } from '../ports/store.ts';
import { StatusWriter, type StatusRetryOptions } from './status-writer.ts';

export interface CommitStatusReporterOptions {
  readonly sink: CommitStatusSink;
  readonly readSecret: (namespace: string, name: string, key: string) => Promise<string | undefined>;
  /** The UI's address (the server's --public-url): statuses link to `<publicUrl>/runs/<id>`. */
  readonly publicUrl?: string;
  readonly retry?: StatusRetryOptions;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly log?: Logger;
}

/** Runs whose latest reported phase is remembered. */
const REMEMBERED_RUNS = 10_000;

interface Pending {
  readonly report: CommitStatusReport;
  readonly credentials: CommitStatusCredentials;
}

export class CommitStatusReporter {
  readonly #options: CommitStatusReporterOptions;
  readonly #writer: StatusWriter<Pending>;
  /** The latest phase asked for, per run (the latest REMEMBERED_RUNS runs: a late report of an ended run is dropped). */
  readonly #asked = new Map<string, RunRecord['phase']>();
  readonly #sends = new Set<Promise<void>>();

  constructor(options: CommitStatusReporterOptions) {
    this.#options = options;
    this.#writer = new StatusWriter<Pending>({
      kind: 'Commit', // logs 'Commit status not written', with commit: <namespace>/<pipeline>/<run>
      write: (_pipeline, _run, pending) => this.#send(pending),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  }

  /** Reports the run's phase, in the background, when its Pipeline asks for commit statuses. */
  report(pipeline: PipelineRef, run: RunRecord): void {
    const config = pipeline.spec.commitStatus;
    if (config === undefined) return;
    const asked = this.#asked.get(run.id);
    if (asked !== undefined && runPhaseBehind(run.phase, asked)) return;
    this.#asked.delete(run.id); // (re)inserted last: the oldest runs are forgotten first
    this.#asked.set(run.id, run.phase);
    for (const old of this.#asked.keys()) {
      if (this.#asked.size <= REMEMBERED_RUNS) break;
      this.#asked.delete(old);
    }
    const send = this.#report(pipeline, config, run)
      .catch((error: unknown) => {
        this.#log('warn', 'commit status not sent', run, error);
      })
      .finally(() => this.#sends.delete(send));
    this.#sends.add(send);
  }

  /** Reports sent or retried now. */
  get pending(): number {
    return this.#sends.size + this.#writer.pending;
  }

  /** Drops the retries that wait; returns when nothing is being sent. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#sends]);
    await this.#writer.stop();
  }

  async #report(
    pipeline: PipelineRef,
    config: NonNullable<PipelineRef['spec']['commitStatus']>,
    run: RunRecord,
  ): Promise<void> {
    const target =
      config.apiURL === undefined
        ? commitStatusTarget(config.provider, pipeline.spec.repoURL)
        : {
            apiURL: config.apiURL,
            repository: commitStatusTarget(config.provider, pipeline.spec.repoURL)?.repository,
          };
    if (target?.repository === undefined)
      throw new CapstanError(
        'PIPELINE_COMMIT_STATUS_INVALID',
        `Pipeline ${pipeline.namespace}/${pipeline.name}: no owner/repository path in its repoURL`,
      );
    const credentials =
      config.secret === undefined ? {} : await this.#credentials(pipeline.namespace, config.secret);
    const publicUrl = this.#options.publicUrl?.replace(/\/+$/, '');
    const report: CommitStatusReport = {
      provider: config.provider,
      apiURL: target.apiURL,
      repository: target.repository,
      sha: run.revision,
      phase: run.phase,
      context: config.context ?? `capstan/${pipeline.name}`,
      ...(publicUrl === undefined ? {} : { targetURL: `${publicUrl}/runs/${encodeURIComponent(run.id)}` }),
      description: commitStatusDescription(run),
    };
    // Keyed by run: its reports in order; a newer one cancels the older's retry (an older never does).
    if (runPhaseBehind(run.phase, this.#asked.get(run.id) ?? run.phase)) return;
    await this.#writer.write(`${pipeline.namespace}/${pipeline.name}`, run.id, { report, credentials }, () =>
      Promise.resolve(!runPhaseBehind(run.phase, this.#asked.get(run.id) ?? run.phase)),
    );
  }

  /** Sent; a refusal a retry would not change is logged and not retried. */
  async #send({ report, credentials }: Pending): Promise<void> {
    try {
      await this.#options.sink.set(report, credentials);
      this.#options.log?.({
        level: 'info',
        msg: 'commit status sent',
        provider: report.provider,
        sha: report.sha,
        context: report.context,
        state: report.phase,
      });
    } catch (error) {
      if (error instanceof CapstanError && error.retryable) throw error;
      this.#options.log?.({
        level: 'error',
        msg: 'commit status refused; not retried',
        provider: report.provider,
        sha: report.sha,
        context: report.context,
        error: messageOf(error),
      });
    }
  }

  async #credentials(namespace: string, secret: string): Promise<CommitStatusCredentials> {
    const read = (key: string) => this.#options.readSecret(namespace, secret, key);
    const [token, username, password] = await Promise.all([
      read('token'),
      read('username'),
      read('password'),
    ]);
    return {
      ...(token === undefined ? {} : { token }),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
    };
  }

  #log(level: 'warn' | 'error', msg: string, run: RunRecord, error: unknown): void {
    this.#options.log?.({
      level,
      msg,
      pipeline: `${run.namespace}/${run.pipeline}`,
      run: run.id,
      error: messageOf(error),
    });
  }
}
