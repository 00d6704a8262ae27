import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argoCdWarnings, ignoresExtraneous, objectSyncOptions } from '../../../src/core/argocd.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

const obj = (annotations: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'ns', annotations },
});

describe("Argo CD's per-object options", () => {
  it('reads sync-options as Argo CD documents them', () => {
    const options = (value: string) => objectSyncOptions(obj({ 'argocd.argoproj.io/sync-options': value }));
    const none = {
      noPrune: false,
      noDelete: false,
      replace: false,
      skipDryRunOnMissingResource: false,
      createNamespace: false,
    };
    assert.deepEqual(options('Prune=false, Delete=false,ServerSideApply=true'), {
      ...none,
      noPrune: true,
      noDelete: true,
    });
    assert.deepEqual(options('Replace=true,SkipDryRunOnMissingResource=true,CreateNamespace=true'), {
      ...none,
      replace: true,
      skipDryRunOnMissingResource: true,
      createNamespace: true,
    });
    assert.deepEqual(options('Prune=true,Delete=true,Replace=false'), none);
    assert.equal(ignoresExtraneous(obj({ 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' })), true);
    assert.equal(ignoresExtraneous(obj({})), false);
  });

  it('warns about every annotation and option it does not honour, naming it; none for those it does', () => {
    assert.deepEqual(
      argoCdWarnings(
        obj({
          'argocd.argoproj.io/sync-wave': '1',
          'argocd.argoproj.io/hook': 'PreSync',
          'argocd.argoproj.io/hook-delete-policy': 'HookSucceeded',
          'argocd.argoproj.io/sync-options':
            'Prune=false,ServerSideApply=true,Replace=true,SkipDryRunOnMissingResource=true,CreateNamespace=true',
          'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
          'example.com/other': 'x',
        }),
      ),
      [],
    );
    const warnings = argoCdWarnings(
      obj({
        'argocd.argoproj.io/manifest-generate-paths': '.',
        'argocd.argoproj.io/sync-options': 'Validate=false,Prune=true,PruneLast=true',
        'argocd.argoproj.io/compare-options': 'ServerSideDiff=true',
      }),
    );
    assert.equal(warnings.length, 5);
    assert.match(
      warnings[0] ?? '',
      /^ConfigMap\/ns\/c: the annotation argocd.argoproj.io\/manifest-generate-paths is not supported by Capstan and is ignored$/,
    );
    assert.match(
      warnings[1] ?? '',
      /the sync option Validate=false \(argocd.argoproj.io\/sync-options\) is not supported.*supported: Prune=false, Delete=false, Replace=true, SkipDryRunOnMissingResource=true, CreateNamespace=true, ServerSideApply=true$/,
    );
    assert.match(warnings[2] ?? '', /the sync option Prune=true /);
    assert.match(warnings[3] ?? '', /the sync option PruneLast=true /);
    assert.match(warnings[4] ?? '', /the compare option ServerSideDiff=true .* supported: IgnoreExtraneous$/);
  });
});
