import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeInventory,
  encodeInventory,
  hookLedgerEntry,
  inventoryBelongsTo,
  leftBehind,
  makeInventory,
  migratedInventory,
  sameInventory,
} from '../../../src/core/inventory.ts';
import {
  ownerOf,
  ownershipOf,
  pruneDecision,
  trackingId,
  withOwnershipMarks,
} from '../../../src/core/ownership.ts';
import type { KubeObject, ResourceId } from '../../../src/core/resource.ts';
import { formatId, idOf, keyOf, parseKey } from '../../../src/core/resource.ts';

const id: ResourceId = { group: 'apps', kind: 'Deployment', namespace: 'web', name: 'api' };
const deployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'api', namespace: 'web', labels: { app: 'api' } },
};

describe('resource identity', () => {
  it('ignores the API version and prints Kind/namespace/name', () => {
    assert.deepEqual(idOf({ ...deployment, apiVersion: 'apps/v1beta2' }), id);
    assert.equal(formatId(id), 'Deployment/web/api');
    assert.equal(formatId({ group: '', kind: 'Namespace', namespace: '', name: 'web' }), 'Namespace/web');
    assert.deepEqual(parseKey(keyOf(id)), id);
  });
});

describe('ownership marks', () => {
  it('adds the tracking id and label without changing the input', () => {
    const marked = withOwnershipMarks(deployment, { name: 'shop' }, id);
    assert.equal(marked.metadata.annotations?.['capstan.dev/tracking-id'], 'shop:apps/Deployment/web/api');
    assert.equal(marked.metadata.labels?.['capstan.dev/application'], 'shop');
    assert.equal(marked.metadata.labels['app'], 'api');
    assert.equal(deployment.metadata.annotations, undefined);
    assert.equal(ownerOf(marked), 'shop');
    assert.equal(ownerOf(deployment), undefined);
  });

  const live = (
    annotations: Record<string, string>,
    extra: Partial<KubeObject['metadata']> = {},
  ): KubeObject => ({
    ...deployment,
    metadata: { ...deployment.metadata, annotations, ...extra },
  });
  for (const [name, object, expected] of [
    ['owned', live({ 'capstan.dev/tracking-id': trackingId('shop', id) }), true],
    ['made by someone else', live({}), false],
    ['owned by another application', live({ 'capstan.dev/tracking-id': trackingId('other', id) }), false],
    [
      'copied from another identity',
      live({ 'capstan.dev/tracking-id': trackingId('shop', { ...id, namespace: 'old' }) }),
      false,
    ],
    [
      'annotated to be kept',
      live({ 'capstan.dev/tracking-id': trackingId('shop', id), 'capstan.dev/prune': 'disabled' }),
      false,
    ],
    [
      'already being deleted',
      live(
        { 'capstan.dev/tracking-id': trackingId('shop', id) },
        { deletionTimestamp: '2026-01-01T00:00:00Z' },
      ),
      false,
    ],
  ] as const) {
    it(`prunes an object ${name}: ${String(expected)}`, () => {
      assert.equal(pruneDecision(object, { name: 'shop' }, id).prune, expected);
    });
  }
});

describe('ownership marks naming the Application', () => {
  const owner = { name: 'team-a-web-0123456789ab', ref: { namespace: 'team-a', name: 'web' } };
  const marked = withOwnershipMarks(deployment, owner, id);
  const withAnnotations = (annotations: Record<string, string>): KubeObject => ({
    ...deployment,
    metadata: { ...deployment.metadata, annotations },
  });

  it('writes the Application beside the tracking id', () => {
    assert.equal(marked.metadata.annotations?.['capstan.dev/owner'], 'team-a/web');
    assert.deepEqual(ownershipOf(marked, owner), { kind: 'own' });
    assert.equal(pruneDecision(marked, owner, id).prune, true);
  });

  for (const [name, object, expected] of [
    ['unmarked', withAnnotations({}), 'none'],
    [
      'of another Application under the same owner name',
      withOwnershipMarks(deployment, { ...owner, ref: { namespace: 'team-a', name: 'web2' } }, id),
      'other',
    ],
    [
      'marked by capstan push under the same name (no Application)',
      withOwnershipMarks(deployment, { name: owner.name }, id),
      'other',
    ],
    [
      'marked under its legacy name',
      withAnnotations({ 'capstan.dev/tracking-id': trackingId('team-a-web', id) }),
      'legacy',
    ],
    [
      'marked under the legacy name, naming another Application',
      withAnnotations({
        'capstan.dev/tracking-id': trackingId('team-a-web', id),
        'capstan.dev/owner': 'team/a-web',
      }),
      'other',
    ],
  ] as const) {
    it(`sees an object ${name} as ${expected}, and never prunes it`, () => {
      const legacyAware = { ...owner, legacyNames: ['team-a-web'] };
      assert.equal(ownershipOf(object, legacyAware).kind, expected);
      assert.equal(pruneDecision(object, legacyAware, id).prune, false);
    });
  }

  it('says why an object under a legacy name is left alone', () => {
    const legacy = withAnnotations({ 'capstan.dev/tracking-id': trackingId('team-a-web', id) });
    const decision = pruneDecision(legacy, { ...owner, legacyNames: ['team-a-web'] }, id);
    assert.ok(!decision.prune && /earlier release \(owner 'team-a-web'\)/.test(decision.reason));
  });
});

describe('inventory owners', () => {
  const now = new Date('2026-11-28T12:00:00Z');
  const owner = { name: 'team-a-web-0123456789ab', ref: { namespace: 'team-a', name: 'web' } };
  it('records the Application and reads it back', () => {
    const inventory = makeInventory(owner.name, [id], { digest: 'd', now, owner: owner.ref });
    const decoded = decodeInventory(encodeInventory(inventory), 'here');
    assert.deepEqual(decoded.owner, { namespace: 'team-a', name: 'web' });
    assert.equal(inventoryBelongsTo(decoded, owner), true);
    assert.equal(
      inventoryBelongsTo(decoded, { ...owner, ref: { namespace: 'team-a', name: 'other' } }),
      false,
    );
    assert.equal(inventoryBelongsTo(decoded, { name: owner.name }), false);
  });

  it('refuses a damaged owner field', () => {
    const text = JSON.stringify({
      application: 'x',
      entries: [],
      digest: '',
      updatedAt: '',
      owner: { namespace: 1 },
    });
    assert.throws(() => decodeInventory(text, 'ConfigMap/x/y'), /does not have the expected fields/);
  });

  it('takes over a legacy record under the new name, entries and digest kept', () => {
    const legacy = makeInventory('team-a-web', [id], { digest: 'd1', now, revision: 'abc' });
    const migrated = migratedInventory(legacy, owner);
    assert.equal(migrated.application, owner.name);
    assert.deepEqual(migrated.owner, owner.ref);
    assert.deepEqual(migrated.entries, legacy.entries);
    assert.equal(migrated.digest, 'd1');
    assert.equal(migrated.revision, 'abc');
  });
});

describe('inventory', () => {
  const now = new Date('2026-11-28T12:00:00Z');
  it('lists what left the desired state', () => {
    const previous = makeInventory('shop', [id, { ...id, name: 'old' }], {
      digest: 'sha256:x',
      now,
      revision: 'abc',
    });
    assert.deepEqual(leftBehind(previous, [id]), [{ ...id, name: 'old' }]);
    assert.deepEqual(leftBehind(undefined, [id]), []);
  });

  it('compares records by what they say, not by when they were written', () => {
    const base = makeInventory('shop', [id], { digest: 'sha256:x', now, revision: 'abc' });
    const later = new Date('2026-11-28T12:30:00Z');
    assert.ok(
      sameInventory(base, makeInventory('shop', [id], { digest: 'sha256:x', now: later, revision: 'abc' })),
    );
    const differing = [
      makeInventory('shop', [id], { digest: 'sha256:y', now, revision: 'abc' }),
      makeInventory('shop', [id], { digest: 'sha256:x', now, revision: 'def' }),
      makeInventory('shop', [id], { digest: 'sha256:x', now }),
      makeInventory('shop', [id, { ...id, name: 'b' }], { digest: 'sha256:x', now, revision: 'abc' }),
      makeInventory('cart', [id], { digest: 'sha256:x', now, revision: 'abc' }),
      { ...base, hooks: { digest: 'sha256:x', completed: [hookLedgerEntry('PreSync', id)] } },
    ];
    for (const other of differing) {
      assert.equal(sameInventory(base, other), false, JSON.stringify(other));
      assert.equal(sameInventory(other, base), false, JSON.stringify(other));
    }
    const ledger = { digest: 'sha256:y', completed: [hookLedgerEntry('PreSync', id)] };
    assert.ok(sameInventory({ ...base, hooks: ledger }, { ...base, hooks: { ...ledger } }));
    assert.equal(
      sameInventory({ ...base, hooks: ledger }, { ...base, hooks: { ...ledger, digest: 'sha256:z' } }),
      false,
    );
  });

  it('round-trips, and refuses a damaged record instead of reading it as empty', () => {
    const inventory = makeInventory('shop', [id, id], { digest: 'sha256:x', now });
    assert.equal(inventory.entries.length, 1);
    assert.deepEqual(decodeInventory(encodeInventory(inventory), 'ConfigMap/capstan-system/x'), inventory);
    assert.throws(
      () => decodeInventory('{not json', 'ConfigMap/capstan-system/x'),
      /ConfigMap\/capstan-system\/x is not valid JSON/,
    );
    assert.throws(
      () =>
        decodeInventory(
          '{"application":"shop","entries":["../../etc"],"digest":"d","updatedAt":"t"}',
          'here',
        ),
      /does not have the expected fields/,
    );
  });

  it('keeps the ledger of completed hooks, and refuses a damaged one', () => {
    const job: ResourceId = { group: 'batch', kind: 'Job', namespace: 'web', name: 'migrate' };
    assert.equal(hookLedgerEntry('PreSync', job), 'PreSync:batch/Job/web/migrate');
    const inventory = {
      ...makeInventory('shop', [id], { digest: 'sha256:old', now }),
      hooks: { digest: 'sha256:new', completed: [hookLedgerEntry('PreSync', job)] },
    };
    assert.deepEqual(decodeInventory(encodeInventory(inventory), 'here'), inventory);
    for (const hooks of [
      { digest: 'sha256:new', completed: ['Later:batch/Job/web/migrate'] },
      { digest: 'sha256:new', completed: ['PreSync:../../etc'] },
      { digest: 1, completed: [] },
      { digest: 'sha256:new' },
      null,
    ]) {
      assert.throws(
        () => decodeInventory(JSON.stringify({ ...inventory, hooks }), 'here'),
        /here does not have the expected fields/,
        JSON.stringify(hooks),
      );
    }
  });
});
