/**
 * The contract every ApplicationWriter passes (DESIGN.md, "Tests": one contract suite per port, run
 * against the real adapter and any fake). The fake (fake-application-writer.ts) runs it in the unit
 * tier; KubeApplicationWriter against a real API server (test/integration/application-writer.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../contracts/application.ts';
import { CapstanError, type ErrorCode } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import type { ApplicationWriter } from '../ports/application-writer.ts';

export interface ApplicationWriterHarness {
  readonly writer: ApplicationWriter;
  /** A namespace of its own, empty. */
  readonly namespace: string;
  /** The stored object, as a read of the cluster would return it; undefined when it does not exist. */
  readonly read: (namespace: string, name: string) => Promise<KubeObject | undefined>;
}

export interface ApplicationWriterContractOptions {
  /** A fresh harness for one test (`after` registers its clean-up). */
  readonly open: (t: {
    after(fn: () => Promise<void>): void;
    readonly name: string;
  }) => Promise<ApplicationWriterHarness>;
}

const FIELD_MANAGER = 'capstan-contract';

/** A valid Application (the CRD's schema accepts it). */
export function contractApplication(namespace: string, name: string, path = 'apps/web'): KubeObject {
  return {
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { name, namespace },
    spec: { source: { repoURL: 'https://git.example.com/team/config.git', path, targetRevision: 'main' } },
  };
}

async function refusedWith(action: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await action.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof CapstanError, `refused with ${code}: ${String(error)}`);
  assert.equal(error.code, code, error.message);
}

const specOf = (object: KubeObject | undefined) =>
  object?.['spec'] as { source: { path: string } } | undefined;

export function applicationWriterContract(name: string, options: ApplicationWriterContractOptions): void {
  describe(`ApplicationWriter contract: ${name}`, () => {
    applyCases(options);
    metadataCases(options);
    deleteCases(options);
  });
}

/** Server-side apply: create, update, and the optimistic lock. */
function applyCases(options: ApplicationWriterContractOptions): void {
  it('creates by apply, then updates the same object under a new resourceVersion', async (t) => {
    const { writer, namespace, read } = await options.open(t);
    const first = await writer.apply(contractApplication(namespace, 'web'), {
      fieldManager: FIELD_MANAGER,
    });
    assert.equal(first.created, true);
    assert.ok(first.object.metadata.uid);
    assert.equal(specOf(first.object)?.source.path, 'apps/web');
    const second = await writer.apply(contractApplication(namespace, 'web', 'apps/other'), {
      fieldManager: FIELD_MANAGER,
    });
    assert.equal(second.created, false);
    assert.equal(second.object.metadata.uid, first.object.metadata.uid);
    assert.notEqual(second.object.metadata.resourceVersion, first.object.metadata.resourceVersion);
    assert.equal(specOf(await read(namespace, 'web'))?.source.path, 'apps/other');
  });

  it('refuses an apply at a stale resourceVersion with KUBE_CONFLICT, changing nothing', async (t) => {
    const { writer, namespace, read } = await options.open(t);
    const { object } = await writer.apply(contractApplication(namespace, 'web'), {
      fieldManager: FIELD_MANAGER,
    });
    await writer.patchMetadata(namespace, 'web', { annotations: { touched: 'yes' } });
    const stale = contractApplication(namespace, 'web', 'apps/stale');
    stale.metadata.resourceVersion = object.metadata.resourceVersion ?? '';
    await refusedWith(writer.apply(stale, { fieldManager: FIELD_MANAGER }), 'KUBE_CONFLICT');
    assert.equal(specOf(await read(namespace, 'web'))?.source.path, 'apps/web');
  });
}

/** Metadata patches: annotations, finalizers, the resourceVersion precondition, a missing object. */
function metadataCases(options: ApplicationWriterContractOptions): void {
  it('merges annotations (null removes one) and replaces the finalizer list', async (t) => {
    const { writer, namespace, read } = await options.open(t);
    await writer.apply(contractApplication(namespace, 'web'), { fieldManager: FIELD_MANAGER });
    await writer.patchMetadata(namespace, 'web', {
      annotations: { a: '1', b: '2' },
      finalizers: ['x/one'],
    });
    const patched = await writer.patchMetadata(namespace, 'web', {
      annotations: { a: null, c: '3' },
      finalizers: ['x/two'],
    });
    const stored = await read(namespace, 'web');
    assert.ok(stored);
    for (const object of [patched, stored]) {
      assert.deepEqual(object.metadata.annotations, { b: '2', c: '3' });
      assert.deepEqual(object.metadata.finalizers, ['x/two']);
    }
    await writer.patchMetadata(namespace, 'web', { finalizers: [] });
    assert.deepEqual((await read(namespace, 'web'))?.metadata.finalizers ?? [], []);
  });

  it('patches metadata only at the resourceVersion given, else KUBE_CONFLICT', async (t) => {
    const { writer, namespace, read } = await options.open(t);
    const { object } = await writer.apply(contractApplication(namespace, 'web'), {
      fieldManager: FIELD_MANAGER,
    });
    const current = await writer.patchMetadata(namespace, 'web', {
      annotations: { step: 'one' },
      resourceVersion: object.metadata.resourceVersion ?? '',
    });
    await refusedWith(
      writer.patchMetadata(namespace, 'web', {
        annotations: { step: 'two' },
        resourceVersion: object.metadata.resourceVersion ?? '',
      }),
      'KUBE_CONFLICT',
    );
    assert.equal((await read(namespace, 'web'))?.metadata.annotations?.['step'], 'one');
    assert.notEqual(current.metadata.resourceVersion, object.metadata.resourceVersion);
  });

  it('answers KUBE_NOT_FOUND for a patch of an Application that does not exist', async (t) => {
    const { writer, namespace } = await options.open(t);
    await refusedWith(
      writer.patchMetadata(namespace, 'missing', { annotations: { a: '1' } }),
      'KUBE_NOT_FOUND',
    );
  });
}

/** Deletion: preconditions, finalizers. */
function deleteCases(options: ApplicationWriterContractOptions): void {
  it('deletes at the uid and resourceVersion given; false when already gone', async (t) => {
    const { writer, namespace, read } = await options.open(t);
    const { object } = await writer.apply(contractApplication(namespace, 'web'), {
      fieldManager: FIELD_MANAGER,
    });
    const preconditions = {
      uid: object.metadata.uid ?? '',
      resourceVersion: object.metadata.resourceVersion ?? '',
    };
    await refusedWith(
      writer.delete(namespace, 'web', { ...preconditions, uid: '00000000-0000-0000-0000-000000000000' }),
      'KUBE_CONFLICT',
    );
    assert.ok(await read(namespace, 'web'), 'a refused delete leaves it');
    assert.equal(await writer.delete(namespace, 'web', preconditions), true);
    assert.equal(await read(namespace, 'web'), undefined);
    assert.equal(await writer.delete(namespace, 'web', preconditions), false);
  });

  it('holds a deletion while finalizers remain, and completes it when they are removed', async (t) => {
    const { writer, namespace, read } = await options.open(t);
    await writer.apply(contractApplication(namespace, 'web'), { fieldManager: FIELD_MANAGER });
    const held = await writer.patchMetadata(namespace, 'web', { finalizers: ['capstan.dev/contract'] });
    const preconditions = {
      uid: held.metadata.uid ?? '',
      resourceVersion: held.metadata.resourceVersion ?? '',
    };
    assert.equal(await writer.delete(namespace, 'web', preconditions), true);
    const deleting = await read(namespace, 'web');
    assert.ok(deleting?.metadata.deletionTimestamp, 'marked for deletion, still there');
    await writer.patchMetadata(namespace, 'web', { finalizers: [] });
    assert.equal(await read(namespace, 'web'), undefined);
  });
}
