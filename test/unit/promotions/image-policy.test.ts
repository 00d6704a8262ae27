// The promotion driver with an Environment that follows an image repository (spec.source.imagePolicy),
// on the SQLite Store and a registry given as a list of tags: the newest tag in the range is promoted
// once, by digest; the registry is asked again only after the interval (reconcile says when); a newer
// tag is promoted; an error (a refusal, no tag in the range, a range that is not one) promotes nothing,
// keeps what was chosen before and is written to status.imagePolicy once. The promotion metrics of the
// same steps, read from the registry's text: counts by state, the gates' failures, the time waiting for
// an approval and from Pending to the end.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { Registry } from '../../../src/controller/metrics.ts';
import { promotionMetrics } from '../../../src/controller/promotion-metrics.ts';
import type { ResolvedEnvironment } from '../../../src/contracts/environment.ts';
import type { ImagePolicyStatus } from '../../../src/promotions/image-policy-source.ts';
import {
  decide,
  PromotionDriver,
  requestPromotion,
  type PromotionDeps,
} from '../../../src/promotions/promotion-driver.ts';
import { FakePolicyImages } from '../../../src/testing/fake-policy-images.ts';
import { policyImagesContract } from '../../../src/testing/policy-images-contract.ts';
import { eventually } from '../../../src/testing/eventually.ts';

const REPOSITORY = 'registry.invalid:5000/team/hello';
const digestOf = (tag: string) => `sha256:${Buffer.from(tag).toString('hex').padEnd(64, '0').slice(0, 64)}`;

function environment(
  semver: string,
  status?: { imagePolicy?: ImagePolicyStatus },
  name = 'dev',
): ResolvedEnvironment {
  return {
    namespace: 'team',
    name,
    project: 'default',
    application: 'hello-dev',
    repoURL: 'https://git.invalid/config.git',
    branch: 'main',
    file: 'dev/kustomization.yaml',
    location: { kind: 'kustomize', name: 'hello' },
    credentialsSecret: undefined,
    insecureHttp: false,
    fromPipeline: undefined,
    fromEnvironment: undefined,
    fromImagePolicy: {
      repository: REPOSITORY,
      semver,
      filterTags: undefined,
      secretRef: undefined,
      intervalSeconds: 60,
    },
    healthyForSeconds: 30,
    timeoutSeconds: 600,
    approvalRequired: true,
    verify: undefined,
    status,
  };
}

function harness(options: { readonly background?: boolean } = {}) {
  const woken: string[] = [];
  const store = openSqliteStore({ path: ':memory:' });
  const registry = new Registry();
  const metrics = promotionMetrics(registry);
  const images = new FakePolicyImages();
  for (const tag of ['1.2.0', '1.3.0', '2.0.0', '1.4.0-rc.1']) images.push(REPOSITORY, tag, digestOf(tag));
  const state = {
    clock: Date.parse('2026-12-07T00:00:00Z'),
    written: [] as ImagePolicyStatus[],
  };

  let ids = 0;
  const deps: PromotionDeps = {
    promotions: store.promotions,
    runs: store.runs,
    environments: () => Promise.resolve([]),
    application: () => Promise.resolve(undefined),
    refresh: () => Promise.resolve(),
    commit: () => Promise.resolve({ commit: 'c'.repeat(40), previous: undefined }),
    writeStatus: () => Promise.resolve(),
    images,
    writePolicyStatus: (_namespace, _name, status) => {
      state.written.push(status);
      return Promise.resolve();
    },
    metrics,
    ...(options.background === true
      ? {
          wake: (namespace: string, name: string) => woken.push(`${namespace}/${name}`),
          registryConcurrency: 2,
        }
      : {}),
    now: () => new Date(state.clock),
    newId: () => `p-${String(++ids)}`,
  };
  return { store, registry, state, images, woken, deps, driver: new PromotionDriver(deps) };
}

const imageOf = (tag: string) => `${REPOSITORY}@${digestOf(tag)}`;

/** The value of one sample of the registry's text. */
function sample(registry: Registry, line: string): number | undefined {
  const found = registry
    .expose()
    .split('\n')
    .find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('an Environment following an image repository', () => {
  it('promotes the newest tag in the range once, asks again after the interval, then promotes a newer one', async () => {
    const h = harness();
    let env = environment('>=1.0.0 <2.0.0');
    await h.driver.reconcile(env);
    const [first] = await h.store.promotions.list({ namespace: 'team', environment: 'dev', limit: 10 });
    assert.equal(first?.image, imageOf('1.3.0'));
    assert.equal(first.requestedBy, 'auto');
    assert.deepEqual(h.state.written, [
      { tag: '1.3.0', image: imageOf('1.3.0'), chosenAt: '2026-12-07T00:00:00.000Z' },
    ]);
    // Looked at again at once (an event): the registry is not asked before the interval.
    env = environment('>=1.0.0 <2.0.0', { imagePolicy: h.state.written[0] ?? {} });
    const again = await h.driver.reconcile(env);
    assert.equal(h.images.listed, 1);
    assert.equal(again, 60_000, 'the next look at the registry, as the driver’s next wake');
    // After the interval, the same choice: nothing new.
    h.state.clock += 60_000;
    await h.driver.reconcile(env);
    assert.equal(h.images.listed, 2);
    assert.equal(
      (await h.store.promotions.list({ namespace: 'team', environment: 'dev', limit: 10 })).length,
      1,
    );
    // A newer tag: promoted; the older, not yet committed (waiting for an approval), superseded.
    h.images.push(REPOSITORY, '1.5.0', digestOf('1.5.0'));
    h.state.clock += 60_000;
    await h.driver.reconcile(env);
    const all = await h.store.promotions.list({ namespace: 'team', environment: 'dev', limit: 10 });
    assert.deepEqual(
      all.map((p) => [p.image, p.state, p.reason]),
      [
        [imageOf('1.5.0'), 'WaitingForApproval', undefined],
        [imageOf('1.3.0'), 'Failed', 'Superseded'],
      ],
    );
    assert.equal(h.state.written.at(-1)?.tag, '1.5.0');
    await h.store.close();
  });

  it('promotes nothing on an error, keeps what it chose, and writes the reason once', async () => {
    const h = harness();
    const chosen = { tag: '1.3.0', image: imageOf('1.3.0'), chosenAt: '2026-12-06T00:00:00.000Z' };
    const env = environment('>=1.0.0 <2.0.0', { imagePolicy: chosen });
    h.images.refuse =
      'GET registry.invalid:5000/team/hello (its tags): the registry answered 401: UNAUTHORIZED';
    await h.driver.reconcile(env);
    h.state.clock += 60_000;
    await h.driver.reconcile(env);
    assert.equal(h.images.listed, 2);
    assert.deepEqual(h.state.written, [
      {
        ...chosen,
        error:
          'Environment/team/dev: spec.source.imagePolicy.repository: GET registry.invalid:5000/team/hello (its tags): the registry answered 401: UNAUTHORIZED',
        errorAt: '2026-12-07T00:00:00.000Z',
      },
    ]);
    assert.deepEqual(await h.store.promotions.list({ namespace: 'team', limit: 10 }), []);
    // No tag in the range; a range that is not one (a changed policy is looked at at once).
    h.images.refuse = undefined;
    await h.driver.reconcile(environment('>=3', { imagePolicy: chosen }));
    assert.match(
      h.state.written.at(-1)?.error ?? '',
      /spec\.source\.imagePolicy\.semver: none of the repository's 4 tags matches '>=3'/,
    );
    await h.driver.reconcile(environment('three', { imagePolicy: chosen }));
    assert.match(
      h.state.written.at(-1)?.error ?? '',
      /^Environment\/team\/dev: spec\.source\.imagePolicy\.semver: 'three' is not a semver range/,
    );
    assert.equal(h.state.written.at(-1)?.tag, '1.3.0');
    assert.deepEqual(await h.store.promotions.list({ namespace: 'team', limit: 10 }), []);
    // Answered again, with the same choice as before: the error is removed, nothing promoted.
    await h.driver.reconcile(environment('^1', { imagePolicy: chosen }));
    assert.deepEqual(h.state.written.at(-1), chosen);
    assert.deepEqual(await h.store.promotions.list({ namespace: 'team', limit: 10 }), []);
    assert.equal(
      sample(
        h.registry,
        'capstan_image_policy_checks_total{namespace="team",environment="dev",result="failed"}',
      ),
      4,
    );
    assert.equal(
      sample(
        h.registry,
        'capstan_image_policy_checks_total{namespace="team",environment="dev",result="chosen"}',
      ),
      1,
    );
    await h.store.close();
  });
});

describe('an image policy’s registry asked in the background (the server)', () => {
  it('asks two registries at a time; the end of a look wakes its environment, whose next step promotes', async () => {
    const h = harness({ background: true });
    const release = h.images.hold();
    const envs = ['a', 'b', 'c'].map((name) => environment('>=1.0.0 <2.0.0', undefined, name));
    // Each step returns at once: the look goes on without it, and wakes it when it ends.
    for (const env of envs) assert.equal(await h.driver.reconcile(env), undefined);
    assert.equal(h.images.listing, 2, 'two registries asked at once, the third waits for a slot');
    assert.deepEqual(h.woken, []);
    release();
    await eventually(() => h.woken.length === 3, { what: 'the three looks ended' });
    assert.equal(h.images.mostAtOnce, 2);
    assert.deepEqual([...h.woken].sort(), ['team/a', 'team/b', 'team/c']);
    for (const env of envs) assert.equal(await h.driver.reconcile(env), 0, `${env.name} promoted`);
    const promoted = await h.store.promotions.list({ namespace: 'team', limit: 10 });
    assert.deepEqual(promoted.map((p) => [p.environment, p.image]).sort(), [
      ['a', imageOf('1.3.0')],
      ['b', imageOf('1.3.0')],
      ['c', imageOf('1.3.0')],
    ]);
    // The next look after the interval, as the step's answer.
    assert.equal(await h.driver.reconcile(envs[0] ?? environment('*')), 60_000);
    await h.store.close();
  });
});

describe('promotion metrics', () => {
  it('counts states, the approval wait, the duration and the gates’ failures by environment', async () => {
    const h = harness();
    const env = environment('*');
    const at = (seconds: number) => {
      h.state.clock = Date.parse('2026-12-07T00:00:00Z') + seconds * 1000;
    };
    at(0);
    const created = await requestPromotion(h.deps, { environment: env, image: imageOf('1.0.0'), by: 'ann' });
    const waiting = await decide(
      h.deps,
      created,
      { type: 'start', approvalRequired: true },
      { message: 'waiting for an approval' },
    );
    assert.ok(waiting);
    at(90);
    const approved = await decide(h.deps, waiting, { type: 'approve', by: 'bob' });
    assert.ok(approved);
    assert.equal(
      approved.message,
      'approved by bob; it is committed next',
      'the message of the state before is replaced',
    );
    at(100);
    const committed = await decide(h.deps, approved, { type: 'committed', commit: 'c'.repeat(40) });
    assert.ok(committed);
    at(700);
    await decide(h.deps, committed, { type: 'fail', reason: 'GateTimeout' });
    const where = 'namespace="team",environment="dev"';
    for (const state of ['Pending', 'WaitingForApproval', 'Approved', 'Committed', 'Failed'])
      assert.equal(sample(h.registry, `capstan_promotions_total{${where},state="${state}"}`), 1, state);
    assert.equal(
      sample(h.registry, `capstan_promotion_approval_wait_seconds_sum{${where},decision="approved"}`),
      90,
    );
    assert.equal(sample(h.registry, `capstan_promotion_duration_seconds_sum{${where},result="Failed"}`), 700);
    assert.equal(
      sample(h.registry, `capstan_promotion_duration_seconds_bucket{${where},result="Failed",le="600"}`),
      0,
    );
    assert.equal(
      sample(h.registry, `capstan_promotion_duration_seconds_bucket{${where},result="Failed",le="1800"}`),
      1,
    );
    assert.equal(
      sample(h.registry, `capstan_promotion_gate_failures_total{${where},reason="GateTimeout"}`),
      1,
    );
    // A rejection: its wait, its result; not a gate's failure.
    at(1000);
    const second = await requestPromotion(h.deps, { environment: env, image: imageOf('1.1.0'), by: 'ann' });
    const asked = await decide(h.deps, second, { type: 'start', approvalRequired: true });
    assert.ok(asked);
    at(1030);
    const rejected = await decide(h.deps, asked, { type: 'reject', by: 'bob' });
    assert.equal(rejected?.message, 'rejected by bob; nothing is committed');
    assert.equal(
      sample(h.registry, `capstan_promotion_approval_wait_seconds_sum{${where},decision="rejected"}`),
      30,
    );
    assert.equal(
      sample(h.registry, `capstan_promotion_duration_seconds_count{${where},result="Rejected"}`),
      1,
    );
    assert.equal(
      sample(h.registry, `capstan_promotion_gate_failures_total{${where},reason="Rejected"}`),
      undefined,
    );
    await h.store.close();
  });
});

let pushes = 0;
policyImagesContract('FakePolicyImages', () => {
  const images = new FakePolicyImages();
  return Promise.resolve({
    images,
    environment: environment('*'),
    push: (tag: string) => {
      const digest = digestOf(`${tag}-${String(++pushes)}`);
      images.push(REPOSITORY, tag, digest);
      return Promise.resolve(digest);
    },
  });
});
