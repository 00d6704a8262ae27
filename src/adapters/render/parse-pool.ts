/**
 * Manifest parsing off the event loop. Parsing is synchronous and, for hostile input, slow: the agent's
 * event loop also renews its Lease, answers probes and reconciles every other Application, so a render's
 * YAML is parsed in a worker thread. A parse that outlives the render's time limit or is cancelled
 * terminates its worker (a new one is started for the next job).
 *
 * A small file (under `inlineBelowBytes`, 64 KiB by default) is parsed in the caller's thread: its cost
 * is bounded by its size (the nesting depth is checked on the raw text first, aliases are counted), and
 * copying it to a worker and its objects back costs more than the parse. A worker left idle for
 * `idleMs` (30 s) stops, so an agent whose renders are cached holds no parser threads and their memory.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CapstanError, type ErrorCode } from '../../core/errors.ts';
import type { ParsedObject, ParseLimits } from '../../core/manifest.ts';
import { timeoutError } from './context.ts';
import { answerParse } from './parse-answer.ts';

export interface ParseJob {
  readonly id: number;
  readonly text: string;
  readonly file: string;
  readonly limits: ParseLimits;
}

export type ParseAnswer =
  | { readonly id: number; readonly objects: ParsedObject[] }
  | {
      readonly id: number;
      readonly error: {
        readonly code: ErrorCode;
        readonly message: string;
        readonly subject: string | undefined;
        readonly retryable: boolean;
      };
    };

export interface ParseRun {
  /** The job is abandoned (RENDER_TIMEOUT) after this long. */
  readonly timeoutMs: number;
  /** The render's whole time limit, for the message. */
  readonly limitMs: number;
  /** The render's folder: a timeout is its RENDER_TIMEOUT (context.ts). */
  readonly subject: string;
  readonly signal?: AbortSignal | undefined;
}

interface Pending {
  readonly job: ParseJob;
  readonly run: ParseRun;
  readonly resolve: (objects: ParsedObject[]) => void;
  readonly reject: (error: CapstanError) => void;
}

// The worker's file has this module's extension: .ts in a checkout (Node.js strips the types), .js in
// the package that `npm pack` compiles into dist/.
const WORKER_FILE = new URL(
  `./parse-worker${import.meta.url.endsWith('.js') ? '.js' : '.ts'}`,
  import.meta.url,
);

export interface ParsePoolOptions {
  /** Workers at most. Default: the cores, at most 2, started when first needed. */
  readonly size?: number;
  /** Texts shorter than this (UTF-16 code units) are parsed in the caller's thread. Default 64 KiB. */
  readonly inlineBelowBytes?: number;
  /** An idle worker stops after this long. Default 30 s. */
  readonly idleMs?: number;
}

const DEFAULT_INLINE_BELOW = 64 * 1024;
const DEFAULT_IDLE_MS = 30_000;

export class ParsePool {
  readonly #size: number;
  readonly #inlineBelow: number;
  readonly #idleMs: number;
  readonly #idle: { readonly worker: Worker; readonly stop: NodeJS.Timeout }[] = [];
  readonly #queue: Pending[] = [];
  #running = 0;
  #nextId = 0;

  constructor(options: ParsePoolOptions = {}) {
    this.#size = options.size ?? Math.min(2, availableParallelism());
    this.#inlineBelow = options.inlineBelowBytes ?? DEFAULT_INLINE_BELOW;
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  }

  /** Worker threads alive now, busy or idle. */
  get threads(): number {
    return this.#running + this.#idle.length;
  }

  /**
   * Parses a small text here and a larger one in a worker; rejects with the parser's CapstanError,
   * RENDER_TIMEOUT or RENDER_CANCELLED.
   */
  parse(text: string, file: string, limits: ParseLimits, run: ParseRun): Promise<ParsedObject[]> {
    const job: ParseJob = { id: this.#nextId++, text, file, limits };
    if (text.length < this.#inlineBelow) return this.#parseHere(job, run);
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, run, resolve, reject });
      this.#next();
    });
  }

  /** Stops every idle worker (busy ones stop after their job). */
  async close(): Promise<void> {
    const idle = this.#idle.splice(0);
    for (const { stop } of idle) clearTimeout(stop);
    await Promise.all(idle.map(({ worker }) => worker.terminate()));
  }

  #parseHere(job: ParseJob, run: ParseRun): Promise<ParsedObject[]> {
    if (run.signal?.aborted === true) return Promise.reject(cancelled(job.file));
    const answer = answerParse(job);
    return 'objects' in answer ? Promise.resolve(answer.objects) : Promise.reject(failure(answer.error));
  }

  #next(): void {
    while (this.#queue.length > 0 && (this.#idle.length > 0 || this.#running < this.#size)) {
      const pending = this.#queue.shift();
      if (pending === undefined) return;
      const idle = this.#idle.pop();
      if (idle !== undefined) clearTimeout(idle.stop);
      const worker = idle?.worker ?? new Worker(WORKER_FILE);
      this.#running += 1;
      this.#start(worker, pending);
    }
  }

  /** Keeps a worker for the next job, and stops it if none comes within the idle time. */
  #keep(worker: Worker): void {
    worker.unref();
    const stop = setTimeout(() => {
      const at = this.#idle.findIndex((idle) => idle.worker === worker);
      if (at >= 0) this.#idle.splice(at, 1);
      void worker.terminate();
    }, this.#idleMs);
    stop.unref();
    this.#idle.push({ worker, stop });
  }

  #start(worker: Worker, { job, run, resolve, reject }: Pending): void {
    worker.ref();
    let done = false;
    /** Ends the job; `keep`: the worker is sound and goes back to the idle pool. */
    const finish = ({ keep }: { readonly keep: boolean }): void => {
      done = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      worker.off('message', onMessage);
      worker.off('error', onError);
      this.#running -= 1;
      if (keep) this.#keep(worker);
      else void worker.terminate();
      this.#next();
    };
    const onMessage = (answer: ParseAnswer): void => {
      if (done || answer.id !== job.id) return;
      finish({ keep: true });
      if ('objects' in answer) resolve(answer.objects);
      else reject(failure(answer.error));
    };
    const onError = (error: Error): void => {
      if (done) return;
      finish({ keep: false });
      reject(
        new CapstanError('RENDER_PARSE', `${job.file}: the parser failed: ${error.message}`, {
          subject: job.file,
          cause: error,
        }),
      );
    };
    const onAbort = (): void => {
      if (done) return;
      finish({ keep: false });
      reject(cancelled(job.file));
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish({ keep: false });
      reject(timeoutError(run.subject, run.limitMs, `parsing ${job.file} was stopped`));
    }, run.timeoutMs);
    worker.on('message', onMessage);
    worker.on('error', onError);
    if (run.signal?.aborted === true) {
      onAbort();
      return;
    }
    run.signal?.addEventListener('abort', onAbort, { once: true });
    worker.postMessage(job);
  }
}

/** The parser's error, given back as the CapstanError it was. */
function failure(error: Extract<ParseAnswer, { error: unknown }>['error']): CapstanError {
  const { code, message, subject, retryable } = error;
  return new CapstanError(code, message, { ...(subject !== undefined && { subject }), retryable });
}

function cancelled(file: string): CapstanError {
  return new CapstanError('RENDER_CANCELLED', `parsing ${file} was cancelled`, {
    subject: file,
    retryable: true,
  });
}
