import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../../../src/contracts/project.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { ProjectIndex } from '../../../src/server/project-index.ts';

const project = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: PROJECT_API_VERSION,
  kind: PROJECT_KIND,
  metadata: { name, resourceVersion: '1' },
  spec,
});

describe('ProjectIndex', () => {
  it('keeps a project’s roles and its rules with the defaults applied, without ServiceAccounts', () => {
    const index = new ProjectIndex();
    index.handle({
      type: 'ADDED',
      object: project('shop', {
        description: 'the shop',
        applicationNamespaces: ['shop-*'],
        destinations: [
          { cluster: 'in-cluster', namespace: 'shop', serviceAccount: { name: 'shop-deployer' } },
          { cluster: 'prod-*', namespace: 'shop' },
        ],
        roles: [{ name: 'viewer', groups: ['everyone'] }],
      }),
    });
    const shop = index.get('shop');
    assert.deepEqual(shop, {
      name: 'shop',
      description: 'the shop',
      roles: [{ name: 'viewer', groups: ['everyone'] }],
      rules: {
        applicationNamespaces: ['shop-*'],
        sourceRepos: ['**'],
        destinations: [
          { cluster: 'in-cluster', namespace: 'shop' },
          { cluster: 'prod-*', namespace: 'shop' },
        ],
      },
    });
    assert.doesNotMatch(JSON.stringify(shop), /shop-deployer/);
  });

  it('drops a project that fails validation and reports it', () => {
    const invalid: string[][] = [];
    const index = new ProjectIndex({ onInvalid: (_object, errors) => invalid.push([...errors]) });
    index.handle({ type: 'ADDED', object: project('bad', { destinations: 'everywhere' }) });
    assert.equal(index.get('bad'), undefined);
    assert.equal(invalid.length, 1);
    assert.match(invalid[0]?.join('\n') ?? '', /destinations/);
  });
});
