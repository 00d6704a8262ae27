// A render that runs out of time (src/adapters/render/context.ts): one RENDER_TIMEOUT message whatever
// was running at that moment — the renderer's own steps, a tool (a real process, killed), a parse (a real
// worker thread, stopped) — naming the render's folder and its whole time limit. On a loaded machine the
// time may run out before the tool has started; the message must not depend on that.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { checkpoint, type RenderContext } from '../../../src/adapters/render/context.ts';
import { runTool } from '../../../src/adapters/render/exec.ts';
import { ParsePool } from '../../../src/adapters/render/parse-pool.ts';
import { DEFAULT_RENDER_LIMITS } from '../../../src/ports/renderer.ts';
import { CapstanError } from '../../../src/core/errors.ts';

const LIMIT_MS = 2000;
const MESSAGE =
  /^rendering apps\/web did not finish within 2000 ms( \((.+)\))?; it may succeed on a retry, or raise the render time limit$/;

/** The RENDER_TIMEOUT a promise rejects with; what was stopped (the parenthesis), or '' when nothing ran. */
async function timedOut(pending: Promise<unknown>): Promise<string> {
  const error = await pending.then(
    () => assert.fail('the render should have run out of time'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof CapstanError, String(error));
  assert.equal(error.code, 'RENDER_TIMEOUT');
  assert.equal(error.retryable, true);
  assert.equal(error.subject, 'apps/web');
  const match = MESSAGE.exec(error.message);
  assert.ok(match, error.message);
  return match[2] ?? '';
}

describe('a render out of time', () => {
  const pool = new ParsePool({ size: 1 });
  after(() => pool.close());

  it('between two steps of the renderer: names the render and its limit', async () => {
    const context = {
      folder: { relative: 'apps/web', absolute: '/checkout/apps/web' },
      limits: { ...DEFAULT_RENDER_LIMITS, timeoutMs: LIMIT_MS },
      deadline: Date.now() - 1,
      signal: undefined,
    } as unknown as RenderContext;
    assert.equal(await timedOut(Promise.resolve().then(() => checkpoint(context))), '');
  });

  it('while a tool runs: the same message, the tool named as killed', async () => {
    const stopped = await timedOut(
      runTool({
        command: '/bin/sleep',
        args: ['30'],
        cwd: tmpdir(),
        env: { PATH: '/usr/bin:/bin' },
        // What was left of the render's time when the tool started.
        timeoutMs: 1,
        render: { subject: 'apps/web', limitMs: LIMIT_MS },
        maxOutputBytes: 1000,
        description: 'helm template apps/web',
      }),
    );
    assert.equal(stopped, 'helm template apps/web was killed');
  });

  it('while a file is parsed: the same message, the parse named as stopped', async () => {
    const big = Array.from({ length: 50_000 }, (_, i) => `- item${i}: [a, b, c]`).join('\n');
    const stopped = await timedOut(
      pool.parse(
        `apiVersion: v1\nkind: List\nitems:\n${big}`,
        'apps/web/big.yaml',
        {
          maxAliases: 100,
          maxObjects: 100_000,
          maxBytes: 50 * 1024 * 1024,
        },
        { timeoutMs: 1, limitMs: LIMIT_MS, subject: 'apps/web' },
      ),
    );
    assert.equal(stopped, 'parsing apps/web/big.yaml was stopped');
  });
});
