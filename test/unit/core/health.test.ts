import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { HEALTH_STATUSES, type Health, type HealthStatus } from '../../../src/core/health.ts';
import { assessHealth } from '../../../src/core/health-rules.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/health');

interface Fixture {
  readonly path: string;
  readonly expect: HealthStatus;
  readonly message: RegExp | undefined;
  readonly object: KubeObject;
}

/** A fixture's header: `# expect: <Status>`, optional `# message: <regex>`, then where it comes from. */
function loadFixture(path: string): Fixture {
  const text = readFileSync(path, 'utf8');
  const header = text.split('\n').filter((line) => line.startsWith('#'));
  const value = (key: string) =>
    header.find((line) => line.startsWith(`# ${key}: `))?.slice(`# ${key}: `.length);
  const expect = value('expect');
  assert.ok(
    HEALTH_STATUSES.some((status) => status === expect),
    `${path}: header "# expect: <Status>" is missing or wrong`,
  );
  assert.ok(
    header.some((line) => line.startsWith('# captured: ') || line.startsWith('# hand-written: ')),
    `${path}: header must say "# captured: ..." or "# hand-written: ..."`,
  );
  const message = value('message');
  return {
    path,
    expect: expect as HealthStatus,
    message: message === undefined ? undefined : new RegExp(message),
    object: parse(text) as KubeObject,
  };
}

function fixtures(): Fixture[] {
  return readdirSync(FIXTURES, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => loadFixture(join(FIXTURES, file)));
}

describe('assessHealth on captured fixtures', () => {
  for (const fixture of fixtures()) {
    const name = fixture.path.slice(FIXTURES.length + 1);
    it(`${name} is ${fixture.expect}`, () => {
      assert.equal(
        name.split('/')[0],
        fixture.object.kind.toLowerCase(),
        'a fixture lives under its kind, lower case',
      );
      const health = assessHealth(fixture.object);
      assert.equal(health.status, fixture.expect, `message was: ${health.message}`);
      if (fixture.message) assert.match(health.message, fixture.message);
    });
  }

  it('covers every kind with a rule of its own, and every state of the brief', () => {
    const names = new Set(fixtures().map((fixture) => fixture.path.slice(FIXTURES.length + 1)));
    for (const expected of [
      'deployment/healthy.yaml',
      'deployment/progressing-rollout.yaml',
      'deployment/degraded-progress-deadline.yaml',
      'deployment/suspended-paused.yaml',
      'statefulset/healthy-partition.yaml',
      'statefulset/healthy-ondelete-outdated.yaml',
      'daemonset/healthy-ondelete-outdated.yaml',
      'replicaset/degraded-replica-failure.yaml',
      'pod/degraded-crashloopbackoff.yaml',
      'pod/degraded-imagepullbackoff.yaml',
      'pod/healthy-succeeded.yaml',
      'job/degraded-failed.yaml',
      'job/suspended.yaml',
      'cronjob/suspended.yaml',
      'service/progressing-loadbalancer-pending.yaml',
      'ingress/progressing-no-address.yaml',
      'persistentvolumeclaim/healthy-bound.yaml',
      'persistentvolumeclaim/progressing-pending.yaml',
      'persistentvolumeclaim/degraded-lost.yaml',
      'horizontalpodautoscaler/degraded-failed-get-metrics.yaml',
      'customresourcedefinition/degraded-kind-conflict.yaml',
      'apiservice/degraded-service-not-found.yaml',
      'widget/degraded-stalled.yaml',
      'namespace/progressing-terminating.yaml',
    ]) {
      assert.ok(names.has(expected), `missing fixture ${expected}`);
    }
  });
});

/** A minimal object: `status` and `spec` given as plain JSON, metadata merged in. */
function object(
  apiVersion: string,
  kind: string,
  fields: Record<string, unknown> = {},
  metadata: KubeObject['metadata'] = {},
): KubeObject {
  return { apiVersion, kind, metadata: { name: 'x', namespace: 'ns', ...metadata }, ...fields };
}

function expectHealth(actual: Health, status: HealthStatus, message?: RegExp): void {
  assert.equal(actual.status, status, `message was: ${actual.message}`);
  if (message) assert.match(actual.message, message);
}

const condition = (type: string, status: string, reason = '', message = '') => ({
  type,
  status,
  reason,
  message,
});

describe('assessHealth: common steps', () => {
  it('is Missing when the object is not found live', () => {
    expectHealth(assessHealth(undefined), 'Missing', /^not found in the cluster$/);
  });

  it('is Progressing while an object is being deleted, whatever its kind and state', () => {
    const deleting = { deletionTimestamp: '2026-01-01T00:00:00Z' };
    expectHealth(assessHealth(object('v1', 'ConfigMap', {}, deleting)), 'Progressing', /^being deleted$/);
    const failedPod = object('v1', 'Pod', { status: { phase: 'Failed' } }, deleting);
    expectHealth(assessHealth(failedPod), 'Progressing', /^being deleted$/);
    const held = object('v1', 'Secret', {}, { ...deleting, finalizers: ['a.example/x', 'b.example/y'] });
    expectHealth(
      assessHealth(held),
      'Progressing',
      /^being deleted, waiting for finalizers: a\.example\/x, b\.example\/y$/,
    );
  });

  it('is Progressing while the controller has not observed the latest generation', () => {
    const cases: [string, string][] = [
      ['apps/v1', 'Deployment'],
      ['apps/v1', 'StatefulSet'],
      ['apps/v1', 'DaemonSet'],
      ['example.com/v1', 'Widget'],
    ];
    for (const [apiVersion, kind] of cases) {
      const lagging = object(
        apiVersion,
        kind,
        { status: { observedGeneration: 3, conditions: [condition('Ready', 'True')] } },
        { generation: 4 },
      );
      expectHealth(assessHealth(lagging), 'Progressing', /observe generation 4 \(status is for 3\)/);
    }
  });

  it('does not treat a status without observedGeneration as lagging', () => {
    const cm = object('v1', 'ConfigMap', { data: { a: 'b' } }, { generation: 7 });
    expectHealth(assessHealth(cm), 'Healthy');
  });

  it('picks the rule by group and kind, not by version; a same-named kind of another group is generic', () => {
    const status = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 0 };
    const deployment = { spec: { replicas: 1 }, status };
    expectHealth(assessHealth(object('apps/v1', 'Deployment', deployment)), 'Progressing');
    expectHealth(assessHealth(object('extensions/v1beta1', 'Deployment', deployment)), 'Progressing');
    expectHealth(assessHealth(object('example.com/v1', 'Deployment', deployment)), 'Healthy');
  });

  it('keeps messages to one bounded line', () => {
    const long = `first line\n${'x'.repeat(1000)}`;
    const failing = object('example.com/v1', 'Widget', {
      status: { conditions: [condition('Ready', 'False', 'Boom', long)] },
    });
    const { message } = assessHealth(failing);
    assert.ok(!message.includes('\n'));
    assert.ok(message.length <= 240, `length ${message.length}`);
    assert.ok(message.endsWith('…'));
  });
});

describe('assessHealth: workloads', () => {
  const deployment = (spec: Record<string, unknown>, status: Record<string, unknown>) =>
    object(
      'apps/v1',
      'Deployment',
      { spec, status: { observedGeneration: 1, ...status } },
      { generation: 1 },
    );

  const cases: [string, KubeObject, HealthStatus, RegExp][] = [
    [
      'Deployment without status yet',
      object('apps/v1', 'Deployment', { spec: { replicas: 2 } }),
      'Progressing',
      /waiting for the controller/,
    ],
    [
      'Deployment with old replicas still terminating',
      deployment({ replicas: 2 }, { replicas: 3, updatedReplicas: 2, availableReplicas: 2 }),
      'Progressing',
      /^1 old replica pending termination$/,
    ],
    [
      'Deployment with updated replicas not yet available',
      deployment({ replicas: 3 }, { replicas: 3, updatedReplicas: 3, availableReplicas: 1 }),
      'Progressing',
      /^1\/3 updated replicas available$/,
    ],
    [
      'Deployment defaults spec.replicas to 1',
      deployment({}, { replicas: 1, updatedReplicas: 1, availableReplicas: 1 }),
      'Healthy',
      /^1\/1 replicas available$/,
    ],
    [
      'Deployment paused wins over an unfinished rollout',
      deployment({ replicas: 3, paused: true }, { replicas: 3, updatedReplicas: 1 }),
      'Suspended',
      /^rollout paused$/,
    ],
    [
      'StatefulSet rolling update, pods ready but revision not yet current',
      object('apps/v1', 'StatefulSet', {
        spec: { replicas: 2 },
        status: {
          observedGeneration: 1,
          replicas: 2,
          readyReplicas: 2,
          updatedReplicas: 1,
          currentRevision: 'db-1',
          updateRevision: 'db-2',
        },
      }),
      'Progressing',
      /^1\/2 replicas updated$/,
    ],
    [
      'StatefulSet partition not yet reached',
      object('apps/v1', 'StatefulSet', {
        spec: { replicas: 5, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
        status: { observedGeneration: 1, replicas: 5, readyReplicas: 5, updatedReplicas: 1 },
      }),
      'Progressing',
      /^1\/3 replicas updated \(partition 2\)$/,
    ],
    [
      'StatefulSet scaled to zero',
      object('apps/v1', 'StatefulSet', {
        spec: { replicas: 0 },
        status: { observedGeneration: 1, replicas: 0 },
      }),
      'Healthy',
      /^scaled to zero$/,
    ],
    [
      'DaemonSet on no node',
      object('apps/v1', 'DaemonSet', {
        status: { observedGeneration: 1, desiredNumberScheduled: 0, currentNumberScheduled: 0 },
      }),
      'Healthy',
      /no node matches/,
    ],
    [
      'DaemonSet without desiredNumberScheduled',
      object('apps/v1', 'DaemonSet', { status: { observedGeneration: 1 } }),
      'Progressing',
      /waiting for the controller/,
    ],
    [
      'ReplicationController reads like a ReplicaSet',
      object('v1', 'ReplicationController', {
        spec: { replicas: 2 },
        status: { observedGeneration: 1, replicas: 2, availableReplicas: 1 },
      }),
      'Progressing',
      /^1\/2 replicas available$/,
    ],
  ];
  for (const [name, input, status, message] of cases) {
    it(name, () => {
      expectHealth(assessHealth(input), status, message);
    });
  }
});

describe('assessHealth: pods', () => {
  const pod = (spec: Record<string, unknown>, status: Record<string, unknown>) =>
    object('v1', 'Pod', { spec: { containers: [{ name: 'app', image: 'a' }], ...spec }, status });
  const running = (containerStatus: Record<string, unknown>, ready = false) => ({
    phase: 'Running',
    conditions: [condition('Ready', ready ? 'True' : 'False')],
    containerStatuses: [{ name: 'app', ready, restartCount: 0, ...containerStatus }],
  });

  const cases: [string, KubeObject, HealthStatus, RegExp][] = [
    ['no status at all', object('v1', 'Pod'), 'Progressing', /^pending$/],
    [
      'ErrImagePull while Pending',
      pod(
        {},
        {
          phase: 'Pending',
          containerStatuses: [
            { name: 'app', state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } },
          ],
        },
      ),
      'Degraded',
      /^container "app": ErrImagePull: not found$/,
    ],
    [
      'CreateContainerConfigError (a missing Secret key)',
      pod(
        {},
        {
          phase: 'Pending',
          containerStatuses: [
            {
              name: 'app',
              state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "db" not found' } },
            },
          ],
        },
      ),
      'Degraded',
      /CreateContainerConfigError: secret "db" not found/,
    ],
    [
      'ContainerCreating is a normal step',
      pod(
        {},
        {
          phase: 'Pending',
          containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ContainerCreating' } } }],
        },
      ),
      'Progressing',
      /^container "app": ContainerCreating$/,
    ],
    [
      'CrashLoopBackOff in an init container',
      pod(
        {},
        {
          phase: 'Pending',
          initContainerStatuses: [
            {
              name: 'migrate',
              restartCount: 3,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { exitCode: 1, reason: 'Error' } },
            },
          ],
        },
      ),
      'Degraded',
      /^container "migrate" is in CrashLoopBackOff: last exit code 1 \(Error\), 3 restarts$/,
    ],
    [
      'running but restarted after an OOM kill, not ready yet',
      pod(
        {},
        running({
          restartCount: 2,
          state: { running: {} },
          lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
        }),
      ),
      'Degraded',
      /^container "app" failed with exit code 137 \(OOMKilled\), 2 restarts$/,
    ],
    [
      'running and ready after an old restart',
      pod(
        {},
        running(
          { restartCount: 1, state: { running: {} }, lastState: { terminated: { exitCode: 1 } } },
          true,
        ),
      ),
      'Healthy',
      /^1\/1 containers ready$/,
    ],
    [
      'restartPolicy Never, a container exited non-zero while another runs',
      object('v1', 'Pod', {
        spec: { restartPolicy: 'Never', containers: [{ name: 'job' }, { name: 'sidecar' }] },
        status: {
          phase: 'Running',
          containerStatuses: [
            { name: 'job', ready: false, state: { terminated: { exitCode: 3, reason: 'Error' } } },
            { name: 'sidecar', ready: true, state: { running: {} } },
          ],
        },
      }),
      'Degraded',
      /^container "job" failed with exit code 3 \(Error\)$/,
    ],
    [
      'restartPolicy Never, still running',
      pod({ restartPolicy: 'Never' }, running({ state: { running: {} } }, true)),
      'Progressing',
      /^running to completion/,
    ],
    [
      'evicted',
      pod({}, { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }),
      'Degraded',
      /^Evicted: The node was low on resource: memory\.$/,
    ],
    ['failed with no detail at all', pod({}, { phase: 'Failed' }), 'Degraded', /^pod failed$/],
    ['phase Unknown (node lost)', pod({}, { phase: 'Unknown' }), 'Unknown', /node may be unreachable/],
  ];
  for (const [name, input, status, message] of cases) {
    it(name, () => {
      expectHealth(assessHealth(input), status, message);
    });
  }
});

describe('assessHealth: other built-in kinds', () => {
  const cases: [string, KubeObject, HealthStatus, RegExp][] = [
    [
      'Job with FailureTarget (pods still terminating before Failed)',
      object('batch/v1', 'Job', {
        status: {
          conditions: [
            condition(
              'FailureTarget',
              'True',
              'BackoffLimitExceeded',
              'Job has reached the specified backoff limit',
            ),
          ],
        },
      }),
      'Degraded',
      /^Job failed: BackoffLimitExceeded/,
    ],
    [
      'Job finished wins over spec.suspend',
      object('batch/v1', 'Job', {
        spec: { suspend: true, completions: 1 },
        status: { succeeded: 1, conditions: [condition('Complete', 'True')] },
      }),
      'Healthy',
      /^completed, 1\/1 succeeded$/,
    ],
    [
      'Job without completions (work queue)',
      object('batch/v1', 'Job', { spec: { parallelism: 3 }, status: { active: 3, succeeded: 4 } }),
      'Progressing',
      /^running: 3 active, 4 succeeded$/,
    ],
    [
      'CronJob with a job running',
      object('batch/v1', 'CronJob', {
        status: { lastScheduleTime: '2026-01-01T10:00:00Z', active: [{ name: 'j-1' }] },
      }),
      'Healthy',
      /^1 job running$/,
    ],
    ['Service without spec.type is ClusterIP', object('v1', 'Service', { spec: {} }), 'Healthy', /^$/],
    [
      'LoadBalancer with a host name',
      object('v1', 'Service', {
        spec: { type: 'LoadBalancer' },
        status: { loadBalancer: { ingress: [{ hostname: 'a1b2.elb.example.com' }] } },
      }),
      'Healthy',
      /^load balancer at a1b2\.elb\.example\.com$/,
    ],
    [
      'Ingress with an empty ingress list',
      object('networking.k8s.io/v1', 'Ingress', { status: { loadBalancer: { ingress: [] } } }),
      'Progressing',
      /ingress controller/,
    ],
    [
      'PersistentVolumeClaim without status',
      object('v1', 'PersistentVolumeClaim', { spec: {} }),
      'Progressing',
      /waiting for a volume/,
    ],
    [
      'PersistentVolume that failed to be reclaimed',
      object('v1', 'PersistentVolume', { status: { phase: 'Failed', message: 'recycler failed' } }),
      'Degraded',
      /^recycler failed$/,
    ],
    [
      'HPA just created',
      object('autoscaling/v2', 'HorizontalPodAutoscaler', {
        status: { currentReplicas: 0, desiredReplicas: 0 },
      }),
      'Progressing',
      /waiting for the autoscaler/,
    ],
    [
      'HPA autoscaling/v1 with a malformed conditions annotation',
      object(
        'autoscaling/v1',
        'HorizontalPodAutoscaler',
        {},
        {
          annotations: { 'autoscaling.alpha.kubernetes.io/conditions': '[{not json' },
        },
      ),
      'Progressing',
      /waiting for the autoscaler/,
    ],
    [
      'HPA with a bad selector',
      object('autoscaling/v2', 'HorizontalPodAutoscaler', {
        status: {
          conditions: [
            condition('AbleToScale', 'True', 'SucceededGetScale'),
            condition('ScalingActive', 'False', 'InvalidSelector', "couldn't convert selector"),
          ],
        },
      }),
      'Degraded',
      /^InvalidSelector: /,
    ],
    [
      'HPA in a backoff window',
      object('autoscaling/v2', 'HorizontalPodAutoscaler', {
        status: {
          conditions: [condition('AbleToScale', 'False', 'BackoffBoth', 'within the forbidden window')],
        },
      }),
      'Progressing',
      /^BackoffBoth: /,
    ],
    [
      'CRD not yet established',
      object('apiextensions.k8s.io/v1', 'CustomResourceDefinition', {
        status: { conditions: [condition('NamesAccepted', 'True', 'NoConflicts')] },
      }),
      'Progressing',
      /waiting to be established/,
    ],
    [
      'APIService not yet checked',
      object('apiregistration.k8s.io/v1', 'APIService', { status: {} }),
      'Progressing',
      /waiting for the aggregator/,
    ],
    [
      'Namespace in phase Terminating without deletionTimestamp in the copy',
      object('v1', 'Namespace', { status: { phase: 'Terminating' } }),
      'Progressing',
      /^terminating$/,
    ],
  ];
  for (const [name, input, status, message] of cases) {
    it(name, () => {
      expectHealth(assessHealth(input), status, message);
    });
  }
});

describe('assessHealth: generic rule (custom resources and kinds without a rule)', () => {
  const resource = (status?: unknown, generation?: number) =>
    object(
      'example.com/v1',
      'Widget',
      status === undefined ? {} : { status },
      generation === undefined ? {} : { generation },
    );

  const cases: [string, KubeObject, HealthStatus, RegExp][] = [
    ['no status', resource(), 'Healthy', /^$/],
    ['a status that is not an object', resource('weird'), 'Healthy', /^$/],
    ['empty conditions', resource({ conditions: [] }), 'Healthy', /^$/],
    ['conditions that are not a list', resource({ conditions: 'Ready' }), 'Healthy', /^$/],
    ['only other conditions', resource({ conditions: [condition('Synced', 'True')] }), 'Healthy', /^$/],
    [
      'Ready=True',
      resource({ conditions: [condition('Ready', 'True', 'Ok', 'all good')] }),
      'Healthy',
      /^all good$/,
    ],
    [
      'Ready=False',
      resource({ conditions: [condition('Ready', 'False', 'AuthFailed', 'bad token')] }),
      'Degraded',
      /^AuthFailed: bad token$/,
    ],
    [
      'Ready=False with no words',
      resource({ conditions: [condition('Ready', 'False')] }),
      'Degraded',
      /^not Ready$/,
    ],
    [
      'Ready=Unknown',
      resource({ conditions: [condition('Ready', 'Unknown', 'Progressing', 'working')] }),
      'Progressing',
      /^Progressing: working$/,
    ],
    [
      'Ready without status',
      resource({ conditions: [{ type: 'Ready' }] }),
      'Progressing',
      /^Ready is not reported$/,
    ],
    [
      'Stalled=True wins over Ready=True',
      resource({
        conditions: [condition('Ready', 'True'), condition('Stalled', 'True', 'Invalid', 'bad spec')],
      }),
      'Degraded',
      /^Invalid: bad spec$/,
    ],
    [
      'Reconciling=True wins over Ready=False',
      resource({
        conditions: [condition('Ready', 'False', 'Old'), condition('Reconciling', 'True', 'Progressing')],
      }),
      'Progressing',
      /^Progressing$/,
    ],
    [
      'Stalled=False and Reconciling=False are ignored',
      resource({
        conditions: [
          condition('Stalled', 'False'),
          condition('Reconciling', 'False'),
          condition('Ready', 'True'),
        ],
      }),
      'Healthy',
      /^$/,
    ],
    [
      'Available when there is no Ready',
      resource({ conditions: [condition('Available', 'True', 'MinimumReplicasAvailable', 'ok')] }),
      'Healthy',
      /^ok$/,
    ],
    [
      'Ready of an older generation (condition observedGeneration)',
      resource({ conditions: [{ ...condition('Ready', 'True'), observedGeneration: 2 }] }, 3),
      'Progressing',
      /^Ready is reported for generation 2, not 3 yet$/,
    ],
    ['a ConfigMap', object('v1', 'ConfigMap', { data: {} }), 'Healthy', /^$/],
    ['a ClusterRole', object('rbac.authorization.k8s.io/v1', 'ClusterRole', { rules: [] }), 'Healthy', /^$/],
  ];
  for (const [name, input, status, message] of cases) {
    it(name, () => {
      expectHealth(assessHealth(input), status, message);
    });
  }
});
