import type { RenderLimits } from '../../ports/renderer.ts';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject, ParseLimits } from '../../core/manifest.ts';
import type { ConfinedPath } from './confine.ts';
import type { Sandbox, SandboxAccess } from './sandbox.ts';

/** What every renderer gets: where to read, the bounds, and when to stop. */
export interface RenderContext {
  /** Real path of the checkout: nothing outside it is read. */
  readonly root: string;
  /** The folder to render, inside root. */
  readonly folder: ConfinedPath;
  readonly limits: RenderLimits;
  /** `Date.now()` value after which the render fails with RENDER_TIMEOUT. */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  /** A private, empty folder for this render (tool homes, inline values); removed afterwards. */
  readonly scratch: string;
  /** Where the tools run: they see only the checkout and the scratch folder. */
  readonly sandbox: Sandbox;
  /** Parses manifests off the event loop (parse-pool.ts), within the render's time limit. */
  readonly parse: (text: string, file: string, limits: ParseLimits) => Promise<ParsedObject[]>;
  /** Records a warning for the render's result (RenderResult.warnings). */
  readonly warn: (message: string) => void;
}

/** What a tool of this render may touch: the checkout read-only, the scratch folder, and the network only when asked. */
export function renderAccess(context: RenderContext, options: { network: boolean }): SandboxAccess {
  return { readOnly: [context.root], writable: [context.scratch], network: options.network };
}

/** Throws when the render was cancelled or ran out of time; returns the milliseconds left. */
export function checkpoint(context: RenderContext): number {
  if (context.signal?.aborted) {
    throw new CapstanError('RENDER_CANCELLED', `rendering ${context.folder.relative} was cancelled`, {
      subject: context.folder.relative,
      retryable: true,
      cause: context.signal.reason,
    });
  }
  const left = context.deadline - Date.now();
  if (left <= 0) throw timeoutError(context.folder.relative, context.limits.timeoutMs);
  return left;
}

/**
 * The render ran out of time. One message whatever was running when it did (the renderer's own steps,
 * a tool, a parse): it names the render and its time limit, and what was stopped in parentheses, so
 * that the moment the time ran out (a loaded machine, a slow sandbox start) does not change its words.
 */
export function timeoutError(subject: string, timeoutMs: number, stopped?: string): CapstanError {
  return new CapstanError(
    'RENDER_TIMEOUT',
    `rendering ${subject} did not finish within ${timeoutMs} ms${stopped ? ` (${stopped})` : ''}; it may succeed on a retry, or raise the render time limit`,
    { subject, retryable: true },
  );
}

/** Network proxies that go nowhere: an HTTP(S) request by a tool fails at once instead of leaving. */
export const NO_NETWORK: Readonly<Record<string, string>> = {
  HTTP_PROXY: 'http://127.0.0.1:9',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  ALL_PROXY: 'http://127.0.0.1:9',
  http_proxy: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  all_proxy: 'http://127.0.0.1:9',
  NO_PROXY: '',
  no_proxy: '',
};
