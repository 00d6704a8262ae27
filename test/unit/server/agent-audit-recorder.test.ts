// The catch-up of the agent's syncs into the audit trail (src/server/agent-audit-recorder.ts), on the
// real SQLite Store: the history an Application holds when a server starts is recorded once, across
// restarts and by two servers on one database; who asked is kept when the update was seen; entries past
// the retention are left out; a Store that fails is tried again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import type { Application, HistoryEntry } from '../../../src/contracts/application.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import type { AuditLog, Store } from '../../../src/ports/store.ts';
import { AgentAuditRecorder } from '../../../src/server/agent-audit-recorder.ts';
import { historyActivity } from '../../../src/server/agent-audit.ts';
import { eventually } from '../../../src/testing/eventually.ts';

const dir = mkdtempSync(join(tmpdir(), 'capstan-agent-audit-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const NOW = Date.parse('2026-03-01T00:00:00Z');

const entry = (id: number, revision: string, day = id): HistoryEntry => ({
  id,
  revision,
  startedAt: `2026-02-${String(day).padStart(2, '0')}T00:00:00Z`,
  finishedAt: `2026-02-${String(day).padStart(2, '0')}T00:01:00Z`,
  result: 'Succeeded',
  summary: '1 configured',
});
const app = (
  name: string,
  history: HistoryEntry[],
  status: Partial<Application['status']> = {},
): Application => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Application',
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: String(history.length) },
  spec: { project: 'shop', source: { repoURL: 'https://git.example.com/shop.git' } },
  status: { ...status, history },
});

const recorder = (audit: Pick<AuditLog, 'append' | 'recordedKeys'>, retryMs = 30_000) =>
  new AgentAuditRecorder({ audit, log: () => undefined, retentionDays: 90, now: () => NOW, retryMs });

async function agentEntries(store: Store): Promise<string[]> {
  const entries = await store.audit.query({ actor: 'agent', limit: 1000 });
  return entries.map((e) => `${e.target}#${String(e.changes?.['historyId'])}`).sort();
}

describe('AgentAuditRecorder', () => {
  it('records the history a server finds at start once: again after a restart, and by a second server', async () => {
    const store = openSqliteStore({ path: join(dir, `r${String(++n)}.db`) });
    const apps = [app('web', [entry(1, 'a'), entry(2, 'b')]), app('api', [entry(1, 'a')])];
    const first = recorder(store.audit);
    for (const a of apps) first.observe(undefined, a);
    first.catchUp(apps);
    await first.idle();
    const expected = ['Application/shop/api#1', 'Application/shop/web#1', 'Application/shop/web#2'];
    assert.deepEqual(await agentEntries(store), expected);
    const late = (await store.audit.query({ actor: 'agent', limit: 1 }))[0];
    assert.equal(late?.changes?.['trigger'], 'unknown');
    assert.equal(late.changes['recordedLate'], true);

    // A restart, and a second server on the same database: nothing written twice.
    for (const again of [recorder(store.audit), recorder(store.audit)]) {
      again.catchUp(apps);
      await again.idle();
    }
    assert.deepEqual(await agentEntries(store), expected);

    // A sync finished while no server ran: the next start records it alone.
    const later = [app('web', [entry(1, 'a'), entry(2, 'b'), entry(3, 'c')]), apps[1] as Application];
    const third = recorder(store.audit);
    third.catchUp(later);
    await third.idle();
    assert.deepEqual(await agentEntries(store), [...expected, 'Application/shop/web#3']);
    await store.close();
  });

  it('keeps who asked when the update is seen, and leaves out what is past the retention', async () => {
    const store = openSqliteStore({ path: join(dir, `r${String(++n)}.db`) });
    const r = recorder(store.audit);
    const before = app('web', [entry(1, 'a', 1)], { sync: { status: 'Synced', revision: 'a' } });
    r.observe(undefined, before);
    r.observe(before, app('web', [entry(1, 'a', 1), entry(2, 'b', 2)], { handledRequests: { sync: '42' } }));
    await r.idle();
    const [second] = await store.audit.query({ actor: 'agent', limit: 1 });
    assert.equal(second?.changes?.['request'], 'sync:42', 'the update names the request');
    assert.equal(second.changes['recordedLate'], undefined);

    const old = app('old', [
      { ...entry(1, 'a'), startedAt: '2025-10-01T00:00:00Z', finishedAt: '2025-10-01T00:01:00Z' },
      entry(2, 'b'),
    ]);
    r.catchUp([old]);
    await r.idle();
    assert.deepEqual(
      (await agentEntries(store)).filter((e) => e.includes('/old')),
      ['Application/shop/old#2'],
      'the entry older than 90 days is not recorded',
    );
    assert.deepEqual(historyActivity(old, 2, '2026-01-01T00:00:00Z'), [], 'none after the last id');
    // Seen in an update, an entry is recorded whatever its time says.
    const stale = { ...entry(1, 'a'), startedAt: '2025-09-01T00:00:00Z', finishedAt: '2025-09-01T00:01:00Z' };
    const fresh = app('fresh', []);
    r.observe(undefined, fresh);
    r.observe(fresh, app('fresh', [stale]));
    await r.idle();
    assert.deepEqual(
      (await agentEntries(store)).filter((e) => e.includes('/fresh')),
      ['Application/shop/fresh#1'],
    );
    await store.close();
  });

  it('writes the history of many Applications in batches of whole Applications, each entry once', async () => {
    const store = openSqliteStore({ path: join(dir, `r${String(++n)}.db`) });
    const asked: number[] = [];
    const counting: Pick<AuditLog, 'append' | 'recordedKeys'> = {
      append: (input) => store.audit.append(input),
      recordedKeys: (keys) => {
        asked.push(keys.length);
        return store.audit.recordedKeys(keys);
      },
    };
    const apps = Array.from({ length: 400 }, (_, i) =>
      app(`app-${String(i)}`, [entry(1, 'a'), entry(2, 'b'), entry(3, 'c')]),
    );
    const r = recorder(counting);
    r.catchUp(apps);
    r.catchUp(apps);
    await r.idle();
    const keys = apps.flatMap((a) => [1, 2, 3].map((id) => `agent:${a.metadata.uid ?? ''}:${String(id)}`));
    assert.equal((await store.audit.recordedKeys(keys)).size, 1200, 'every entry recorded');
    const newest = await store.audit.query({ limit: 1000 });
    const older = await store.audit.query({ limit: 1000, beforeId: newest.at(-1)?.id ?? 0 });
    assert.equal(newest.length + older.length, 1200, 'each once');
    assert.ok(asked.length >= 3, `in batches (${asked.join(', ')})`);
    assert.ok(
      asked.every((size) => size <= 500 + 20),
      'a batch holds whole Applications, about 500 entries',
    );
    await store.close();
  });

  it('tries again when the Store fails, and then records each entry once', async () => {
    const store = openSqliteStore({ path: join(dir, `r${String(++n)}.db`) });
    let failures = 1;
    const flaky: Pick<AuditLog, 'append' | 'recordedKeys'> = {
      append: (input) => store.audit.append(input),
      recordedKeys: (keys) => {
        if (failures-- > 0) return Promise.reject(new CapstanError('STORE_UNAVAILABLE', 'database down'));
        return store.audit.recordedKeys(keys);
      },
    };
    const r = recorder(flaky, 10);
    r.catchUp([app('web', [entry(1, 'a'), entry(2, 'b')])]);
    await r.idle();
    assert.deepEqual(await agentEntries(store), [], 'the first try failed');
    await eventually(async () => (await agentEntries(store)).length === 2, {
      what: 'the entries written by the retry',
    });
    await r.idle();
    assert.deepEqual(await agentEntries(store), ['Application/shop/web#1', 'Application/shop/web#2']);
    r.close();
    await store.close();
  });
});
