// Parsing off the event loop (src/adapters/render/parse-pool.ts), with real worker threads.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ParsePool } from '../../../src/adapters/render/parse-pool.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import { eventually } from '../../../src/testing/eventually.ts';

const LIMITS = { maxAliases: 100, maxObjects: 100_000, maxBytes: 50 * 1024 * 1024 };
const RUN = { timeoutMs: 60_000, limitMs: 60_000, subject: 'apps' };

describe('ParsePool', () => {
  const pool = new ParsePool({ size: 2 });
  after(() => pool.close());

  it('parses a small file in this thread (no worker started), objects and their sources as the parser gives them', async () => {
    const objects = await pool.parse(
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n',
      'apps/a.yaml',
      LIMITS,
      RUN,
    );
    assert.deepEqual(
      objects.map(
        (o) => `${o.object.kind}/${o.object.metadata.name ?? ''} @ ${o.source.file}:${o.source.line}`,
      ),
      ['ConfigMap/a @ apps/a.yaml:1', 'Namespace/b @ apps/a.yaml:6'],
    );
    assert.equal(pool.threads, 0);
  });

  it('gives a small file’s parse error and a cancelled small parse as the worker would', async () => {
    await assert.rejects(
      pool.parse('a: [1,\n', 'apps/bad.yaml', LIMITS, RUN),
      (error: unknown) =>
        error instanceof CapstanError &&
        error.code === 'RENDER_PARSE' &&
        error.subject === 'apps/bad.yaml:2:1',
    );
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(
      pool.parse('a: 1\n', 'apps/a.yaml', LIMITS, { ...RUN, signal: stop.signal }),
      (error: unknown) => error instanceof CapstanError && error.code === 'RENDER_CANCELLED',
    );
  });

  it('parses a large file in a worker, which stops once it has been idle for idleMs', async () => {
    const idle = new ParsePool({ size: 1, idleMs: 20 });
    const docs = Array.from(
      { length: 2000 },
      (_, i) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n${i}\n`,
    );
    const objects = await idle.parse(docs.join('---\n'), 'many.yaml', LIMITS, RUN);
    assert.equal(objects.length, 2000);
    assert.equal(idle.threads, 1, 'the worker is kept for the next job');
    await eventually(() => idle.threads === 0, { timeoutMs: 10_000, what: 'the idle worker stopped' });
    await idle.close();
  });

  it('gives back the parser’s error with its code and subject: a 5 MB [[[[ file is refused, naming it', async () => {
    const error = await pool.parse('['.repeat(5 * 1024 * 1024), 'apps/deep/deep.yaml', LIMITS, RUN).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof CapstanError);
    assert.equal(error.code, 'RENDER_TOO_DEEP');
    assert.equal(error.subject, 'apps/deep/deep.yaml');
    assert.match(error.message, /^apps\/deep\/deep\.yaml:1:200: nests more than 200 levels deep/);
  });

  it('keeps the event loop free while a large file is parsed', async () => {
    const docs = Array.from(
      { length: 3000 },
      (_, i) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c${i}\ndata:\n  k: "${'v'.repeat(40)}"\n`,
    ).join('---\n');
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 1);
    const objects = await pool.parse(docs, 'big.yaml', LIMITS, RUN);
    clearInterval(timer);
    assert.equal(objects.length, 3000);
    assert.ok(ticks > 0, 'timers ran on the event loop during the parse');
  });

  it('stops a parse that is cancelled, and the next job gets a fresh worker', async () => {
    const stop = new AbortController();
    const big = Array.from({ length: 50_000 }, (_, i) => `- item${i}: [a, b, c]`).join('\n');
    const pending = pool.parse(`apiVersion: v1\nkind: List\nitems:\n${big}`, 'slow.yaml', LIMITS, {
      ...RUN,
      signal: stop.signal,
    });
    stop.abort();
    await assert.rejects(
      pending,
      (error: unknown) => error instanceof CapstanError && error.code === 'RENDER_CANCELLED',
    );
    const objects = await pool.parse(
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: after\n',
      'n.yaml',
      LIMITS,
      RUN,
    );
    assert.equal(objects[0]?.object.metadata.name, 'after');
  });
});
