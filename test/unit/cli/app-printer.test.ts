// The printers of `capstan app` and the pure decisions behind its commands: what a request's state is,
// what a rollback goes back to, when a wait is over, and how flags become a validated Application.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ApplicationSourceSchema,
  type Application,
  type ApplicationStatus,
  type HistoryEntry,
  type Operation,
} from '../../../src/contracts/application.ts';
import {
  describeApplication,
  unreportedSync,
  diffDocument,
  diffText,
  elapsed,
  forOutput,
  hasDifferences,
  historyDocument,
  historyTable,
  holdLine,
  humanDuration,
  listDocument,
  listTable,
  objectRef,
  requestResult,
  shortRevision,
  syncPolicyText,
  type DiffInput,
} from '../../../src/cli/app-printer.ts';
import {
  APP_HELP,
  applicationFromFlags,
  checkedApplication,
  FLAG_OF_FIELD,
  requestState,
  rollbackTarget,
  waitState,
} from '../../../src/cli/commands/app.ts';

const NOW = Date.parse('2025-01-31T12:00:00Z');
const SHA_A = 'a'.repeat(40);
const SHA_B = 'b'.repeat(40);
const SHA_C = 'c'.repeat(40);
const ago = (ms: number) => new Date(NOW - ms).toISOString();

function sample(status?: ApplicationStatus, spec: Partial<Application['spec']> = {}): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      name: 'web',
      namespace: 'team-a',
      generation: 2,
      creationTimestamp: ago(3 * 60_000),
      managedFields: [{ manager: 'capstan-cli' }],
    },
    spec: {
      source: {
        repoURL: 'https://git.example.com/team/config.git',
        targetRevision: 'main',
        path: 'apps/web',
      },
      ...spec,
    },
    ...(status === undefined ? {} : { status }),
  };
}

const entry = (id: number, revision: string, result: 'Succeeded' | 'Failed', extra = {}): HistoryEntry => ({
  id,
  revision,
  result,
  startedAt: ago((10 - id) * 60_000),
  finishedAt: new Date(NOW - (10 - id) * 60_000 + 3400).toISOString(),
  author: 'Ada <ada@example.com>',
  message: `change ${id}`,
  ...extra,
});

const OPERATION: Operation = {
  phase: 'Succeeded',
  type: 'sync',
  revision: SHA_A,
  startedAt: ago(120_000),
  finishedAt: ago(116_600),
  message: '1 created, 1 configured',
};

const synced: ApplicationStatus = {
  observedGeneration: 2,
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Synced',
      message: 'synced to aaaaaaaaaaaa and healthy',
      lastTransitionTime: ago(60_000),
      observedGeneration: 2,
    },
  ],
  sync: { status: 'Synced', revision: SHA_A, digest: 'sha256:1234' },
  health: { status: 'Healthy' },
  resources: [
    {
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      namespace: 'web',
      name: 'api',
      syncStatus: 'Synced',
      health: { status: 'Healthy' },
    },
    {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      namespace: 'web',
      name: 'settings',
      syncStatus: 'OutOfSync',
      health: { status: 'Healthy' },
      message: 'changed data.level',
    },
  ],
  operation: OPERATION,
  history: [entry(1, SHA_B, 'Succeeded'), entry(2, SHA_C, 'Failed'), entry(3, SHA_A, 'Succeeded')],
};

describe('humanDuration, as kubectl prints ages', () => {
  const cases: [number, string][] = [
    [-5000, '<invalid>'],
    [-500, '0s'],
    [0, '0s'],
    [45_000, '45s'],
    [119_000, '119s'],
    [150_000, '2m30s'],
    [300_000, '5m'],
    [11 * 60_000, '11m'],
    [179 * 60_000, '179m'],
    [200 * 60_000, '3h20m'],
    [5 * 3_600_000, '5h'],
    [30 * 3_600_000, '30h'],
    [77 * 3_600_000, '3d5h'],
    [4 * 86_400_000, '4d'],
    [120 * 86_400_000, '120d'],
    [(2 * 365 + 30) * 86_400_000, '2y30d'],
    [9 * 365 * 86_400_000, '9y'],
  ];
  for (const [ms, text] of cases)
    it(`${ms} ms → ${text}`, () => {
      assert.equal(humanDuration(ms), text);
    });
});

describe('small printers', () => {
  it('cuts revisions to 12 characters and shows - for none', () => {
    assert.equal(shortRevision(SHA_A), 'aaaaaaaaaaaa');
    assert.equal(shortRevision(undefined), '-');
    assert.equal(shortRevision('main'), 'main');
  });

  it('prints how long something took', () => {
    assert.equal(elapsed('2025-01-31T12:00:00Z', '2025-01-31T12:00:00.850Z'), '850ms');
    assert.equal(elapsed('2025-01-31T12:00:00Z', '2025-01-31T12:00:03.400Z'), '3.4s');
    assert.equal(elapsed('2025-01-31T12:00:00Z', '2025-01-31T12:02:05Z'), '2m5s');
    assert.equal(elapsed('2025-01-31T12:00:00Z', undefined), '-');
  });

  it('names objects as kubectl does, and drops managedFields from -o json|yaml', () => {
    assert.equal(objectRef('web'), 'application.capstan.dev/web');
    assert.equal(forOutput(sample()).metadata.managedFields, undefined);
    assert.deepEqual(listDocument([sample()]), {
      apiVersion: 'v1',
      kind: 'List',
      items: [forOutput(sample())],
    });
  });

  it('summarises the sync policy with its defaults', () => {
    assert.equal(
      syncPolicyText(sample()),
      'manual (sync on request); every 3m; retry 5 times (5s, x2, up to 3m)',
    );
    assert.equal(
      syncPolicyText(
        sample(undefined, {
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            syncOptions: ['CreateNamespace=true'],
            retry: { limit: 0 },
          },
          interval: '1m',
        }),
      ),
      'automated (prune, self-heal); CreateNamespace=true; every 1m; no retries',
    );
  });

  it('says whether a rollback hold is active', () => {
    assert.equal(holdLine(sample(), NOW), 'Hold: none (automated sync follows main)');
    const held = sample({
      hold: { revision: SHA_B, fromRevision: SHA_A, reason: 'rolled back', since: ago(5 * 60_000) },
    });
    assert.equal(
      holdLine(held, NOW),
      'Hold: active on bbbbbbbbbbbb (rolled back from aaaaaaaaaaaa), for 5m: rolled back; ' +
        'automated sync waits for a newer commit, or: capstan app release-hold web',
    );
  });
});

describe('listTable', () => {
  it('prints NAME, SYNC, HEALTH, REVISION (12 characters) and AGE', () => {
    const text = listTable(
      [sample(synced), { ...sample(), metadata: { ...sample().metadata, name: 'new' } }],
      {
        now: NOW,
      },
    );
    assert.equal(
      text,
      [
        'NAME   SYNC     HEALTH    REVISION       AGE',
        'web    Synced   Healthy   aaaaaaaaaaaa   3m',
        'new    -        -         -              3m',
        '',
      ].join('\n'),
    );
  });

  it('adds REPO, PATH and MESSAGE when wide, NAMESPACE first with every namespace', () => {
    const text = listTable([sample(synced)], { now: NOW, wide: true, allNamespaces: true });
    const [head, row] = text.split('\n');
    assert.match(head ?? '', /^NAMESPACE +NAME +SYNC +HEALTH +REVISION +AGE +REPO +PATH +MESSAGE$/);
    assert.match(
      row ?? '',
      /^team-a +web +Synced +Healthy +aaaaaaaaaaaa +3m +https:\/\/git.example.com\/team\/config.git +apps\/web +synced to aaaaaaaaaaaa and healthy$/,
    );
  });
});

describe('describeApplication', () => {
  it('summarises source, destination, policy, state, conditions, resources and the last operation', () => {
    const text = describeApplication(sample(synced), { now: NOW });
    for (const line of [
      /^Name: +web$/m,
      /^Namespace: +team-a$/m,
      /^Source: +https:\/\/git.example.com\/team\/config.git$/m,
      /^ {2}Revision: +main$/m,
      /^ {2}Path: +apps\/web$/m,
      /^ {2}Type: +detected$/m,
      /^Destination: +in-cluster, namespace team-a$/m,
      /^Sync policy: +manual \(sync on request\)/m,
      /^Sync: +Synced at aaaaaaaaaaaa$/m,
      /^Health: +Healthy$/m,
      /^Last operation: +sync Succeeded at aaaaaaaaaaaa, started 2m ago, took 3.4s: 1 created, 1 configured$/m,
      /^Hold: none/m,
      /^Conditions:\n {2}TYPE +STATUS +REASON +AGE +MESSAGE\n {2}Ready +True +Synced +60s +synced to aaaaaaaaaaaa and healthy$/m,
      /^Resources \(2\):\n {2}RESOURCE +SYNC +HEALTH +MESSAGE\n {2}Deployment\/web\/api +Synced +Healthy +-\n {2}ConfigMap\/web\/settings +OutOfSync +Healthy +changed data.level$/m,
    ])
      assert.match(text, line);
  });

  it('says when nothing is reported yet, and shows full revisions and versions when wide', () => {
    const empty = describeApplication(sample(), { now: NOW });
    assert.match(empty, /^Sync: +not reported yet \(is the agent running\?\)$/m);
    assert.match(empty, /^Conditions: none$/m);
    assert.match(empty, /^Resources: none$/m);
    const condition = (type: string, status: string, reason: string) => ({ type, status, reason });
    assert.equal(
      unreportedSync([
        condition('Ready', 'False', 'InvalidSpec'),
        condition('Stalled', 'True', 'InvalidSpec'),
      ]),
      'not compared: the agent stalled it (InvalidSpec; see Conditions)',
    );
    assert.equal(
      unreportedSync([
        condition('Ready', 'Unknown', 'Progressing'),
        condition('Reconciling', 'True', 'Fetching'),
      ]),
      'not reported yet: the agent is reconciling it',
    );
    assert.equal(
      unreportedSync([condition('Ready', 'False', 'SourceUnavailable')]),
      'not compared: not ready (SourceUnavailable; see Conditions)',
    );
    const wide = describeApplication(sample(synced), { now: NOW, wide: true });
    assert.match(wide, new RegExp(`^Sync: +Synced at ${SHA_A} \\(digest sha256:1234\\)$`, 'm'));
    assert.match(wide, /RESOURCE +VERSION +SYNC/);
    assert.match(wide, /Deployment\/web\/api +apps\/v1 +Synced/);
  });

  it('marks conditions set for an older generation', () => {
    const stale = sample({
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'OutOfSync',
          message: 'out of sync',
          lastTransitionTime: ago(0),
          observedGeneration: 1,
        },
      ],
    });
    assert.match(describeApplication(stale, { now: NOW }), /out of sync \(for generation 1, now 2\)/);
  });
});

describe('historyTable', () => {
  it('prints ID, REVISION, RESULT, STARTED, DURATION, AUTHOR, MESSAGE and the hold', () => {
    const text = historyTable(sample({ ...synced, hold: { revision: SHA_B } }), { now: NOW });
    const lines = text.split('\n');
    assert.match(lines[0] ?? '', /^ID +REVISION +RESULT +STARTED +DURATION +AUTHOR +MESSAGE$/);
    assert.match(
      lines[1] ?? '',
      /^1 +bbbbbbbbbbbb +Succeeded +2025-01-31T11:51:00Z +3.4s +Ada <ada@example.com> +change 1$/,
    );
    assert.match(lines[2] ?? '', /^2 +cccccccccccc +Failed /);
    assert.match(text, /\nHold: active on bbbbbbbbbbbb;/);
  });

  it('says when there is no history, and prints the document for -o json|yaml', () => {
    assert.match(
      historyTable(sample(), { now: NOW }),
      /^No syncs recorded for application 'web' yet.\n\nHold: none/,
    );
    assert.deepEqual(historyDocument(sample()), {
      name: 'web',
      namespace: 'team-a',
      hold: null,
      history: [],
    });
  });
});

describe('requestResult', () => {
  it('prints the resources and the verdict of a sync', () => {
    const text = requestResult(sample(synced), 'sync', { now: NOW });
    assert.match(text, /^RESOURCE +SYNC +HEALTH +MESSAGE\n/);
    assert.match(text, /\nSynced application 'web' at aaaaaaaaaaaa: 1 created, 1 configured \(3.4s\)\n$/);
    const failed = sample({
      ...synced,
      operation: { ...OPERATION, phase: 'Failed', message: 'boom' },
    });
    assert.match(
      requestResult(failed, 'sync', { now: NOW }),
      /Sync of application 'web' failed at aaaaaaaaaaaa: boom/,
    );
  });

  it('says a sync of a selection synced those resources, and what the application is now', () => {
    const partial = (phase: 'Succeeded' | 'Failed') =>
      sample({
        ...synced,
        sync: { status: 'OutOfSync', revision: SHA_A, digest: 'sha256:1234' },
        operation: {
          ...OPERATION,
          phase,
          message: phase === 'Failed' ? 'the selection cannot be synced' : '1 configured',
        },
        history: [entry(1, SHA_A, phase, { resources: ['ConfigMap/team-a/settings'] })],
      });
    assert.match(
      requestResult(partial('Succeeded'), 'sync', { now: NOW }),
      /\nSynced 1 selected resource\(s\) of application 'web' at aaaaaaaaaaaa: 1 configured \(3.4s\); the application is OutOfSync\n$/,
    );
    assert.match(
      requestResult(partial('Failed'), 'sync', { now: NOW }),
      /Sync of 1 selected resource\(s\) of application 'web' failed at aaaaaaaaaaaa: the selection cannot be synced/,
    );
  });

  it('names a rollback target and the hold', () => {
    const held = sample({
      ...synced,
      operation: { ...OPERATION, type: 'rollback', revision: SHA_B },
      hold: { revision: SHA_B, fromRevision: SHA_A },
    });
    const text = requestResult(held, 'rollback', { now: NOW, target: entry(1, SHA_B, 'Succeeded') });
    assert.match(
      text,
      /Rolled back application 'web' to bbbbbbbbbbbb \(history 1\): 1 created, 1 configured/,
    );
    assert.match(text, /Hold: active on bbbbbbbbbbbb/);
    assert.match(
      requestResult(sample(synced), 'release-hold', { now: NOW }),
      /Released the hold of application 'web'/,
    );
    assert.match(
      requestResult(sample(synced), 'refresh', { now: NOW }),
      /Refreshed application 'web': Synced at aaaaaaaaaaaa/,
    );
  });
});

describe('diffText', () => {
  const none: DiffInput = {
    application: 'web',
    changes: [],
    leftBehind: [],
    namespacesToCreate: [],
    prune: false,
  };
  it('says when there is nothing to change', () => {
    assert.equal(diffText(none), 'No differences.\n');
    assert.equal(hasDifferences(none), false);
  });

  it('prints the unified diffs, then a summary, as capstan diff does', () => {
    const diff: DiffInput = {
      application: 'web',
      revision: SHA_A,
      changes: [
        {
          id: { group: '', kind: 'ConfigMap', namespace: 'web', name: 'settings' },
          action: 'configure',
          unified:
            '--- live/ConfigMap/web/settings\n+++ desired/ConfigMap/web/settings\n@@ -1 +1 @@\n-level: info\n+level: warn\n',
        },
      ],
      leftBehind: [{ group: 'apps', kind: 'Deployment', namespace: 'web', name: 'old' }],
      namespacesToCreate: ['web'],
      prune: true,
    };
    assert.equal(hasDifferences(diff), true);
    const text = diffText(diff);
    assert.match(text, /^--- live\/ConfigMap\/web\/settings\n\+\+\+ desired/);
    assert.match(text, /Namespace\/web: would be created/);
    assert.match(text, /Deployment\/web\/old: no longer in the desired state \(pruned by the next sync/);
    assert.match(
      text,
      /RESOURCE +CHANGE\nNamespace\/web +create\nConfigMap\/web\/settings +configure\nDeployment\/web\/old +prune\n$/,
    );
    assert.ok(diffText(diff, { colour: true }).includes('\u001b[32m+level: warn'));
    assert.deepEqual(diffDocument(diff), {
      application: 'web',
      revision: SHA_A,
      changes: [{ resource: 'ConfigMap/web/settings', action: 'configure', diff: diff.changes[0]?.unified }],
      leftBehind: ['Deployment/web/old'],
      namespacesToCreate: ['web'],
    });
  });
});

describe('requestState', () => {
  const handled = (kind: 'sync' | 'refresh', id: string, operation?: ApplicationStatus['operation']) =>
    sample({ handledRequests: { [kind]: id }, ...(operation ? { operation } : {}) });
  const op = (phase: 'Running' | 'Succeeded' | 'Failed') => ({ ...OPERATION, phase });

  it('is pending until the agent records the request id and the operation finished', () => {
    assert.deepEqual(requestState(sample(), 'sync', '1700000000200'), { state: 'pending' });
    assert.deepEqual(
      requestState(handled('sync', '1700000000100', op('Succeeded')), 'sync', '1700000000200'),
      {
        state: 'pending',
      },
    );
    assert.deepEqual(requestState(handled('sync', '1700000000200', op('Running')), 'sync', '1700000000200'), {
      state: 'pending',
    });
    assert.deepEqual(
      requestState(handled('sync', '1700000000200', op('Succeeded')), 'sync', '1700000000200'),
      {
        state: 'done',
        phase: 'Succeeded',
      },
    );
    assert.deepEqual(requestState(handled('sync', '1700000000200', op('Failed')), 'sync', '1700000000200'), {
      state: 'done',
      phase: 'Failed',
    });
    assert.deepEqual(requestState(undefined, 'sync', '1700000000200'), { state: 'deleted' });
  });

  it('takes a later request of the same kind as covering ours', () => {
    assert.deepEqual(
      requestState(handled('sync', '1700000000300', op('Succeeded')), 'sync', '1700000000200'),
      {
        state: 'done',
        phase: 'Succeeded',
        superseded: '1700000000300',
      },
    );
  });

  it('reads request ids in Unix seconds and milliseconds alike (one requestTime with the agent)', () => {
    // kubectl annotate …="$(date +%s)" writes seconds: a later one covers a request made in milliseconds.
    assert.deepEqual(requestState(handled('sync', '1700000001', op('Succeeded')), 'sync', '1700000000200'), {
      state: 'done',
      phase: 'Succeeded',
      superseded: '1700000001',
    });
    assert.deepEqual(requestState(handled('sync', '1699999999', op('Succeeded')), 'sync', '1700000000200'), {
      state: 'pending',
    });
    // An id that says nothing of its time covers nothing.
    assert.deepEqual(requestState(handled('sync', 'manual', op('Succeeded')), 'sync', '1700000000200'), {
      state: 'pending',
    });
  });

  it('finishes a refresh once handled, unless a refresh operation still runs', () => {
    assert.deepEqual(requestState(handled('refresh', '1700000000200'), 'refresh', '1700000000200'), {
      state: 'done',
    });
    assert.deepEqual(
      requestState(
        handled('refresh', '1700000000200', { ...op('Running'), type: 'refresh' }),
        'refresh',
        '1700000000200',
      ),
      { state: 'pending' },
    );
  });
});

describe('rollbackTarget', () => {
  const app = sample(synced); // 1 ok B, 2 failed C, 3 ok A (current)

  it('defaults to the latest successful entry before the current one with another revision', () => {
    assert.deepEqual(rollbackTarget(app, undefined), { value: '1', entry: entry(1, SHA_B, 'Succeeded') });
    const twice = sample({
      history: [entry(1, SHA_B, 'Succeeded'), entry(2, SHA_A, 'Succeeded'), entry(3, SHA_A, 'Succeeded')],
    });
    assert.equal(rollbackTarget(twice, undefined).value, '1');
  });

  it('refuses when there is nothing earlier, a failed entry, or an unknown id', () => {
    assert.throws(
      () => rollbackTarget(sample({ history: [entry(1, SHA_A, 'Succeeded')] }), undefined),
      /no earlier successful sync/,
    );
    assert.throws(() => rollbackTarget(app, '2'), /history entry 2 of application 'web' failed; .*: 1, 3/);
    assert.throws(() => rollbackTarget(app, '9'), /no history entry 9/);
    assert.throws(() => rollbackTarget(app, 'v1.2'), /a history ID or a commit SHA/);
  });

  it('takes a history id, or a revision (a prefix found in the history is expanded)', () => {
    assert.equal(rollbackTarget(app, '3').value, '3');
    assert.equal(rollbackTarget(app, 'bbbbbbb').value, SHA_B);
    assert.equal(rollbackTarget(app, 'd'.repeat(40)).value, 'd'.repeat(40));
    assert.throws(() => rollbackTarget(app, 'ddddddd'), /no revision in the history/);
  });
});

describe('waitState', () => {
  const at = (status: ApplicationStatus) => sample(status);
  const ready = (status: 'True' | 'False', observedGeneration: number) => ({
    type: 'Ready',
    status,
    reason: 'R',
    message: 'm',
    lastTransitionTime: ago(0),
    observedGeneration,
  });

  it('counts what the agent reports only at the current generation', () => {
    assert.equal(
      waitState(at({ observedGeneration: 1, health: { status: 'Healthy' } }), 'health').state,
      'pending',
    );
    assert.equal(
      waitState(at({ observedGeneration: 2, health: { status: 'Healthy' } }), 'health').state,
      'met',
    );
    assert.equal(
      waitState(at({ observedGeneration: 2, health: { status: 'Progressing' } }), 'health').state,
      'pending',
    );
    assert.equal(waitState(at({ observedGeneration: 2, sync: { status: 'Synced' } }), 'sync').state, 'met');
    assert.equal(waitState(at({ conditions: [ready('True', 1)] }), 'ready').state, 'pending');
    assert.equal(waitState(at({ conditions: [ready('True', 2)] }), 'ready').state, 'met');
    assert.equal(waitState(undefined, 'ready').state, 'deleted');
  });

  it('ends on Stalled at the current generation', () => {
    const stalled = { ...ready('True', 2), type: 'Stalled', reason: 'InvalidSpec', message: 'bad' };
    assert.deepEqual(waitState(at({ conditions: [stalled] }), 'ready'), {
      state: 'stalled',
      why: 'Stalled: InvalidSpec: bad',
    });
  });
});

describe('create from flags', () => {
  const values = (extra: Record<string, unknown>) =>
    ({ repo: 'https://git.example.com/c.git', ...extra }) as never;

  it('builds the Application the flags describe, leaving defaults out', () => {
    assert.deepEqual(applicationFromFlags('web', 'team-a', values({})), {
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Application',
      metadata: { name: 'web', namespace: 'team-a' },
      spec: { source: { repoURL: 'https://git.example.com/c.git' } },
    });
    const full = applicationFromFlags(
      'web',
      'team-a',
      values({
        revision: 'v1',
        path: 'apps/web',
        type: 'kustomize',
        'dest-namespace': 'web',
        'dest-cluster': 'prod',
        'auto-sync': true,
        prune: true,
        'self-heal': true,
        'create-namespace': true,
        interval: '1m',
        'depends-on': ['db'],
        secret: 'git-credentials',
      }),
    );
    assert.deepEqual((full as Application).spec, {
      source: {
        repoURL: 'https://git.example.com/c.git',
        targetRevision: 'v1',
        path: 'apps/web',
        type: 'kustomize',
        secretRef: { name: 'git-credentials' },
      },
      destination: { cluster: 'prod', namespace: 'web' },
      syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] },
      interval: '1m',
      dependsOn: [{ name: 'db' }],
    });
  });

  it('takes a chart of a Helm repository (--chart, --revision a range), and refuses it with --path naming both flags', () => {
    const app = applicationFromFlags(
      'redis',
      'team-a',
      values({
        repo: 'oci://registry.example.com/charts',
        chart: 'redis',
        revision: '^17.0.0',
        secret: 'registry',
        'values-inline': 'architecture: standalone\n',
      }),
    );
    assert.deepEqual(checkedApplication(app, { what: 'redis', source: 'flags' }).spec.source, {
      repoURL: 'oci://registry.example.com/charts',
      chart: 'redis',
      targetRevision: '^17.0.0',
      secretRef: { name: 'registry' },
      helm: { values: 'architecture: standalone\n' },
    });
    const both = applicationFromFlags('redis', 'team-a', values({ chart: 'redis', path: 'x' }));
    assert.throws(() => checkedApplication(both, { what: 'redis', source: 'flags' }), {
      message: /spec\.source\.chart: set either path .* or chart .*, not both \(--chart\)/,
    });
  });

  it('sets every Helm, directory and Jsonnet field of the source from its flags', () => {
    const app = applicationFromFlags(
      'web',
      'team-a',
      values({
        'release-name': 'web-prod',
        values: ['values.yaml', 'values-prod.yaml'],
        'values-inline': 'replicas: 3\n',
        set: ['image.tag=1.2.3'],
        'set-string': ['service.port=8080'],
        'skip-crds': true,
        'helm-secret': ['charts'],
      }),
    );
    const { source } = checkedApplication(app, { what: 'web', source: 'flags' }).spec;
    const jsonnet = applicationFromFlags(
      'web',
      'team-a',
      values({
        include: ['*.yaml'],
        exclude: ['test-*.yaml'],
        'no-recurse': true,
        'tla-str': ['env=prod'],
        'tla-code': ['replicas=2'],
        'ext-str': ['image=nginx:1.27'],
        'ext-code': ['debug=false'],
        'jsonnet-lib': ['lib'],
      }),
    );
    assert.deepEqual(source.helm, {
      releaseName: 'web-prod',
      valueFiles: ['values.yaml', 'values-prod.yaml'],
      values: 'replicas: 3\n',
      parameters: [
        { name: 'image.tag', value: '1.2.3' },
        { name: 'service.port', value: '8080', forceString: true },
      ],
      skipCrds: true,
      repositorySecretRefs: [{ name: 'charts' }],
    });
    const directory = checkedApplication(jsonnet, { what: 'web', source: 'flags' }).spec.source.directory;
    assert.deepEqual(directory, {
      recurse: false,
      include: ['*.yaml'],
      exclude: ['test-*.yaml'],
      jsonnet: {
        tlas: [
          { name: 'env', value: 'prod' },
          { name: 'replicas', value: '2', code: true },
        ],
        extVars: [
          { name: 'image', value: 'nginx:1.27' },
          { name: 'debug', value: 'false', code: true },
        ],
        libs: ['lib'],
      },
    });
    assert.throws(() => applicationFromFlags('web', 'a', values({ set: ['image.tag'] })), {
      code: 'USAGE',
      message: /--set 'image\.tag': expected NAME=VALUE/,
    });
    assert.throws(
      () => applicationFromFlags('web', 'a', values({ values: ['v.yaml'], 'tla-str': ['a=b'] })),
      {
        code: 'USAGE',
        message: /--values \(Helm\) and --tla-str \(directory and Jsonnet\) do not go together/,
      },
    );
    assert.throws(() => applicationFromFlags('web', 'a', values({ type: 'kustomize', 'skip-crds': true })), {
      code: 'USAGE',
      message: /--skip-crds does not go with --type kustomize/,
    });
  });

  it('has a flag for every field of spec.source, each in the help', () => {
    interface Schema {
      readonly properties?: Record<string, Schema>;
    }
    const leaves = (schema: Schema, at: string): string[] =>
      Object.entries(schema.properties ?? {}).flatMap(([key, child]) => {
        const path = `${at}.${key}`;
        return child.properties && Object.keys(child.properties).length > 0 ? leaves(child, path) : [path];
      });
    const fields = leaves(ApplicationSourceSchema as Schema, 'spec.source').filter(
      // Kustomize takes no options (the kustomization.yaml says it all): an empty object.
      (field) => field !== 'spec.source.kustomize',
    );
    assert.ok(
      fields.includes('spec.source.directory.jsonnet.tlas') && fields.includes('spec.source.helm.skipCrds'),
    );
    const covered = (field: string) =>
      FLAG_OF_FIELD.some(([prefix]) => field === prefix || field.startsWith(`${prefix}.`));
    assert.deepEqual(
      fields.filter((field) => !covered(field)),
      [],
      'fields without a flag of capstan app create',
    );
    for (const [, flags] of FLAG_OF_FIELD)
      for (const flag of flags.split(', ').filter((f) => f.startsWith('--')))
        assert.match(APP_HELP, new RegExp(`\\s${flag}\\s`), `${flag} is in capstan app --help`);
  });

  it('refuses bad flags as usage errors, and names the field and flag of an invalid value', () => {
    assert.throws(() => applicationFromFlags('web', 'a', {}), { code: 'USAGE', message: /--repo/ });
    assert.throws(() => applicationFromFlags('web', 'a', values({ type: 'jsonnet' })), { code: 'USAGE' });
    assert.throws(() => applicationFromFlags('web', 'a', values({ prune: true })), { code: 'USAGE' });
    assert.throws(() => applicationFromFlags('web', 'a', values({ interval: 'soon' })), { code: 'USAGE' });
    assert.throws(
      () =>
        checkedApplication(applicationFromFlags('web', 'a', values({ path: '../x' })), {
          what: 'web',
          source: 'flags',
        }),
      {
        code: 'APPLICATION_INVALID',
        message: /spec\.source\.path: must stay inside the repository.* \(--path\)/,
      },
    );
    assert.throws(
      () =>
        checkedApplication(applicationFromFlags('Web', 'a', values({})), { what: 'web', source: 'flags' }),
      {
        message: /metadata\.name: .* \(NAME\)/,
      },
    );
  });
});
