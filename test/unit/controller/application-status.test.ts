// The status patch of a reconcile: a merge patch, so what must go away is named with null.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconciledStatus, statusUnchanged } from '../../../src/controller/application-status.ts';
import type { SourceTree } from '../../../src/ports/source.ts';

const tree = {
  revision: { sha: 'a'.repeat(40), ref: 'refs/heads/main' },
  commit: {},
  dir: '/nowhere',
} as unknown as SourceTree;

const patch = (health: { status: 'Healthy' | 'Progressing'; message: string }, warnings: string[] = []) =>
  reconciledStatus({
    status: {},
    requests: {},
    tree,
    result: undefined,
    judgement: { synced: true, wrote: false, drift: [], recordHistory: false, pendingPrune: [] },
    operation: undefined,
    hold: undefined,
    healths: [],
    health,
    warnings,
  });

describe('reconciledStatus', () => {
  it('removes the previous health message when the new health has none (never Healthy with a stale message)', () => {
    assert.deepEqual(patch({ status: 'Healthy', message: '' })['health'], {
      status: 'Healthy',
      message: null,
    });
    assert.deepEqual(
      patch({ status: 'Progressing', message: 'waiting for the controller to observe generation 3' })[
        'health'
      ],
      {
        status: 'Progressing',
        message: 'waiting for the controller to observe generation 3',
      },
    );
  });

  it("keeps the render's warnings in sync.warnings (the first 20, each bounded), and removes old ones when there are none", () => {
    const healthy = { status: 'Healthy' as const, message: '' };
    const many = Array.from({ length: 25 }, (_, i) => `warning ${i}`);
    const sync = patch(healthy, [...many.slice(0, 1), 'x'.repeat(2000), ...many.slice(1)])['sync'] as {
      warnings: string[];
    };
    assert.equal(sync.warnings.length, 20);
    assert.equal(sync.warnings[0], 'warning 0');
    assert.equal(sync.warnings[1], `${'x'.repeat(1023)}…`);
    assert.equal((patch(healthy)['sync'] as { warnings: unknown }).warnings, null);
  });
});

describe('statusUnchanged', () => {
  it('reads a null inside the patch as absent: an unchanged Healthy status is not written again', () => {
    const stored = { health: { status: 'Healthy' }, sync: { status: 'Synced' } };
    assert.equal(statusUnchanged(stored, { health: { status: 'Healthy', message: null } }), true);
    assert.equal(statusUnchanged(stored, { health: { status: 'Progressing', message: null } }), false);
    const withMessage = { health: { status: 'Healthy', message: 'waiting' } };
    assert.equal(statusUnchanged(withMessage, { health: { status: 'Healthy', message: null } }), false);
    assert.equal(statusUnchanged(stored, { hold: null }), true);
    assert.equal(statusUnchanged({ ...stored, hold: {} }, { hold: null }), false);
  });

  it('records a sync of a selection as partial: which resources, a summary that says so, the digest kept', () => {
    const at = '2026-12-06T15:00:00.000Z';
    const patched = reconciledStatus({
      status: { sync: { status: 'OutOfSync', revision: 'b'.repeat(40), digest: 'sha256:before' } },
      requests: { sync: '1;resources=/ConfigMap/ns/a' },
      tree,
      result: {
        application: 'ns.app',
        phase: 'Succeeded',
        message: '1 configured',
        digest: 'sha256:whole-render',
        startedAt: at,
        finishedAt: at,
        dryRun: false,
        resources: [{ group: '', kind: 'ConfigMap', namespace: 'ns', name: 'a' }],
        entries: [
          {
            id: { group: '', kind: 'ConfigMap', namespace: 'ns', name: 'a' },
            action: 'configured',
            message: '',
            wave: 0,
          },
        ],
      },
      judgement: { synced: false, wrote: true, drift: [], recordHistory: true, pendingPrune: [] },
      operation: 'sync',
      hold: undefined,
      healths: [],
      health: { status: 'Healthy', message: '' },
      warnings: [],
    }) as {
      sync: { status: string; revision: string; digest: string };
      operation: { message: string };
      history: { resources?: string[]; summary?: string }[];
      handledRequests: Record<string, string>;
    };
    assert.equal(patched.sync.status, 'OutOfSync');
    assert.equal(patched.sync.digest, 'sha256:before', 'the desired state was not applied whole');
    assert.equal(patched.sync.revision, 'b'.repeat(40), 'nor its revision: automated sync still sees it new');
    const [recorded] = patched.history;
    assert.ok(recorded);
    assert.deepEqual(recorded.resources, ['ConfigMap/ns/a']);
    assert.match(recorded.summary ?? '', /^1 configured \(a sync of 1 selected resource: nothing else/);
    assert.match(patched.operation.message, /a sync of 1 selected resource/);
    assert.equal(patched.handledRequests['sync'], '1;resources=/ConfigMap/ns/a');
  });
});
