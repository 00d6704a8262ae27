// The CLI's client of the server's pipeline routes (docs/pipelines.md, "The API"): Pipelines, runs,
// their logs (a page, or followed as server-sent events, resumed after a dropped connection from the
// last line seen), runs by hand, cancel and re-run.
import { CapstanError } from '../core/errors.ts';
import type { PipelineInfo, PipelineRunBody, RunView } from '../contracts/server-api.ts';
import type { RunLogLine } from '../ports/store.ts';
import { answer, send, type ServerClient } from './server-client.ts';

const PIPELINE = { notFound: 'PIPELINE_NOT_FOUND' } as const;
const RUN = { notFound: 'PIPELINE_RUN_NOT_FOUND' } as const;
/** Reconnections of a followed log in a row without a new line before giving up. */
const FOLLOW_RETRIES = 5;

const pipelinePath = (namespace: string, name: string) =>
  `/api/v1/pipelines/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
const runPath = (id: string) => `/api/v1/runs/${encodeURIComponent(id)}`;

export interface RunFilter {
  readonly namespace?: string;
  readonly pipeline?: string;
  readonly phase?: string;
  readonly branch?: string;
  /** At most this many runs, newest first. */
  readonly limit: number;
}

export interface RunRequested {
  readonly pipeline: string;
  readonly request: string;
  readonly ref?: string;
  readonly revision?: string;
  readonly by: string;
}

export class PipelineClient {
  readonly #client: ServerClient;

  constructor(client: ServerClient) {
    this.#client = client;
  }

  async pipelines(namespace: string | undefined): Promise<PipelineInfo[]> {
    const query = namespace === undefined ? '' : `?${new URLSearchParams({ namespace }).toString()}`;
    return (await this.#client.json<{ items: PipelineInfo[] }>('GET', `/api/v1/pipelines${query}`)).items;
  }

  pipeline(namespace: string, name: string): Promise<PipelineInfo> {
    return this.#client.json('GET', pipelinePath(namespace, name), undefined, PIPELINE);
  }

  /** Runs, newest first, page after page until `limit`. */
  async runs(filter: RunFilter): Promise<RunView[]> {
    const items: RunView[] = [];
    let before: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(Math.min(500, filter.limit - items.length)) });
      for (const key of ['namespace', 'pipeline', 'phase', 'branch'] as const) {
        const value = filter[key];
        if (value !== undefined) query.set(key, value);
      }
      if (before !== undefined) query.set('before', before);
      const page = await this.#client.json<{ items: RunView[]; nextCursor?: string }>(
        'GET',
        `/api/v1/runs?${query.toString()}`,
      );
      items.push(...page.items);
      before = page.nextCursor;
    } while (before !== undefined && items.length < filter.limit);
    return items;
  }

  run(id: string): Promise<RunView> {
    return this.#client.json('GET', runPath(id), undefined, RUN);
  }

  /** Every line of a run so far (page after page). */
  async logs(id: string, step: string | undefined): Promise<RunLogLine[]> {
    const lines: RunLogLine[] = [];
    for (;;) {
      const query = new URLSearchParams({ after: String(lines.at(-1)?.seq ?? 0) });
      if (step !== undefined) query.set('step', step);
      const page = await this.#client.json<{ lines: RunLogLine[] }>(
        'GET',
        `${runPath(id)}/logs?${query.toString()}`,
        undefined,
        RUN,
      );
      if (page.lines.length === 0) return lines;
      lines.push(...page.lines);
    }
  }

  /**
   * Follows a run's log until it ends: each line to `onLine` as the server sends it; answers the run's
   * phase. A dropped connection is resumed from the last line seen (Last-Event-ID).
   */
  async follow(
    id: string,
    options: { readonly step?: string; readonly onLine: (line: RunLogLine) => void },
  ): Promise<string> {
    let last = 0;
    let failures = 0;
    for (;;) {
      const query = new URLSearchParams({ follow: 'true' });
      if (options.step !== undefined) query.set('step', options.step);
      const path = `${runPath(id)}/logs?${query.toString()}`;
      const headers = { ...this.#client.headers('GET'), 'last-event-id': String(last) };
      const response = await send(this.#client.login.server, 'GET', path, { headers });
      if (!response.ok) await answer(response, `GET ${path}`, RUN.notFound);
      const outcome = await readEvents(response, (line) => {
        last = line.seq;
        failures = 0;
        options.onLine(line);
      }).catch(() => undefined);
      if (outcome !== undefined) return outcome;
      failures += 1;
      if (failures > FOLLOW_RETRIES)
        throw new CapstanError(
          'SERVER_UNREACHABLE',
          `the log stream of run ${id} broke ${String(FOLLOW_RETRIES)} times in a row: run capstan pipeline logs ${id} -f again`,
          { retryable: true },
        );
    }
  }

  requestRun(namespace: string, name: string, body: PipelineRunBody): Promise<RunRequested> {
    return this.#client.json('POST', `${pipelinePath(namespace, name)}/runs`, body, PIPELINE);
  }

  cancel(id: string): Promise<RunView> {
    return this.#client.json('POST', `${runPath(id)}/cancel`, {}, RUN);
  }

  rerun(id: string): Promise<RunView> {
    return this.#client.json('POST', `${runPath(id)}/rerun`, {}, RUN);
  }

  approve(id: string): Promise<RunView> {
    return this.#client.json('POST', `${runPath(id)}/approve`, {}, RUN);
  }

  revoke(namespace: string, name: string, login: string): Promise<{ revoked: string }> {
    return this.#client.json(
      'DELETE',
      `${pipelinePath(namespace, name)}/approved-authors/${encodeURIComponent(login)}`,
      undefined,
      PIPELINE,
    );
  }
}

/** Reads server-sent events: `line` events to `onLine`; answers the phase of `end`, or undefined when the stream broke first. */
async function readEvents(
  response: Response,
  onLine: (line: RunLogLine) => void,
): Promise<string | undefined> {
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (reader === undefined) return undefined;
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return undefined;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event.type === 'line') onLine(JSON.parse(event.data) as RunLogLine);
      if (event.type === 'end') {
        await reader.cancel();
        return (JSON.parse(event.data) as { phase?: string }).phase ?? 'Unknown';
      }
      end = buffer.indexOf('\n\n');
    }
  }
}

export function parseEvent(block: string): { type: string; data: string } {
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  return { type, data: data.join('\n') };
}
