import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../../src/core/duration.ts';
import { HEALTH_STATUSES } from '../../../src/core/health.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import {
  APPLICATION_DEFAULTS,
  HISTORY_LIMIT,
  appendHistory,
  applicationCrd,
  applicationOpenApiSchema,
  resolveSpec,
  validateApplication,
  type Application,
  type HistoryEntry,
} from '../../../src/contracts/application.ts';
import { structuralSchema } from '../../../src/contracts/structural.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const T0 = '2025-01-31T12:00:00Z';

function app(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: { name: 'web', namespace: 'team-a' },
    spec,
    ...extra,
  };
}

const minimal = () => app({ source: { repoURL: 'https://git.example.com/team/config.git' } });

const full = () =>
  app(
    {
      source: {
        repoURL: 'git@git.example.com:team/config.git',
        targetRevision: '>=1.2 <2',
        path: 'charts/web',
        type: 'helm',
        helm: {
          releaseName: 'web',
          valueFiles: ['values-prod.yaml'],
          values: 'replicas: 2\n',
          parameters: [
            { name: 'image.tag', value: '1.10', forceString: true },
            { name: 'ingress.hosts[0]', value: 'a,b' },
          ],
          skipCrds: true,
        },
        secretRef: { name: 'git-credentials' },
        insecureHttp: false,
      },
      destination: { cluster: 'prod-eu', namespace: 'web' },
      syncPolicy: {
        automated: { prune: true, selfHeal: true, allowEmpty: false },
        retry: { limit: 10, backoff: { duration: '1s', factor: 1.5, maxDuration: '10m' } },
        syncOptions: ['CreateNamespace=true', 'PruneLast=true'],
      },
      interval: '1h30m',
      suspend: false,
      dependsOn: [{ name: 'database' }, { name: 'cert-manager', namespace: 'platform' }],
      ignoreDifferences: [
        {
          group: 'apps',
          kind: 'Deployment',
          name: 'web',
          namespace: 'web',
          jsonPointers: ['/spec/replicas', '/metadata/annotations/a~1b'],
          managedFieldsManagers: ['kube-controller-manager'],
        },
      ],
    },
    {
      status: {
        observedGeneration: 3,
        conditions: [
          { type: 'Ready', status: 'True', reason: 'Synced', message: '', lastTransitionTime: T0 },
          { type: 'Reconciling', status: 'False', reason: 'Idle', message: '', lastTransitionTime: T0 },
          { type: 'Stalled', status: 'False', reason: 'Idle', message: '', lastTransitionTime: T0 },
        ],
        sync: { status: 'Synced', revision: SHA, digest: 'sha256:0f' },
        health: { status: 'Progressing', message: '1/2 replicas ready' },
        resources: [
          {
            group: '',
            version: 'v1',
            kind: 'Service',
            namespace: 'web',
            name: 'web',
            syncStatus: 'Synced',
            health: { status: 'Healthy' },
          },
        ],
        operation: { phase: 'Running', type: 'rollback', revision: SHA, startedAt: T0 },
        history: [
          {
            id: 7,
            revision: SHA,
            digest: 'sha256:0f',
            author: 'Ada Lovelace',
            message: 'web: two replicas',
            startedAt: T0,
            finishedAt: '2025-01-31T12:00:05.250+01:00',
            result: 'Failed',
            summary: '1 failed',
          },
        ],
        hold: { revision: SHA, reason: 'rolled back by ada', since: T0 },
      },
    },
  );

/** The errors of an object that must be invalid. */
function errorsOf(object: unknown): string[] {
  const result = validateApplication(object);
  assert.equal(result.ok, false, 'expected the object to be refused');
  return result.errors;
}

/** Sets `value` at a dotted path of a copy of `object` (undefined deletes). */
function withField(object: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(object);
  const keys = path.split('.');
  let node = copy;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys.at(-1) ?? '';
  if (value === undefined) Reflect.deleteProperty(node, last);
  else node[last] = value;
  return copy;
}

describe('validateApplication: valid objects', () => {
  it('takes the smallest Application: a repository URL', () => {
    const result = validateApplication(minimal());
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
    assert.equal(result.value.spec.source.repoURL, 'https://git.example.com/team/config.git');
  });

  it('takes every field of spec and status', () => {
    const result = validateApplication(full());
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  });

  it('takes each renderer with its own options, and each health and sync word', () => {
    for (const source of [
      { type: 'directory', directory: { recurse: false, include: ['*.yaml'], exclude: ['secret-*.yaml'] } },
      { type: 'kustomize', kustomize: {} },
      { directory: { recurse: true } },
      { insecureHttp: true, repoURL: 'http://127.0.0.1:8080/repo.git' },
    ]) {
      const object = app({ source: { repoURL: 'https://git.example.com/x.git', ...source } });
      const result = validateApplication(object);
      assert.ok(result.ok, `${JSON.stringify(source)}: ${result.ok ? '' : result.errors.join('; ')}`);
    }
    for (const status of HEALTH_STATUSES) {
      assert.ok(validateApplication({ ...minimal(), status: { health: { status } } }).ok, status);
    }
  });

  it('drops fields set to null, as the API server does, and returns the cleaned copy', () => {
    const object = withField(minimal(), 'spec.source.directory', null);
    const result = validateApplication(object);
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
    assert.equal('directory' in result.value.spec.source, false);
  });

  it('takes the metadata the API server adds', () => {
    const object = withField(minimal(), 'metadata', {
      name: 'web',
      namespace: 'team-a',
      uid: '5b6f',
      resourceVersion: '42',
      generation: 2,
      creationTimestamp: T0,
      managedFields: [{ manager: 'kubectl' }],
      finalizers: ['capstan.dev/resources'],
    });
    assert.ok(validateApplication(object).ok);
  });

  it('gives a value usable wherever a KubeObject is', () => {
    const result = validateApplication(minimal());
    assert.ok(result.ok);
    const object: KubeObject = result.value;
    assert.equal(object.metadata.name, 'web');
  });
});

describe('validateApplication: errors name the field', () => {
  const cases: { what: string; object: unknown; errors: string[] }[] = [
    { what: 'not an object', object: 'web', errors: ['(object): must be an object'] },
    {
      what: 'nothing at all',
      object: {},
      errors: ['apiVersion: required', 'kind: required', 'metadata: required', 'spec: required'],
    },
    {
      what: 'a bad name, and no namespace needed',
      object: withField(minimal(), 'metadata', { name: 'Web_App' }),
      errors: [
        'metadata.name: must be a Kubernetes object name (lower-case letters, digits, - and .), not "Web_App"',
      ],
    },
    {
      what: 'a field beside spec and status',
      object: { ...minimal(), specs: {} },
      errors: ['specs: unknown field'],
    },
    {
      what: 'another kind',
      object: withField(minimal(), 'kind', 'Deployment'),
      errors: ['kind: must be "Application"'],
    },
    {
      what: 'no repository',
      object: withField(minimal(), 'spec.source.repoURL', undefined),
      errors: ['spec.source.repoURL: required'],
    },
    {
      what: 'an empty repository URL',
      object: withField(minimal(), 'spec.source.repoURL', ''),
      errors: ['spec.source.repoURL: must not be empty'],
    },
    {
      what: 'a misspelt field',
      object: withField(minimal(), 'spec.source.repoUrl', 'https://x'),
      errors: ['spec.source.repoUrl: unknown field'],
    },
    {
      what: 'an unknown renderer',
      object: withField(minimal(), 'spec.source.type', 'jsonnet'),
      errors: ['spec.source.type: must be one of directory, kustomize, helm, not "jsonnet"'],
    },
    {
      what: 'a bad sync option and a repeated one',
      object: withField(minimal(), 'spec.syncPolicy', {
        syncOptions: ['Validate=false', 'PruneLast=true', 'PruneLast=true'],
      }),
      errors: [
        'spec.syncPolicy.syncOptions[0]: must be one of CreateNamespace=true, Replace=true, ForceConflicts=true, PruneLast=true, not "Validate=false"',
        'spec.syncPolicy.syncOptions: must not list the same value twice',
      ],
    },
    {
      what: 'durations without units or with spaces',
      object: withField(withField(minimal(), 'spec.interval', '180'), 'spec.syncPolicy', {
        retry: { backoff: { duration: '5 s' } },
      }),
      errors: [
        'spec.syncPolicy.retry.backoff.duration: must be a duration such as 30s, 5m or 1h30m, not "5 s"',
        'spec.interval: must be a duration such as 30s, 5m or 1h30m, not "180"',
      ],
    },
    {
      what: 'wrong types',
      object: withField(withField(minimal(), 'spec.suspend', 'yes'), 'spec.syncPolicy', {
        automated: { prune: 1 },
        retry: { limit: 2.5 },
      }),
      errors: [
        'spec.syncPolicy.automated.prune: must be true or false',
        'spec.syncPolicy.retry.limit: must be a whole number',
        'spec.suspend: must be true or false',
      ],
    },
    {
      what: 'a bad reference in a list',
      object: withField(minimal(), 'spec.dependsOn', [
        { name: 'db' },
        { name: 'Bad_Name' },
        { namespace: 'x' },
      ]),
      errors: [
        'spec.dependsOn[1].name: must be a Kubernetes object name (lower-case letters, digits, - and .), not "Bad_Name"',
        'spec.dependsOn[2].name: required',
      ],
    },
    {
      what: 'a bad JSON pointer',
      object: withField(minimal(), 'spec.ignoreDifferences', [
        { kind: 'Deployment', jsonPointers: ['spec.replicas'] },
      ]),
      errors: [
        'spec.ignoreDifferences[0].jsonPointers[0]: must be a JSON pointer such as /spec/replicas, not "spec.replicas"',
      ],
    },
    {
      what: 'a bad destination',
      object: withField(minimal(), 'spec.destination', { namespace: 'Web Apps', cluster: '' }),
      errors: [
        'spec.destination.cluster: must not be empty',
        'spec.destination.namespace: must be a namespace name (lower-case letters, digits and -, at most 63), not "Web Apps"',
      ],
    },
    {
      what: 'a status of other words',
      object: { ...minimal(), status: { sync: { status: 'Drifted' }, health: { status: 'Broken' } } },
      errors: [
        'status.sync.status: must be one of Synced, OutOfSync, Unknown, not "Drifted"',
        'status.health.status: must be one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown, not "Broken"',
      ],
    },
    {
      what: 'a condition without its fields, and a bad time',
      object: {
        ...minimal(),
        status: { conditions: [{ type: 'Ready', status: 'Yes', lastTransitionTime: 'yesterday' }] },
      },
      errors: [
        'status.conditions[0].reason: required',
        'status.conditions[0].message: required',
        'status.conditions[0].status: must be one of True, False, Unknown, not "Yes"',
        'status.conditions[0].lastTransitionTime: must be a time in RFC 3339 format such as 2025-01-31T12:00:00Z',
      ],
    },
    {
      what: 'a history beyond the bound',
      object: {
        ...minimal(),
        status: {
          history: Array.from({ length: HISTORY_LIMIT + 1 }, (_, i) => ({
            id: i + 1,
            revision: SHA,
            startedAt: T0,
            result: 'Succeeded',
          })),
        },
      },
      errors: [`status.history: must have at most ${HISTORY_LIMIT} items`],
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      assert.deepEqual(errorsOf(c.object), c.errors);
    });
  }
});

describe('validateApplication: rules across fields', () => {
  const source = (fields: Record<string, unknown>) =>
    app({ source: { repoURL: 'https://git.example.com/x.git', ...fields } });
  const cases: { what: string; object: unknown; errors: string[] }[] = [
    {
      what: 'two renderers',
      object: source({ helm: {}, kustomize: {} }),
      errors: ['spec.source: set at most one of directory, helm and kustomize'],
    },
    {
      what: 'a Helm parameter whose name holds = or a space',
      object: source({ helm: { parameters: [{ name: 'image.tag=1', value: '2' }] } }),
      errors: [
        'spec.source.helm.parameters[0].name: must be a value path such as image.tag (no = and no spaces), not "image.tag=1"',
      ],
    },
    {
      what: 'options of another type',
      object: source({ type: 'kustomize', helm: {} }),
      errors: ['spec.source.type: the options (directory, helm or kustomize) must be those of the type'],
    },
    {
      what: 'a path out of the repository',
      object: source({ path: 'apps/../../etc' }),
      errors: ['spec.source.path: must stay inside the repository: no leading / and no .. segment'],
    },
    {
      what: 'an absolute path',
      object: source({ path: '/etc' }),
      errors: ['spec.source.path: must stay inside the repository: no leading / and no .. segment'],
    },
    {
      what: 'a chart with a path',
      object: source({ repoURL: 'https://charts.example.com/stable', chart: 'web', path: 'web' }),
      errors: [
        'spec.source.chart: set either path (a folder of a git repository) or chart (a chart of a Helm repository), not both',
      ],
    },
    {
      what: 'a chart rendered as a Kustomize folder',
      object: source({ repoURL: 'https://charts.example.com/stable', chart: 'web', type: 'kustomize' }),
      errors: [
        'spec.source.chart: a chart is rendered by helm: type helm (or none), and no directory or kustomize options',
      ],
    },
    {
      what: 'an OCI registry without a chart',
      object: source({ repoURL: 'oci://registry.example.com/charts' }),
      errors: ['spec.source.repoURL: an oci:// repoURL is a Helm registry: name the chart (chart)'],
    },
    {
      what: 'a chart name with a slash',
      object: source({ repoURL: 'https://charts.example.com/stable', chart: 'stable/web' }),
      errors: ['spec.source.chart: must be a chart name (letters, digits, ., _ and -), not "stable/web"'],
    },
    {
      what: 'plain http without the flag',
      object: source({ repoURL: 'HTTP://git.example.com/x.git' }),
      errors: ['spec.source.repoURL: a plain http:// URL needs insecureHttp: true (prefer https)'],
    },
    {
      what: 'an interval too short',
      object: app({ source: { repoURL: 'https://x.example/r.git' }, interval: '999ms' }),
      errors: ['spec.interval: must be at least 1s'],
    },
    {
      what: 'a backoff whose longest wait is shorter than the first (with the default maximum)',
      object: app({
        source: { repoURL: 'https://x.example/r.git' },
        syncPolicy: { retry: { backoff: { duration: '4m' } } },
      }),
      errors: ['spec.syncPolicy.retry.backoff.maxDuration: must not be shorter than duration'],
    },
    {
      what: 'a dependency on itself (in its own namespace, named or implied)',
      object: app({
        source: { repoURL: 'https://x.example/r.git' },
        dependsOn: [{ name: 'web' }, { name: 'web', namespace: 'team-b' }],
      }),
      errors: ['spec.dependsOn: an Application cannot depend on itself'],
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      assert.deepEqual(errorsOf(c.object), c.errors);
    });
  }

  it('passes the same fields when they agree', () => {
    for (const fields of [
      { path: 'apps/..web/x..y', type: 'helm', helm: {} },
      { path: '.', repoURL: 'http://127.0.0.1/r.git', insecureHttp: true },
    ]) {
      assert.ok(validateApplication(source(fields)).ok, JSON.stringify(fields));
    }
  });

  it('still checks the rules of parts that are valid when others are not', () => {
    const object = withField(source({ path: '../x' }), 'spec.suspend', 'no');
    assert.deepEqual(errorsOf(object), [
      'spec.suspend: must be true or false',
      'spec.source.path: must stay inside the repository: no leading / and no .. segment',
    ]);
  });
});

describe('resolveSpec', () => {
  const resolved = (object: unknown) => {
    const result = validateApplication(object);
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
    return resolveSpec(result.value);
  };

  it('fills in every documented default', () => {
    assert.deepEqual(resolved(minimal()), {
      project: 'default',
      source: {
        repoURL: 'https://git.example.com/team/config.git',
        targetRevision: 'HEAD',
        path: '.',
        insecureHttp: false,
      },
      destination: { cluster: 'in-cluster', namespace: 'team-a' },
      retry: { limit: 5, backoffMs: 5000, factor: 2, maxBackoffMs: 180_000 },
      syncOptions: { createNamespace: false, replace: false, forceConflicts: false, pruneLast: false },
      intervalMs: 180_000,
      suspend: false,
      dependsOn: [],
      ignoreDifferences: [],
    });
    assert.equal(APPLICATION_DEFAULTS.interval, '3m');
  });

  it('gives a chart its newest version, its folder as the path and helm as the type', () => {
    const chart = (fields: Record<string, unknown>) =>
      resolved(app({ source: { repoURL: 'oci://registry.example.com/charts', chart: 'web', ...fields } }))
        .source;
    assert.deepEqual(chart({}), {
      repoURL: 'oci://registry.example.com/charts',
      chart: 'web',
      targetRevision: '*',
      path: 'web',
      type: 'helm',
      insecureHttp: false,
    });
    assert.equal(chart({ targetRevision: '^1.2' }).targetRevision, '^1.2');
    assert.equal(chart({ helm: { releaseName: 'site' } }).helm?.releaseName, 'site');
  });

  it('keeps what is set, and defaults what automated leaves out', () => {
    const spec = resolved(full());
    assert.deepEqual(spec.automated, { prune: true, selfHeal: true, allowEmpty: false });
    assert.deepEqual(spec.destination, { cluster: 'prod-eu', namespace: 'web' });
    assert.deepEqual(spec.retry, { limit: 10, backoffMs: 1000, factor: 1.5, maxBackoffMs: 600_000 });
    assert.equal(spec.intervalMs, 5_400_000);
    assert.deepEqual(spec.syncOptions, {
      createNamespace: true,
      replace: false,
      forceConflicts: false,
      pruneLast: true,
    });
    assert.deepEqual(spec.dependsOn, [
      { name: 'database', namespace: 'team-a' },
      { name: 'cert-manager', namespace: 'platform' },
    ]);
    const automatedOnly = resolved(withField(minimal(), 'spec.syncPolicy', { automated: {} }));
    assert.deepEqual(automatedOnly.automated, { prune: false, selfHeal: false, allowEmpty: false });
  });
});

describe('appendHistory', () => {
  const entry = (revision: string): Omit<HistoryEntry, 'id'> => ({
    revision,
    startedAt: T0,
    result: 'Succeeded',
  });

  it('numbers entries and keeps the last HISTORY_LIMIT, so that the API server takes them', () => {
    let history: HistoryEntry[] | undefined;
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) history = appendHistory(history, entry(`r${i}`));
    assert.ok(history);
    assert.equal(history.length, HISTORY_LIMIT);
    assert.equal(history[0]?.id, 6);
    assert.equal(history.at(-1)?.id, HISTORY_LIMIT + 5);
    assert.equal(history.at(-1)?.revision, `r${HISTORY_LIMIT + 4}`);
    const object = { ...minimal(), status: { history } };
    assert.ok(validateApplication(object).ok);
  });
});

// ── The CRD ─────────────────────────────────────────────────────────────────────────────────────

/**
 * An independent check of Kubernetes' structural schema rules: every node has a type (unless
 * int-or-string or preserve-unknown-fields), no $ref/$id/$schema/const/definitions, no
 * additionalProperties beside properties, no uniqueItems, combinators without types, and the root's
 * metadata with no more than name and generateName constraints.
 */
function structuralProblems(node: unknown, path = '(root)'): string[] {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return [`${path}: not an object`];
  const n = node as Record<string, unknown>;
  const problems: string[] = [];
  const exempt =
    n['x-kubernetes-int-or-string'] === true || n['x-kubernetes-preserve-unknown-fields'] === true;
  if (typeof n['type'] !== 'string' && !exempt) problems.push(`${path}: no type`);
  for (const key of ['$ref', '$id', '$schema', 'const', 'definitions', 'patternProperties', 'dependencies']) {
    if (key in n) problems.push(`${path}: has ${key}`);
  }
  if ('additionalProperties' in n && 'properties' in n)
    problems.push(`${path}: additionalProperties beside properties`);
  if (n['additionalProperties'] === false) problems.push(`${path}: additionalProperties: false`);
  if (n['uniqueItems'] === true) problems.push(`${path}: uniqueItems: true`);
  for (const combinator of ['anyOf', 'oneOf', 'allOf']) {
    for (const [i, member] of ((n[combinator] ?? []) as Record<string, unknown>[]).entries()) {
      for (const banned of ['type', 'description', 'default', 'additionalProperties', 'nullable'])
        if (banned in member) problems.push(`${path}.${combinator}[${i}]: has ${banned}`);
    }
  }
  if (n['type'] === 'object' && n['properties'] === undefined && n['additionalProperties'] === undefined) {
    if (!exempt && path !== '(root).metadata') {
      // An object without fields prunes everything: allowed, but only where meant.
      if (!path.endsWith('.kustomize')) problems.push(`${path}: an object with no fields`);
    }
  }
  for (const [name, child] of Object.entries((n['properties'] ?? {}) as Record<string, unknown>)) {
    problems.push(...structuralProblems(child, `${path}.${name}`));
  }
  if (n['items'] !== undefined) problems.push(...structuralProblems(n['items'], `${path}[]`));
  if (typeof n['additionalProperties'] === 'object')
    problems.push(...structuralProblems(n['additionalProperties'], `${path}.*`));
  return problems;
}

/** Every node of a schema, with its path. */
function* nodes(node: Record<string, unknown>, path = ''): Generator<[string, Record<string, unknown>]> {
  yield [path, node];
  for (const [name, child] of Object.entries(
    (node['properties'] ?? {}) as Record<string, Record<string, unknown>>,
  ))
    yield* nodes(child, `${path}.${name}`);
  if (node['items']) yield* nodes(node['items'] as Record<string, unknown>, `${path}[]`);
}

describe('applicationCrd', () => {
  const crd = applicationCrd();
  const spec = crd['spec'] as {
    group: string;
    scope: string;
    names: Record<string, unknown>;
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: Record<string, unknown>;
      additionalPrinterColumns: { name: string; jsonPath: string; type: string; priority?: number }[];
      schema: { openAPIV3Schema: Record<string, unknown> };
    }[];
  };
  const [version] = spec.versions;
  assert.ok(version);
  const schema = version.schema.openAPIV3Schema;

  it('names the resource as kubectl users expect', () => {
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.metadata.name, 'applications.capstan.dev');
    assert.equal(spec.group, 'capstan.dev');
    assert.equal(spec.scope, 'Namespaced');
    assert.deepEqual(spec.names, {
      kind: 'Application',
      listKind: 'ApplicationList',
      plural: 'applications',
      singular: 'application',
      shortNames: ['app'],
      categories: ['capstan'],
    });
    assert.equal(version.name, 'v1alpha1');
    assert.equal(version.served && version.storage, true);
    assert.deepEqual(version.subresources, { status: {} });
  });

  it('has printer columns for sync, health, revision and age', () => {
    const columns = version.additionalPrinterColumns.filter((c) => (c.priority ?? 0) === 0);
    assert.deepEqual(
      columns.map((c) => [c.name, c.jsonPath, c.type]),
      [
        ['Sync', '.status.sync.status', 'string'],
        ['Health', '.status.health.status', 'string'],
        ['Revision', '.status.sync.revision', 'string'],
        ['Age', '.metadata.creationTimestamp', 'date'],
      ],
    );
  });

  it('has a structural schema', () => {
    assert.deepEqual(structuralProblems(schema), []);
    assert.deepEqual(schema['required'], ['spec']);
    const properties = schema['properties'] as Record<string, Record<string, unknown>>;
    assert.deepEqual(properties['metadata'], { type: 'object' });
    assert.deepEqual(properties['apiVersion']?.['type'], 'string');
  });

  it('turns unions into enums, uniqueness into a set, and keeps the rules with CEL', () => {
    const byPath = new Map(nodes(schema));
    assert.deepEqual(byPath.get('.spec.source.type')?.['enum'], ['directory', 'kustomize', 'helm']);
    assert.deepEqual(byPath.get('.status.health.status')?.['enum'], [...HEALTH_STATUSES]);
    assert.equal(byPath.get('.spec.syncPolicy.syncOptions')?.['x-kubernetes-list-type'], 'set');
    assert.equal(byPath.get('.status.history')?.['maxItems'], HISTORY_LIMIT);
    assert.equal(byPath.get('.spec.interval')?.['pattern'], DURATION_PATTERN);
    assert.deepEqual(byPath.get('.status.conditions')?.['x-kubernetes-list-map-keys'], ['type']);
    const rules = (path: string) =>
      ((byPath.get(path)?.['x-kubernetes-validations'] ?? []) as { message: string }[]).map((r) => r.message);
    assert.equal(rules('.spec.source').length, 7);
    assert.deepEqual(rules('.spec'), ['must be at least 1s']);
    // The self-dependency rule needs metadata.namespace, which CEL cannot see: ours only.
    assert.deepEqual(rules(''), []);
  });

  it('describes every field of spec (kubectl explain), and quotes the defaults', () => {
    const undescribed = [...nodes(schema)]
      .filter(([path]) => path.startsWith('.spec') && !path.endsWith('[]'))
      .filter(([, node]) => typeof node['description'] !== 'string')
      .map(([path]) => path);
    assert.deepEqual(undescribed, []);
    const described = (path: string) => String(new Map(nodes(schema)).get(path)?.['description']);
    assert.match(described('.spec.interval'), /Default 3m/);
    assert.match(described('.spec.source.targetRevision'), /Default HEAD/);
    assert.match(described('.spec.syncPolicy.retry.limit'), /Default 5\./);
    assert.match(described('.spec.syncPolicy.retry.backoff.maxDuration'), /Default 3m/);
    assert.match(described('.spec.destination.cluster'), /Default 'in-cluster'/);
  });

  it('is the same every time (the install file is generated from it)', () => {
    assert.deepEqual(applicationOpenApiSchema(), schema);
  });
});

describe('structuralSchema', () => {
  it('refuses what Kubernetes would', () => {
    assert.throws(
      () => structuralSchema(Type.Union([Type.String(), Type.Object({ a: Type.String() })])),
      /only unions of literals/,
    );
    assert.throws(() => structuralSchema(Type.Tuple([Type.String(), Type.Number()])), /tuples/);
    assert.throws(
      () =>
        structuralSchema({
          type: 'object',
          properties: { a: { type: 'string' } },
          additionalProperties: { type: 'string' },
        }),
      /additionalProperties beside properties/,
    );
    assert.throws(() => structuralSchema(Type.Any()), /needs a type/);
    assert.throws(() => structuralSchema(Type.Record(Type.String(), Type.String())), /patternProperties/);
  });

  it('keeps maps (additionalProperties without properties) and literals as enums', () => {
    // TypeBox's map: an object of no properties (dropped) and additionalProperties.
    assert.deepEqual(structuralSchema(Type.Object({}, { additionalProperties: Type.String() })), {
      type: 'object',
      additionalProperties: { type: 'string' },
    });
    assert.deepEqual(structuralSchema({ type: 'object', additionalProperties: { type: 'string' } }), {
      type: 'object',
      additionalProperties: { type: 'string' },
    });
    assert.deepEqual(structuralSchema(Type.Literal(3)), { type: 'integer', enum: [3] });
  });
});

describe('static types', () => {
  it('follow the schema (checked by tsc)', () => {
    const renderer: NonNullable<Application['spec']['source']['type']> = 'helm';
    const health: NonNullable<Application['status']>['health'] = { status: 'Degraded', message: 'x' };
    assert.equal(renderer, 'helm');
    assert.equal(health.status, 'Degraded');
  });
});
