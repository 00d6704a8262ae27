// The local control plane behaves as a real cluster: identities, CRDs, server-side apply, rollouts, watches.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { rawRequest } from '../../src/testing/raw.ts';

let kube: KubeClients;

before(async () => {
  const cluster = await testCluster();
  kube = kubeClients(await agentKubeconfig(cluster));
});

function deployment(namespace: string, name: string, replicas = 2): k8s.V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'web', image: 'registry.invalid/web:1.0', ports: [{ containerPort: 8080 }] }],
        },
      },
    },
  };
}

describe('the local control plane', () => {
  it('gives the agent a ServiceAccount identity that RBAC and priority and fairness apply to', async () => {
    const auth = kube.config.makeApiClient(k8s.AuthenticationV1Api);
    const review = await auth.createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    const user = review.status?.userInfo;
    assert.equal(user?.username, 'system:serviceaccount:capstan-system:capstan-agent');
    assert.ok(!(user.groups ?? []).includes('system:masters'));

    const res = await rawRequest(kube.config, 'GET', '/api/v1/namespaces/default/configmaps');
    assert.equal(res.status, 200);
    const levelUid = res.headers['x-kubernetes-pf-prioritylevel-uid'];
    assert.equal(typeof levelUid, 'string', 'API priority and fairness must classify the request');
    const levels = await kube.config
      .makeApiClient(k8s.FlowcontrolApiserverV1Api)
      .listPriorityLevelConfiguration();
    const level = levels.items.find((l) => l.metadata?.uid === levelUid)?.metadata?.name;
    assert.ok(
      level !== undefined && level !== 'exempt',
      `the agent's requests run at priority level ${String(level)}, not exempt`,
    );
  });

  it('creates a CRD and a custom resource of it, and reads it back', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const group = 'widgets.test.capstan.dev';
    const crdName = `gadgets.${group}`;
    await kube.extensions
      .createCustomResourceDefinition({
        body: {
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: crdName },
          spec: {
            group,
            scope: 'Namespaced',
            names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
            versions: [
              {
                name: 'v1',
                served: true,
                storage: true,
                schema: {
                  openAPIV3Schema: {
                    type: 'object',
                    properties: {
                      spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } },
                    },
                  },
                },
              },
            ],
          },
        },
      })
      .catch((error: unknown) => {
        if ((error as { code?: number }).code !== 409) throw error;
      });
    await eventually(
      async () => {
        const crd = await kube.extensions.readCustomResourceDefinition({ name: crdName });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true;
      },
      { what: `CustomResourceDefinition ${crdName} Established` },
    );
    const custom = kube.config.makeApiClient(k8s.CustomObjectsApi);
    await eventually(
      () =>
        custom.createNamespacedCustomObject({
          group,
          version: 'v1',
          namespace,
          plural: 'gadgets',
          body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 3 } },
        }),
      { what: 'the new kind to be served' },
    );
    const read = (await custom.getNamespacedCustomObject({
      group,
      version: 'v1',
      namespace,
      plural: 'gadgets',
      name: 'g1',
    })) as {
      spec: { size: number };
    };
    assert.equal(read.spec.size, 3);
    // The schema is enforced by the real API server.
    await assert.rejects(
      custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace,
        plural: 'gadgets',
        body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g2' }, spec: { size: 0 } },
      }),
      /spec.size/,
    );
  });

  it('applies a Deployment server-side twice; the second apply changes nothing; it becomes Available through kwok', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const desired = deployment(namespace, 'api', 2);
    const apply = () =>
      kube.objects.patch(desired, undefined, undefined, 'capstan', false, k8s.PatchStrategy.ServerSideApply);
    const created = await apply();
    assert.ok(
      created.metadata?.managedFields?.some((f) => f.manager === 'capstan' && f.operation === 'Apply'),
    );

    // The controllers write status while the rollout runs; once it is Available the object is at rest.
    const available = await eventually(
      async () => {
        const d = await kube.apps.readNamespacedDeployment({ name: 'api', namespace });
        const ok =
          d.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') === true &&
          d.status.readyReplicas === 2 &&
          d.status.observedGeneration === d.metadata?.generation;
        return ok ? d : false;
      },
      { what: `Deployment/${namespace}/api Available`, timeoutMs: 60_000 },
    );
    assert.equal(available.status?.updatedReplicas, 2);

    const again = await apply();
    assert.equal(
      again.metadata?.resourceVersion,
      available.metadata?.resourceVersion,
      'a no-op apply must not write',
    );
    assert.equal(again.metadata?.generation, created.metadata?.generation);
    assert.deepEqual(again.metadata?.managedFields, available.metadata?.managedFields);
    const reread = await kube.apps.readNamespacedDeployment({ name: 'api', namespace });
    assert.equal(reread.metadata?.resourceVersion, available.metadata?.resourceVersion);

    const replicaSets = await kube.apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=api' });
    assert.equal(replicaSets.items.length, 1);
    assert.equal(replicaSets.items[0]?.status?.readyReplicas, 2);
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: 'app=api' });
    assert.equal(pods.items.length, 2);
    for (const pod of pods.items) {
      assert.equal(pod.status?.phase, 'Running');
      assert.ok(pod.spec?.nodeName?.startsWith('kwok-node-'), 'scheduled by kube-scheduler onto a kwok node');
      assert.ok(pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }
  });

  it('rolls out StatefulSets, DaemonSets and Jobs as a real cluster does', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const labels = (app: string) => ({ app });
    const pod = (app: string): k8s.V1PodTemplateSpec => ({
      metadata: { labels: labels(app) },
      spec: { containers: [{ name: 'c', image: 'registry.invalid/c:1' }] },
    });
    await kube.apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'db' },
        spec: {
          serviceName: 'db',
          replicas: 2,
          selector: { matchLabels: labels('db') },
          template: pod('db'),
        },
      },
    });
    await kube.apps.createNamespacedDaemonSet({
      namespace,
      body: {
        metadata: { name: 'agent' },
        spec: { selector: { matchLabels: labels('agent') }, template: pod('agent') },
      },
    });
    const batch = kube.config.makeApiClient(k8s.BatchV1Api);
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: 'migrate' },
        spec: {
          template: {
            metadata: { labels: labels('migrate') },
            spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'registry.invalid/c:1' }] },
          },
        },
      },
    });
    await eventually(
      async () => {
        const s = await kube.apps.readNamespacedStatefulSet({ name: 'db', namespace });
        return s.status?.readyReplicas === 2 && s.status.currentRevision === s.status.updateRevision;
      },
      { what: 'StatefulSet db ready', timeoutMs: 60_000 },
    );
    await eventually(
      async () => {
        const d = await kube.apps.readNamespacedDaemonSet({ name: 'agent', namespace });
        const nodes = (await kube.core.listNode()).items.length;
        return d.status?.desiredNumberScheduled === nodes && d.status.numberReady === nodes;
      },
      { what: 'DaemonSet agent ready on every node', timeoutMs: 60_000 },
    );
    await eventually(
      async () => {
        const j = await batch.readNamespacedJob({ name: 'migrate', namespace });
        return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') === true;
      },
      { what: 'Job migrate Complete', timeoutMs: 60_000 },
    );
  });

  it('delivers a change to a watcher', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'settings' }, data: { level: 'info' } },
    });
    const seen: string[] = [];
    const watch = new k8s.Watch(kube.config);
    const controller = await watch.watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { fieldSelector: 'metadata.name=settings' },
      (phase, obj: k8s.V1ConfigMap) => {
        seen.push(`${phase}:${obj.data?.['level'] ?? ''}`);
      },
      () => undefined,
    );
    try {
      await eventually(() => seen.includes('ADDED:info'), { what: 'the initial ADDED event' });
      await kube.core.patchNamespacedConfigMap(
        { namespace, name: 'settings', body: { data: { level: 'debug' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await eventually(() => seen.includes('MODIFIED:debug'), { what: 'the MODIFIED event' });
    } finally {
      controller.abort();
    }
  });
});

describe('kwok failure simulation', () => {
  it('fails the container of a pod labelled for it, as a crashing workload would', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await kube.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'crasher', labels: { 'pod-container-running-failed.stage.kwok.x-k8s.io': 'true' } },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    });
    const failed = await eventually(
      async () => {
        const pod = await kube.core.readNamespacedPod({ name: 'crasher', namespace });
        const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
        return terminated ?? false;
      },
      { what: 'the container to be terminated', timeoutMs: 30_000 },
    );
    assert.notEqual(failed.exitCode, 0);
  });
});
