// The live heap of a running Node.js process by where it was allocated, sampled through its inspector
// (Chrome DevTools Protocol, HeapProfiler domain), for the steady state's memory: `--heap-prof` writes
// its profile only at exit, after the process has dropped its caches, so it cannot say what held the
// memory while it ran. The process is started with `--inspect-brk=127.0.0.1:0`: it waits before its
// first line until `start` has begun sampling, so that every allocation from the first one on is in
// the profile; `take` reads what is still alive then, at any moment, as often as asked.
import type { ChildProcess } from 'node:child_process';
import type { HeapProfile } from './heap-profile.ts';

/** The Node.js flag that makes a process wait for the sampler (loopback only, a port of its own). */
export const INSPECT_BRK_FLAG = '--inspect-brk=127.0.0.1:0';

interface Reply {
  readonly id?: number;
  readonly result?: unknown;
  readonly error?: { readonly message?: string };
}

export class HeapSampler {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener('message', (event) => {
      const reply = JSON.parse(String(event.data)) as Reply;
      const waiting = reply.id === undefined ? undefined : this.#pending.get(reply.id);
      if (!waiting || reply.id === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.error) waiting.reject(new Error(`inspector: ${reply.error.message ?? 'error'}`));
      else waiting.resolve(reply.result);
    });
    socket.addEventListener('close', () => {
      for (const waiting of this.#pending.values()) waiting.reject(new Error('inspector: connection closed'));
      this.#pending.clear();
    });
  }

  /**
   * Connects to the inspector of a child started with INSPECT_BRK_FLAG (its stderr piped): the address
   * is the one the child prints ("Debugger listening on ws://…"). Rejects after `timeoutMs`.
   */
  static async attach(child: ChildProcess, timeoutMs = 30_000): Promise<HeapSampler> {
    const url = await inspectorUrl(child, timeoutMs);
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => {
        resolve();
      });
      socket.addEventListener('error', () => {
        reject(new Error(`inspector: could not connect to ${url}`));
      });
    });
    return new HeapSampler(socket);
  }

  /** Starts sampling (a sample every `intervalBytes` allocated, on average), then lets the process run. */
  async start(intervalBytes = 64 * 1024): Promise<void> {
    await this.#call('HeapProfiler.enable');
    await this.#call('HeapProfiler.startSampling', { samplingInterval: intervalBytes });
    await this.#call('Runtime.runIfWaitingForDebugger');
  }

  /** The samples of what is alive now, by allocating stack (the profile `--heap-prof` would write). */
  async take(): Promise<HeapProfile> {
    const result = (await this.#call('HeapProfiler.getSamplingProfile')) as { profile: HeapProfile };
    return result.profile;
  }

  close(): void {
    this.#socket.close();
  }

  #call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }
}

/** The inspector's WebSocket address, read from what the child prints on stderr when it listens. */
function inspectorUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  const stderr = child.stderr;
  if (!stderr) return Promise.reject(new Error('inspector: the child has no stderr pipe to read'));
  return new Promise((resolve, reject) => {
    let seen = '';
    const done = (error?: Error, url?: string) => {
      clearTimeout(timer);
      stderr.off('data', onData);
      child.off('exit', onExit);
      if (url !== undefined) resolve(url);
      else reject(error ?? new Error('inspector: no address'));
    };
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-4096);
      const match = /Debugger listening on (ws:\/\/\S+)/.exec(seen);
      if (match?.[1] !== undefined) done(undefined, match[1]);
    };
    const onExit = (code: number | null) => {
      done(new Error(`inspector: the process exited (${String(code)}) before it listened`));
    };
    const timer = setTimeout(() => {
      done(new Error(`inspector: no "Debugger listening" line within ${String(timeoutMs)} ms`));
    }, timeoutMs);
    stderr.on('data', onData);
    child.on('exit', onExit);
  });
}
