/**
 * Manifest parsing off the event loop. Parsing is synchronous and, for hostile input, slow: the agent's
 * event loop also renews its Lease, answers probes and reconciles every other Application, so a render's
 * YAML is parsed in a worker thread. A parse that outlives the render's time limit or is cancelled
 * terminates its worker (a new one is started for the next job).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CapstanError, type ErrorCode } from '../../core/errors.ts';
import type { ParsedObject, ParseLimits } from '../../core/manifest.ts';

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

export class ParsePool {
  readonly #size: number;
  readonly #idle: Worker[] = [];
  readonly #queue: Pending[] = [];
  #running = 0;
  #nextId = 0;

  /** `size` workers at most (default: the cores, at most 2), started when first needed. */
  constructor(options: { readonly size?: number } = {}) {
    this.#size = options.size ?? Math.min(2, availableParallelism());
  }

  /** Parses in a worker; rejects with the parser's CapstanError, RENDER_TIMEOUT or RENDER_CANCELLED. */
  parse(text: string, file: string, limits: ParseLimits, run: ParseRun): Promise<ParsedObject[]> {
    return new Promise((resolve, reject) => {
      const job: ParseJob = { id: this.#nextId++, text, file, limits };
      this.#queue.push({ job, run, resolve, reject });
      this.#next();
    });
  }

  /** Stops every idle worker (busy ones stop after their job). */
  async close(): Promise<void> {
    await Promise.all(this.#idle.splice(0).map((worker) => worker.terminate()));
  }

  #next(): void {
    while (this.#queue.length > 0 && (this.#idle.length > 0 || this.#running < this.#size)) {
      const pending = this.#queue.shift();
      if (pending === undefined) return;
      const worker = this.#idle.pop() ?? new Worker(WORKER_FILE);
      this.#running += 1;
      this.#start(worker, pending);
    }
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
      if (keep) {
        worker.unref();
        this.#idle.push(worker);
      } else void worker.terminate();
      this.#next();
    };
    const onMessage = (answer: ParseAnswer): void => {
      if (done || answer.id !== job.id) return;
      finish({ keep: true });
      if ('objects' in answer) resolve(answer.objects);
      else {
        const { code, message, subject, retryable } = answer.error;
        reject(new CapstanError(code, message, { ...(subject !== undefined && { subject }), retryable }));
      }
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
      reject(
        new CapstanError('RENDER_CANCELLED', `parsing ${job.file} was cancelled`, {
          subject: job.file,
          retryable: true,
        }),
      );
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish({ keep: false });
      reject(
        new CapstanError(
          'RENDER_TIMEOUT',
          `parsing ${job.file} did not finish within the render time limit of ${run.limitMs} ms and was stopped; it may succeed on a retry, or raise the render time limit`,
          { subject: job.file, retryable: true },
        ),
      );
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
