import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../../src/core/resource.ts';
import { installManifests, RENDER_SANDBOX_SECCOMP_PROFILE } from '../../../src/contracts/install.ts';
import { serverDataProblem } from '../../../src/contracts/install-server.ts';
import { generateInstallYaml, INSTALL_FILE } from '../../../scripts/generate-install.ts';

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const objects = installManifests({ image: 'registry.invalid/capstan:1' });
const find = (kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind}/${name} is in the install`);
  return found;
};
const rulesOf = (object: KubeObject) => object['rules'] as PolicyRule[];

describe('deploy/install.yaml', () => {
  it('is exactly what scripts/generate-install.ts generates (run it after changing the sources)', async () => {
    const committed = await readFile(INSTALL_FILE, 'utf8');
    assert.equal(
      committed,
      await generateInstallYaml(),
      'deploy/install.yaml is stale: node scripts/generate-install.ts',
    );
  });

  it('holds every object, in apply order, as YAML documents', async () => {
    const documents = parseAllDocuments(await readFile(INSTALL_FILE, 'utf8'));
    const kinds = (Array.isArray(documents) ? documents : [documents]).map(
      (d) => (d.toJS() as KubeObject).kind,
    );
    assert.deepEqual(kinds.slice(0, 6), [
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'Namespace',
    ]);
    assert.ok(kinds.indexOf('ServiceAccount') < kinds.indexOf('Deployment'));
    assert.equal(kinds.length, objects.length);
  });
});

describe('installManifests: RBAC', () => {
  const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');

  it('never grants escalate, bind, deletecollection or a wildcard verb, and impersonate by name only', () => {
    for (const role of roles)
      for (const rule of rulesOf(role)) {
        for (const verb of ['escalate', 'bind', 'deletecollection', '*'])
          assert.ok(!rule.verbs.includes(verb), `${role.kind}/${role.metadata.name ?? ''} grants ${verb}`);
        if (rule.verbs.includes('impersonate'))
          assert.deepEqual(
            { ...rule },
            {
              apiGroups: [''],
              resources: ['serviceaccounts'],
              verbs: ['impersonate'],
              resourceNames: ['capstan-deployer'],
            },
          );
      }
  });

  it('has one wide rule, capstan-reader, and it only reads: the agent writes nothing outside its namespace', () => {
    const wide = roles.flatMap((role) =>
      rulesOf(role)
        .filter((rule) => rule.resources.includes('*') || rule.apiGroups.includes('*'))
        .map((rule) => ({ role: role.metadata.name, rule })),
    );
    assert.deepEqual(wide, [
      {
        role: 'capstan-reader',
        rule: { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] },
      },
      // One resource's live manifest and diff (only resources an Application manages; Secrets redacted).
      { role: 'capstan-server', rule: { apiGroups: ['*'], resources: ['*'], verbs: ['get'] } },
    ]);
    assert.ok(!objects.some((o) => o.kind === 'ClusterRole' && o.metadata.name === 'capstan-deployer'));
  });

  it("reads Secrets through the agent's and the server's namespace Roles and per-namespace RoleBindings only", () => {
    const secretRoles = roles.filter((role) =>
      rulesOf(role).some((rule) => rule.resources.includes('secrets')),
    );
    assert.deepEqual(
      secretRoles.map((r) => `${r.kind}/${r.metadata.name ?? ''}`),
      ['Role/capstan-agent', 'ClusterRole/capstan-repository-credentials', 'Role/capstan-server'],
    );
    for (const role of secretRoles.filter((r) => r.metadata.name !== 'capstan-server'))
      for (const rule of rulesOf(role).filter((r) => r.resources.includes('secrets')))
        assert.deepEqual(rule.verbs, ['get', 'list', 'watch']);
    // The server writes its own two Secrets (create cannot be bounded by name; update and patch are).
    const server = rulesOf(find('Role', 'capstan-server')) as { verbs: string[]; resourceNames?: string[] }[];
    assert.deepEqual(
      server.map((r) => [r.verbs, r.resourceNames]),
      [
        [['get', 'list', 'watch', 'create'], undefined],
        [
          ['update', 'patch'],
          ['capstan-server', 'capstan-initial-admin'],
        ],
        [['create'], undefined],
        [
          ['get', 'update'],
          ['capstan-pipelines', 'capstan-promotions', 'capstan-notifications'],
        ],
      ],
    );
    const clusterBindings = objects.filter((o) => o.kind === 'ClusterRoleBinding');
    assert.deepEqual(
      clusterBindings.map((b) => (b['roleRef'] as { name: string }).name),
      ['capstan-agent', 'capstan-reader', 'capstan-server'],
    );
  });

  it('lets the server read, create, patch and delete Applications, read Projects, Pipelines, Environments and Notifications (and write their status) and Events, list what workloads own, read Pod logs, and get (never list or change) other objects', () => {
    assert.deepEqual(rulesOf(find('ClusterRole', 'capstan-server')), [
      {
        apiGroups: ['capstan.dev'],
        resources: ['applications'],
        verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
      },
      { apiGroups: ['capstan.dev'], resources: ['projects'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['capstan.dev'], resources: ['pipelines'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: ['capstan.dev'], resources: ['pipelines/status'], verbs: ['patch'] },
      { apiGroups: ['capstan.dev'], resources: ['environments'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['capstan.dev'], resources: ['environments/status'], verbs: ['patch'] },
      { apiGroups: ['capstan.dev'], resources: ['notifications'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['capstan.dev'], resources: ['notifications/status'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: ['*'], resources: ['*'], verbs: ['get'] },
    ]);
  });

  it('writes Application status and finalizers, and leases only in its namespace', () => {
    const agent = rulesOf(find('ClusterRole', 'capstan-agent'));
    const on = (resource: string) => agent.find((r) => r.resources.includes(resource))?.verbs;
    assert.deepEqual(on('applications'), ['get', 'list', 'watch', 'update', 'patch']);
    assert.deepEqual(on('applications/status'), ['get', 'update', 'patch']);
    assert.deepEqual(on('applications/finalizers'), ['update']);
    assert.deepEqual(on('events'), ['create', 'patch']);
    assert.equal(on('leases'), undefined);
    const role = find('Role', 'capstan-agent');
    assert.equal(role.metadata.namespace, 'capstan-system');
    assert.ok(rulesOf(role).some((r) => r.resources.includes('leases') && r.verbs.includes('update')));
  });

  it('binds the credentials reader in each Application namespace, and follows the namespace option', () => {
    const custom = installManifests({
      image: 'x',
      namespace: 'gitops',
      applicationNamespaces: ['team-a', 'team-b', 'team-a'],
    });
    // Named after the install's namespace (not the default one), so another install's never collide.
    const readers = custom.filter(
      (o) => o.kind === 'RoleBinding' && o.metadata.name === 'capstan-repository-credentials-gitops',
    );
    assert.deepEqual(
      readers.map((b) => b.metadata.namespace),
      ['team-a', 'team-b'],
    );
    // In the Application namespaces: the credentials reader, the impersonator and the default ServiceAccount.
    const perApplicationNamespace = [
      'capstan-repository-credentials-gitops',
      'capstan-impersonator-gitops',
      'capstan-deployer',
    ];
    for (const object of custom) {
      if (object.kind !== 'ClusterRole' && perApplicationNamespace.includes(object.metadata.name ?? '')) {
        assert.ok(['team-a', 'team-b'].includes(object.metadata.namespace ?? ''), object.kind);
        continue;
      }
      if (object.metadata.namespace !== undefined)
        assert.equal(object.metadata.namespace, 'gitops', object.kind);
      for (const subject of (object['subjects'] ?? []) as { namespace: string }[])
        assert.equal(subject.namespace, 'gitops');
    }
  });
});

describe('installManifests: Application namespaces', () => {
  const tenants = installManifests({
    image: 'x',
    applicationNamespaces: ['team-a', 'team-b'],
    impersonate: ['deployer'],
  });
  const roles = tenants.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
  const inNamespace = (kind: string, name: string) =>
    tenants.filter((o) => o.kind === kind && o.metadata.name === name).map((o) => o.metadata.namespace);

  it('impersonates the named ServiceAccounts only, through a RoleBinding in each Application namespace', () => {
    const impersonating = roles.filter((r) => rulesOf(r).some((rule) => rule.verbs.includes('impersonate')));
    assert.deepEqual(
      impersonating.map((r) => r.metadata.name),
      ['capstan-impersonator'],
    );
    const [impersonator] = impersonating;
    assert.ok(impersonator);
    assert.deepEqual(
      rulesOf(impersonator).map((r) => ({ ...r })),
      [
        {
          apiGroups: [''],
          resources: ['serviceaccounts'],
          verbs: ['impersonate'],
          resourceNames: ['capstan-deployer', 'deployer'],
        },
      ],
    );
    assert.deepEqual(inNamespace('RoleBinding', 'capstan-impersonator'), ['team-a', 'team-b']);
    assert.ok(
      !tenants.some((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'capstan-impersonator'),
    );
  });

  it('gives each the default ServiceAccount, which may edit that namespace only', () => {
    assert.deepEqual(inNamespace('ServiceAccount', 'capstan-deployer'), ['team-a', 'team-b']);
    const bindings = tenants.filter(
      (o) => o.kind === 'RoleBinding' && o.metadata.name === 'capstan-deployer',
    );
    assert.deepEqual(
      bindings.map((b) => [b.metadata.namespace, b['roleRef'], b['subjects']]),
      ['team-a', 'team-b'].map((ns) => [
        ns,
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        [{ kind: 'ServiceAccount', name: 'capstan-deployer', namespace: ns }],
      ]),
    );
  });

  it('writes nothing outside its namespace: no write on every resource', () => {
    for (const role of roles)
      for (const rule of rulesOf(role)) {
        const writes = rule.verbs.some((v) => ['create', 'update', 'patch', 'delete'].includes(v));
        if (rule.resources.includes('*')) assert.ok(!writes, `${role.metadata.name ?? ''} writes everything`);
      }
  });
});

describe('installManifests: the agent Deployment', () => {
  const deployment = find('Deployment', 'capstan-agent');
  const spec = deployment['spec'] as {
    replicas: number;
    template: { spec: { securityContext: Record<string, unknown>; containers: Record<string, unknown>[] } };
  };
  const [container] = spec.template.spec.containers;
  assert.ok(container);

  it('runs two replicas of `capstan agent` from the image, applying as capstan-deployer by default', () => {
    assert.equal(spec.replicas, 2);
    assert.equal(container['image'], 'registry.invalid/capstan:1');
    assert.deepEqual(container['args'], ['agent', '--default-service-account', 'capstan-deployer']);
  });

  it('runs as a non-root user on a read-only root file system, without privileges', () => {
    assert.equal(spec.template.spec.securityContext['runAsNonRoot'], true);
    assert.deepEqual(container['securityContext'], {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('runs under RuntimeDefault seccomp, or the render sandbox profile (Localhost) when asked', () => {
    assert.deepEqual(spec.template.spec.securityContext['seccompProfile'], { type: 'RuntimeDefault' });
    const withProfile = installManifests({ image: 'registry.invalid/capstan:1', renderSandboxProfile: true });
    const agent = withProfile.find((o) => o.kind === 'Deployment' && o.metadata.name === 'capstan-agent');
    const pod = (agent?.['spec'] as typeof spec).template.spec;
    assert.deepEqual(pod.securityContext['seccompProfile'], {
      type: 'Localhost',
      localhostProfile: RENDER_SANDBOX_SECCOMP_PROFILE,
    });
  });

  it('serves health on 8080, metrics on 8081 and webhooks on 8082, probed on /healthz and /readyz', () => {
    const ports = container['ports'] as { name: string; containerPort: number }[];
    assert.deepEqual(
      ports.map((p) => [p.name, p.containerPort]),
      [
        ['health', 8080],
        ['metrics', 8081],
        ['webhooks', 8082],
      ],
    );
    const path = (probe: string) => (container[probe] as { httpGet: { path: string; port: string } }).httpGet;
    assert.deepEqual(path('livenessProbe'), { path: '/healthz', port: 'health' });
    assert.deepEqual(path('readinessProbe'), { path: '/readyz', port: 'health' });
    const resources = container['resources'] as {
      requests: Record<string, string>;
      limits: Record<string, string>;
    };
    assert.ok(resources.requests['cpu'] && resources.requests['memory'] && resources.limits['memory']);
  });
});

describe('installManifests: the network', () => {
  const policy = objects.find((o) => o.kind === 'NetworkPolicy');
  const spec = policy?.['spec'] as {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: string[];
    ingress: { ports: { port: number }[] }[];
    egress: { to?: { ipBlock: { cidr: string; except: string[] } }[]; ports?: { port: number }[] }[];
  };

  it('lets in only the health, metrics and webhook ports of the agent', () => {
    assert.ok(policy, 'a NetworkPolicy');
    assert.deepEqual(spec.podSelector.matchLabels, {
      'app.kubernetes.io/name': 'capstan',
      'app.kubernetes.io/component': 'agent',
    });
    assert.deepEqual(spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(
      spec.ingress.flatMap((rule) => rule.ports.map((p) => p.port)),
      [8080, 8081, 8082],
    );
  });

  it('lets out DNS anywhere and everything else but link-local addresses (metadata services)', () => {
    assert.deepEqual(
      spec.egress[0]?.ports?.map((p) => p.port),
      [53, 53],
    );
    assert.deepEqual(
      spec.egress[1]?.to?.map((peer) => [peer.ipBlock.cidr, peer.ipBlock.except]),
      [
        ['0.0.0.0/0', ['169.254.0.0/16']],
        ['::/0', ['fe80::/10']],
      ],
    );
  });

  it('exposes the webhook port alone through its own Service', () => {
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'capstan-agent-webhooks');
    assert.deepEqual((service?.['spec'] as { ports: unknown[] }).ports, [
      { name: 'webhooks', port: 80, targetPort: 'webhooks' },
    ]);
  });
});

describe('installManifests: the server drives pipeline runs', () => {
  const withRuns = installManifests({
    image: 'registry.invalid/capstan@sha256:ab',
    pipelineNamespaces: ['team-a', 'team-b', 'team-a'],
    buildkit: { image: 'registry.invalid/buildkit@sha256:cd' },
  });
  const serverContainer = (install: KubeObject[]) => {
    const deployment = install.find((o) => o.kind === 'Deployment' && o.metadata.name === 'capstan-server');
    const spec = deployment?.['spec'] as { template: { spec: { containers: Record<string, unknown>[] } } };
    const [container] = spec.template.spec.containers;
    assert.ok(container);
    return container;
  };

  it('runs `capstan server --promotions --pipeline-image` with its own image, and no BuildKit unless given', () => {
    assert.deepEqual(serverContainer(objects)['args'], [
      'server',
      '--database',
      '/var/lib/capstan/server.db',
      '--port',
      '8080',
      '--promotions',
      '--pipeline-image',
      'registry.invalid/capstan:1',
    ]);
  });

  it('gives it BuildKit with the BuildKit install’s address, server name and client Secret', () => {
    assert.deepEqual((serverContainer(withRuns)['args'] as string[]).slice(6), [
      '--pipeline-image',
      'registry.invalid/capstan@sha256:ab',
      '--buildkit-image',
      'registry.invalid/buildkit@sha256:cd',
      '--buildkit-address',
      'tcp://buildkitd.capstan-buildkit.svc:1234',
      '--buildkit-server-name',
      'buildkitd.capstan-buildkit.svc',
      '--buildkit-client-secret',
      'capstan-buildkit-client',
    ]);
  });

  it('creates, reads and deletes Pods only in the Pipeline namespaces, through a RoleBinding in each', () => {
    const runner = withRuns.filter((o) => o.metadata.name === 'capstan-pipeline-runner');
    assert.deepEqual(
      runner.map((o) => [o.kind, o.metadata.namespace]),
      [
        ['ClusterRole', undefined],
        ['RoleBinding', 'team-a'],
        ['RoleBinding', 'team-b'],
      ],
    );
    const [role, ...bindings] = runner;
    assert.ok(role);
    assert.deepEqual(rulesOf(role), [
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'delete'] },
      { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['get', 'create'] },
    ]);
    for (const binding of bindings)
      assert.deepEqual(binding['subjects'], [
        { kind: 'ServiceAccount', name: 'capstan-server', namespace: 'capstan-system' },
      ]);
    // No Pod write anywhere else, and none by default (the ClusterRole is there, bound nowhere).
    for (const install of [objects, withRuns])
      for (const role of install.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role'))
        for (const rule of rulesOf(role).filter((r) => r.resources.includes('pods')))
          if (rule.verbs.some((v) => v !== 'get' && v !== 'list'))
            assert.equal(role.metadata.name, 'capstan-pipeline-runner');
    assert.ok(
      !objects.some((o) => o.kind === 'RoleBinding' && o.metadata.name === 'capstan-pipeline-runner'),
    );
    assert.ok(
      !withRuns.some((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'capstan-pipeline-runner'),
    );
  });
});

describe('installManifests: the server on SQLite or PostgreSQL', () => {
  const serverOf = (install: KubeObject[]) => {
    const deployment = install.find((o) => o.kind === 'Deployment' && o.metadata.name === 'capstan-server');
    assert.ok(deployment);
    return deployment['spec'] as {
      replicas: number;
      strategy: Record<string, unknown>;
      template: {
        spec: {
          containers: { args: string[]; env: Record<string, unknown>[]; volumeMounts: { name: string }[] }[];
          volumes: { name: string }[];
        };
      };
    };
  };
  const storeEnv = (spec: ReturnType<typeof serverOf>) =>
    spec.template.spec.containers[0]?.env.find((e) => e['name'] === 'CAPSTAN_STORE_URL');

  it('by default: one replica owning its SQLite file, replaced by Recreate; a PostgreSQL Secret optional', () => {
    const spec = serverOf(objects);
    assert.equal(spec.replicas, 1);
    assert.deepEqual(spec.strategy, { type: 'Recreate' });
    assert.ok(spec.template.spec.containers[0]?.args.includes('--database'));
    assert.deepEqual(storeEnv(spec)?.['valueFrom'], {
      secretKeyRef: { name: 'capstan-server-store', key: 'url', optional: true },
    });
  });

  it('by default: the SQLite file on a claim of its own (ReadWriteOnce, the default StorageClass), made before the Deployment', () => {
    const spec = serverOf(objects);
    const claims = objects.filter((o) => o.kind === 'PersistentVolumeClaim');
    assert.deepEqual(
      claims.map((c) => [c.metadata.namespace, c.metadata.name, c['spec']]),
      [
        [
          'capstan-system',
          'capstan-server-data',
          { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        ],
      ],
    );
    const data = spec.template.spec.volumes.find((v) => v.name === 'data');
    assert.deepEqual(data, { name: 'data', persistentVolumeClaim: { claimName: 'capstan-server-data' } });
    const args = spec.template.spec.containers[0]?.args ?? [];
    assert.equal(args[args.indexOf('--database') + 1], '/var/lib/capstan/server.db');
    assert.ok(
      spec.template.spec.containers[0]?.volumeMounts.some(
        (m) => m.name === 'data' && (m as { mountPath?: string }).mountPath === '/var/lib/capstan',
      ),
    );
    const at = (kind: string, name: string) =>
      objects.findIndex((o) => o.kind === kind && o.metadata.name === name);
    assert.ok(at('PersistentVolumeClaim', 'capstan-server-data') < at('Deployment', 'capstan-server'));
    // No claim with PostgreSQL: several replicas share the database, not a volume.
    const postgres = installManifests({ image: 'registry.invalid/capstan:1', serverStore: 'postgres' });
    assert.ok(!postgres.some((o) => o.kind === 'PersistentVolumeClaim'));
  });

  it('names the cluster-wide RBAC of an install in another namespace after it; the default install keeps its names', () => {
    const named = (list: KubeObject[], kind: string) =>
      list.filter((o) => o.kind === kind).map((o) => o.metadata.name ?? '');
    assert.deepEqual(named(objects, 'ClusterRoleBinding').sort(), [
      'capstan-agent',
      'capstan-reader',
      'capstan-server',
    ]);
    const other = installManifests({
      image: 'registry.invalid/capstan:1',
      namespace: 'team-b',
      applicationNamespaces: ['apps'],
      pipelineNamespaces: ['apps'],
    });
    assert.deepEqual(named(other, 'ClusterRoleBinding').sort(), [
      'capstan-agent-team-b',
      'capstan-reader-team-b',
      'capstan-server-team-b',
    ]);
    assert.ok(
      named(other, 'ClusterRole').every((n) => n.endsWith('-team-b')),
      named(other, 'ClusterRole').join(),
    );
    // Every binding refers to a role of the same install; the RoleBindings in a shared namespace are its own.
    const roles = new Set([...named(other, 'ClusterRole'), ...named(other, 'Role')]);
    for (const binding of other.filter((o) => o.kind.endsWith('Binding'))) {
      const ref = (binding['roleRef'] as { name: string }).name;
      assert.ok(roles.has(ref) || ref === 'edit', `${binding.kind}/${binding.metadata.name ?? ''} → ${ref}`);
    }
    const inApps = other.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'apps');
    assert.deepEqual(inApps.map((o) => o.metadata.name).sort(), [
      'capstan-deployer',
      'capstan-impersonator-team-b',
      'capstan-pipeline-runner-team-b',
      'capstan-repository-credentials-team-b',
    ]);
  });

  it("takes the SQLite claim's size and StorageClass as options, and refuses what cannot be a claim's", async () => {
    const claimOf = (list: KubeObject[]) => list.find((o) => o.kind === 'PersistentVolumeClaim')?.['spec'];
    assert.deepEqual(claimOf(objects), {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
    });
    const sized = installManifests({
      image: 'registry.invalid/capstan:1',
      serverData: { size: '20Gi', storageClass: 'fast-ssd' },
    });
    assert.deepEqual(claimOf(sized), {
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'fast-ssd',
      resources: { requests: { storage: '20Gi' } },
    });
    const yaml = await generateInstallYaml({ serverData: { size: '500Mi' } });
    assert.match(yaml, /name: capstan-server-data\n[\s\S]*?storage: 500Mi\n/);
    assert.equal(serverDataProblem({ size: '1Gi', storageClass: 'local-path' }), undefined);
    assert.match(serverDataProblem({ size: '5GB' }) ?? '', /size "5GB": give a quantity/);
    assert.match(serverDataProblem({ size: '-1Gi' }) ?? '', /size "-1Gi"/);
    assert.match(
      serverDataProblem({ storageClass: 'Fast_SSD' }) ?? '',
      /StorageClass "Fast_SSD": give an object name/,
    );
  });

  it('with store postgres: two replicas on the database of the required Secret, replaced by a rolling update', () => {
    const spec = serverOf(installManifests({ image: 'registry.invalid/capstan:1', serverStore: 'postgres' }));
    assert.equal(spec.replicas, 2);
    assert.deepEqual(spec.strategy, {
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
    const [container] = spec.template.spec.containers;
    assert.equal(container?.args.includes('--database'), false, 'no SQLite file');
    assert.deepEqual(storeEnv(spec)?.['valueFrom'], {
      secretKeyRef: { name: 'capstan-server-store', key: 'url', optional: false },
    });
    assert.deepEqual(
      spec.template.spec.volumes.map((v) => v.name),
      ['cache', 'tmp'],
    );
    assert.deepEqual(
      container.volumeMounts.map((v) => v.name),
      ['cache', 'tmp'],
    );
  });
});
