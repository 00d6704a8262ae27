// The fake ApplicationWriter of the server's route tests passes the same contract as the real adapter
// (test/integration/application-writer.test.ts), and tells its watch handler what changed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applicationWriterContract,
  contractApplication,
} from '../../../src/testing/application-writer-contract.ts';
import { FakeApplicationWriter } from '../../../src/testing/fake-application-writer.ts';
import type { ApplicationWriter } from '../../../src/ports/application-writer.ts';
import type { WatchEvent } from '../../../src/ports/watch.ts';

applicationWriterContract('fake', {
  open: () => {
    const writer = new FakeApplicationWriter(() => undefined);
    return Promise.resolve({
      writer,
      namespace: 'team-a',
      read: (namespace, name) => Promise.resolve(writer.objects.get(`${namespace}/${name}`)),
    });
  },
});

describe('FakeApplicationWriter', () => {
  it('tells its watch handler each change, as a watch would', async () => {
    const events: WatchEvent[] = [];
    const writer: ApplicationWriter = new FakeApplicationWriter((event) => {
      events.push(event);
    });
    const { object } = await writer.apply(contractApplication('team-a', 'web'), { fieldManager: 'm' });
    const held = await writer.patchMetadata('team-a', 'web', { finalizers: ['x/y'] });
    await writer.delete('team-a', 'web', {
      uid: object.metadata.uid ?? '',
      resourceVersion: held.metadata.resourceVersion ?? '',
    });
    await writer.patchMetadata('team-a', 'web', { finalizers: [] });
    assert.deepEqual(
      events.map((e) => e.type),
      ['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED'],
    );
  });
});
