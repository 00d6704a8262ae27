import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveSpec, validateApplication, type Application } from '../../../src/contracts/application.ts';
import {
  applicationRender,
  mayRenderHelm,
  type ApplicationRender,
} from '../../../src/contracts/application-render.ts';

const REPO = 'https://git.example.com/team/config.git';

function application(source: Record<string, unknown>, destination?: Record<string, unknown>): Application {
  const validation = validateApplication({
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: { source: { repoURL: REPO, ...source }, ...(destination ? { destination } : {}) },
  });
  if (!validation.ok) throw new Error(JSON.stringify(validation));
  return validation.value;
}

const cases: {
  name: string;
  source: Record<string, unknown>;
  destination?: Record<string, unknown>;
  want: ApplicationRender;
}[] = [
  {
    name: 'detected type, no helm options: the release named after the Application, in its namespace',
    source: {},
    want: { helm: { releaseName: 'web', namespace: 'team-a' }, chartSecrets: [] },
  },
  {
    name: 'the destination namespace is the release namespace',
    source: {},
    destination: { namespace: 'shop' },
    want: { helm: { releaseName: 'web', namespace: 'shop' }, chartSecrets: [] },
  },
  {
    name: "the spec's helm options, without its Secret references, which are the chart Secrets",
    source: {
      type: 'helm',
      helm: {
        releaseName: 'shop',
        valueFiles: ['values-prod.yaml'],
        values: 'size: large\n',
        parameters: [{ name: 'image.tag', value: '1.2.3', forceString: true }],
        skipCrds: true,
        repositorySecretRefs: [{ name: 'charts' }, { name: 'more-charts' }],
      },
    },
    want: {
      type: 'helm',
      helm: {
        releaseName: 'shop',
        namespace: 'team-a',
        valueFiles: ['values-prod.yaml'],
        values: 'size: large\n',
        parameters: [{ name: 'image.tag', value: '1.2.3', forceString: true }],
        skipCrds: true,
      },
      chartSecrets: ['charts', 'more-charts'],
    },
  },
  {
    name: 'a chart of a Helm repository is rendered by helm, over plain http when allowed',
    source: { repoURL: 'http://charts.example.com', chart: 'database', insecureHttp: true },
    want: {
      type: 'helm',
      helm: { releaseName: 'web', namespace: 'team-a' },
      insecureHttp: true,
      chartSecrets: [],
    },
  },
  {
    name: 'a directory: its options, no helm options',
    source: {
      type: 'directory',
      directory: { recurse: false, include: ['*.yaml'] },
    },
    want: { type: 'directory', directory: { recurse: false, include: ['*.yaml'] }, chartSecrets: [] },
  },
  {
    name: 'kustomize: no helm options; insecureHttp false is left out',
    source: { type: 'kustomize', insecureHttp: false },
    want: { type: 'kustomize', chartSecrets: [] },
  },
];

describe('applicationRender', () => {
  for (const c of cases) {
    it(c.name, () => {
      const app = application(c.source, c.destination);
      assert.deepEqual(applicationRender(app, resolveSpec(app)), c.want);
    });
  }

  it('never passes a Secret reference on to the renderer', () => {
    const app = application({ helm: { repositorySecretRefs: [{ name: 'charts' }] } });
    const { chartSecrets, ...options } = applicationRender(app, resolveSpec(app));
    assert.deepEqual(chartSecrets, ['charts']);
    assert.doesNotMatch(JSON.stringify(options), /charts|repositorySecretRefs/);
  });

  it('gives helm the destination capabilities it is given, whenever the render may be helm', () => {
    const capabilities = { kubeVersion: 'v1.36.3', apiVersions: ['v1', 'capstan.dev/v1alpha1/Application'] };
    for (const source of [{}, { type: 'helm' }, { repoURL: 'https://charts.example.com', chart: 'db' }]) {
      const app = application(source);
      assert.equal(mayRenderHelm(resolveSpec(app)), true);
      assert.deepEqual(applicationRender(app, resolveSpec(app), capabilities).helm, {
        releaseName: 'web',
        namespace: 'team-a',
        ...capabilities,
      });
    }
    for (const type of ['directory', 'kustomize']) {
      const app = application({ type });
      assert.equal(mayRenderHelm(resolveSpec(app)), false);
      assert.equal(applicationRender(app, resolveSpec(app), capabilities).helm, undefined);
    }
  });
});
