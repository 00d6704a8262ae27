import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProjectCache } from '../../../src/controller/projects.ts';
import { effectiveProject } from '../../../src/contracts/project.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

const project = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Project',
  metadata: { name },
  spec,
});

describe('ProjectCache', () => {
  it('lists once per refresh for every lookup, and tells found, invalid and missing apart', async () => {
    let now = 0;
    let lists = 0;
    let objects = [
      project('team-a', { applicationNamespaces: ['team-a'], destinations: [] }),
      project('broken', { destinations: [] }),
    ];
    const cache = new ProjectCache({
      list: () => {
        lists += 1;
        return Promise.resolve(objects);
      },
      refreshMs: 5_000,
      now: () => now,
    });
    assert.equal((await cache.get('team-a')).kind, 'found');
    const broken = await cache.get('broken');
    assert.ok(broken.kind === 'invalid' && /applicationNamespaces: required/.test(broken.errors.join()));
    assert.equal((await cache.get('nope')).kind, 'missing');
    assert.equal(lists, 1);
    objects = [];
    now = 5_000;
    assert.equal((await cache.get('team-a')).kind, 'missing', 'a deleted Project is gone after a refresh');
    assert.equal(lists, 2);
  });

  it('does not keep a failed list', async () => {
    let fail = true;
    const cache = new ProjectCache({
      list: () => (fail ? Promise.reject(new Error('forbidden')) : Promise.resolve([])),
    });
    await assert.rejects(cache.get('x'), /forbidden/);
    fail = false;
    assert.equal((await cache.get('x')).kind, 'missing');
  });
});

describe('effectiveProject', () => {
  it('falls back to the default project only for the name default', () => {
    const fallback = effectiveProject('default', { kind: 'missing' }, 'team-a');
    assert.deepEqual(fallback.destinations, [{ cluster: 'in-cluster', namespace: 'team-a' }]);
    assert.throws(
      () => effectiveProject('team-x', { kind: 'missing' }, 'team-a'),
      (e: Error & { code?: string }) => e.code === 'PROJECT_NOT_FOUND' && /Project\/team-x/.test(e.message),
    );
    assert.throws(
      () =>
        effectiveProject('default', { kind: 'invalid', errors: ['spec.destinations: required'] }, 'team-a'),
      (e: Error & { code?: string }) =>
        e.code === 'PROJECT_INVALID' && /spec.destinations: required/.test(e.message),
    );
  });
});
