// A Pipeline's status write that fails is retried with backoff (StatusWriter, used by the pipeline
// controller): written once the API server answers again, never an older status over a newer one, and
// no retry after stop(). The waits are a FakeClock's: the test moves time when a retry waits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogLine } from '../../../src/ports/logger.ts';
import { StatusWriter, unrefSleep } from '../../../src/pipelines/status-writer.ts';
import { eventually } from '../../../src/testing/eventually.ts';
import { FakeClock } from '../../../src/testing/fake-clock.ts';

interface Status {
  readonly run: string;
}

/** An API server that refuses the first `failures` writes, then takes them. */
function apiServer(failures: number) {
  const written: string[] = [];
  const attempts: string[] = [];
  let left = failures;
  return {
    written,
    attempts,
    write: (_namespace: string, _name: string, status: Status): Promise<void> => {
      attempts.push(status.run);
      if (left > 0) {
        left--;
        return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
      }
      written.push(status.run);
      return Promise.resolve();
    },
  };
}

function setup(failures: number, retries?: number) {
  const clock = new FakeClock();
  const server = apiServer(failures);
  const logs: LogLine[] = [];
  const writer = new StatusWriter<Status>({
    kind: 'Pipeline',
    write: server.write,
    sleep: (ms, signal) => clock.sleep(ms, signal),
    log: (line) => logs.push(line),
    ...(retries === undefined ? {} : { retry: { retries } }),
  });
  /** Moves time by the retry's delay once a retry waits for it. */
  const nextRetry = async (ms: number) => {
    await eventually(() => clock.pending === 1, { what: 'a retry waiting' });
    await clock.advance(ms);
  };
  return { clock, server, logs, writer, nextRetry };
}

const latest = (run: string, current: { run: string }) => () => Promise.resolve(current.run === run);

describe('status writes retried', () => {
  it('a write that fails twice is written at the third attempt, after 1 s then 2 s, each failure logged', async () => {
    const { server, logs, writer, nextRetry } = setup(2);
    const current = { run: 'r1' };
    assert.equal(await writer.write('team-a', 'web', { run: 'r1' }, latest('r1', current)), false);
    await nextRetry(1_000);
    await nextRetry(2_000);
    await eventually(() => server.written.length === 1, { what: 'the status written' });
    assert.deepEqual(server.written, ['r1']);
    assert.deepEqual(server.attempts, ['r1', 'r1', 'r1']);
    const failures = logs.filter((l) => l.msg === 'Pipeline status not written');
    assert.deepEqual(
      failures.map((l) => [l['pipeline'], l['retry'], l['retryInMs'], l['error']]),
      [
        ['team-a/web', 1, 1_000, 'connect ECONNREFUSED 127.0.0.1:6443'],
        ['team-a/web', 2, 2_000, 'connect ECONNREFUSED 127.0.0.1:6443'],
      ],
    );
    assert.ok(logs.some((l) => l.msg === 'Pipeline status written' && l.level === 'info'));
    await eventually(() => writer.pending === 0, { what: 'no retry left' });
  });

  it('a newer status written meanwhile cancels the older retry: the older never overwrites it', async () => {
    const { clock, server, writer } = setup(1);
    const current = { run: 'r1' };
    await writer.write('team-a', 'web', { run: 'r1' }, latest('r1', current));
    await eventually(() => clock.pending === 1, { what: 'the retry of r1 waiting' });
    current.run = 'r2';
    assert.equal(await writer.write('team-a', 'web', { run: 'r2' }, latest('r2', current)), true);
    await eventually(() => writer.pending === 0, { what: "r1's retry cancelled" });
    await clock.advance(600_000);
    assert.deepEqual(server.written, ['r2']);
    assert.deepEqual(server.attempts, ['r1', 'r2']);
  });

  it('a retry whose run is no longer the latest (a newer run, its status not written yet) writes nothing', async () => {
    const { server, logs, writer, nextRetry } = setup(1);
    const current = { run: 'r1' };
    await writer.write('team-a', 'web', { run: 'r1' }, latest('r1', current));
    current.run = 'r2';
    await nextRetry(1_000);
    await eventually(() => writer.pending === 0, { what: 'the retry ended' });
    assert.deepEqual(server.attempts, ['r1']);
    assert.deepEqual(server.written, []);
    assert.ok(logs.some((l) => l.msg === 'Pipeline status not retried: a newer one replaced it'));
  });

  it('stop() cancels the retries that wait; a write after it is not retried', async () => {
    const { clock, server, logs, writer } = setup(5);
    const current = { run: 'r1' };
    await writer.write('team-a', 'web', { run: 'r1' }, latest('r1', current));
    await writer.write('team-a', 'api', { run: 'r1' }, latest('r1', current));
    await eventually(() => clock.pending === 2, { what: 'two retries waiting' });
    await writer.stop();
    assert.equal(writer.pending, 0);
    assert.equal(clock.pending, 0, 'the waits ended');
    assert.equal(await writer.write('team-a', 'web', { run: 'r1' }, latest('r1', current)), false);
    assert.equal(writer.pending, 0);
    await clock.advance(600_000);
    assert.deepEqual(server.attempts, ['r1', 'r1', 'r1']);
    assert.ok(logs.some((l) => l.msg === 'Pipeline status not written; not retried: stopping'));
  });

  it('gives up after the last retry, with a line that says so', async () => {
    const { server, logs, writer, nextRetry } = setup(100, 2);
    await writer.write('team-a', 'web', { run: 'r1' }, () => Promise.resolve(true));
    await nextRetry(1_000);
    await nextRetry(2_000);
    await eventually(() => writer.pending === 0, { what: 'the retries ended' });
    assert.equal(server.attempts.length, 3);
    const last = logs.at(-1);
    assert.ok(last);
    assert.equal(last.msg, 'Pipeline status not written; given up');
    assert.equal(last.level, 'error');
    assert.equal(last['retries'], 2);
  });

  it('the default wait ends when its signal aborts, and does not hold the process open', async () => {
    const cancel = new AbortController();
    const waiting = unrefSleep(3_600_000, cancel.signal);
    cancel.abort();
    await waiting;
    // A child whose only work is an hour's wait exits at once (its timer is unref'd).
    const { execFile } = await import('node:child_process');
    const url = new URL('../../../src/pipelines/status-writer.ts', import.meta.url).href;
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, [
        '--input-type=module',
        '-e',
        `import { unrefSleep } from ${JSON.stringify(url)}; void unrefSleep(3_600_000, new AbortController().signal);`,
      ]);
      child.on('exit', resolve);
    });
    assert.equal(code, 0);
  });
});
