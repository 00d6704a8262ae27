import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseSyncRequest,
  requestTime,
  SYNC_REQUEST_MAX_LENGTH,
  syncRequestValue,
  type Application,
} from '../../../src/contracts/application.ts';
import { selectionOf } from '../../../src/cli/commands/app-common.ts';
import { syncFlags } from '../../../src/cli/commands/app.ts';
import { UsageError } from '../../../src/cli/output.ts';

describe('the sync request annotation', () => {
  const cases = [
    { request: { id: '1767225600000' }, value: '1767225600000' },
    { request: { id: '1767225600000', prune: true }, value: '1767225600000;prune' },
    { request: { id: '1767225600000', prune: false }, value: '1767225600000;prune=false' },
    { request: { id: 'by-hand' }, value: 'by-hand' },
    {
      request: {
        id: '1767225600000',
        resources: [{ group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' }],
      },
      value: '1767225600000;resources=apps/Deployment/prod/web',
    },
    {
      request: {
        id: '1767225600000',
        prune: false,
        resources: [
          { group: '', kind: 'ConfigMap', namespace: '', name: 'settings' },
          { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' },
        ],
      },
      value: '1767225600000;prune=false;resources=/ConfigMap//settings,apps/Deployment/prod/web',
    },
    {
      // With prune: the selected resources that left the render are pruned (and nothing else).
      request: {
        id: '1767225600000',
        prune: true,
        resources: [{ group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'old' }],
      },
      value: '1767225600000;prune;resources=apps/Deployment/prod/old',
    },
  ];
  for (const { request, value } of cases)
    it(`writes ${JSON.stringify(request)} as '${value}' and reads it back`, () => {
      assert.equal(syncRequestValue(request), value);
      assert.deepEqual(parseSyncRequest(value), request);
    });

  it('reads an unknown option as part of the id (a plain sync), and keeps the request time', () => {
    assert.deepEqual(parseSyncRequest('1767225600000;force'), { id: '1767225600000;force' });
    assert.equal(requestTime('1767225600000;prune'), 1767225600000);
  });

  it('refuses an id with a separator', () => {
    assert.throws(() => syncRequestValue({ id: 'a;b', prune: true }), RangeError);
  });

  it('refuses an empty selection and a request too long to record', () => {
    assert.throws(() => syncRequestValue({ id: '1', resources: [] }), /one resource at least/);
    const web = { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' };
    const many = Array.from({ length: 200 }, (_, i) => ({ ...web, name: `${'w'.repeat(200)}-${i}` }));
    assert.throws(
      () => syncRequestValue({ id: '1', resources: many }),
      new RegExp(`more than ${SYNC_REQUEST_MAX_LENGTH}: select fewer resources`),
    );
  });

  it('reads a malformed selection as part of the id (a plain sync), never as another selection', () => {
    assert.deepEqual(parseSyncRequest('1;resources=apps/Deployment/web'), {
      id: '1;resources=apps/Deployment/web',
    });
    assert.deepEqual(parseSyncRequest('1;resources=/ConfigMap//a;prune'), {
      id: '1;resources=/ConfigMap//a',
      prune: true,
    });
  });
});

describe('capstan app sync flags', () => {
  it('takes --prune, --no-prune and --dry-run on sync, refuses both prune flags, and reads none on another command', () => {
    assert.deepEqual(syncFlags('sync', { prune: true }), { prune: true });
    assert.deepEqual(syncFlags('sync', { 'no-prune': true, 'dry-run': true }), {
      prune: false,
      dryRun: true,
    });
    assert.deepEqual(syncFlags('sync', {}), {});
    assert.throws(() => syncFlags('sync', { prune: true, 'no-prune': true }), UsageError);
    assert.deepEqual(syncFlags('refresh', {}), {});
  });

  it('takes --resource, repeatable, with --prune or --no-prune', () => {
    assert.deepEqual(syncFlags('sync', { resource: ['Deployment/web', '/ConfigMap/a'], 'no-prune': true }), {
      prune: false,
      resources: ['Deployment/web', '/ConfigMap/a'],
    });
    assert.deepEqual(syncFlags('sync', { prune: true, resource: ['Deployment/web'] }), {
      prune: true,
      resources: ['Deployment/web'],
    });
  });

  it("finds a group left out among the application's resources, and says what to give when it cannot", () => {
    const app = {
      metadata: { name: 'web', namespace: 'team' },
      spec: {},
      status: {
        resources: [
          { group: 'apps', kind: 'Deployment', namespace: 'prod', name: 'web' },
          { group: '', kind: 'ConfigMap', namespace: 'prod', name: 'web' },
          { group: 'example.com', kind: 'Widget', namespace: 'prod', name: 'w' },
          { group: 'other.example.com', kind: 'Widget', namespace: 'prod', name: 'w' },
        ],
      },
    } as unknown as Application;
    assert.deepEqual(
      selectionOf(app, ['Deployment/web', 'ConfigMap/prod/web', 'example.com/Widget/prod/w']),
      [
        { group: 'apps', kind: 'Deployment', namespace: '', name: 'web' },
        { group: '', kind: 'ConfigMap', namespace: 'prod', name: 'web' },
        { group: 'example.com', kind: 'Widget', namespace: 'prod', name: 'w' },
      ],
    );
    assert.throws(
      () => selectionOf(app, ['Deployment/api']),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(
          error.message,
          /no Deployment named 'api' among the resources of application 'web'.*GROUP\/Deployment\/api/,
        );
        return true;
      },
    );
    assert.throws(() => selectionOf(app, ['Widget/w']), /in 2 groups \(example.com, other.example.com\)/);
    assert.throws(() => selectionOf(app, ['web']), UsageError);
  });
});
