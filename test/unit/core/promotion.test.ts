import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkConfigPath,
  describeVerification,
  evaluateGates,
  verificationPassed,
  imageIn,
  nextPromotionState,
  parseDigestReference,
  promotionCommitMessage,
  withImageAt,
  type PromotionEvent,
  type PromotionState,
} from '../../../src/core/promotion.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const REF = `127.0.0.1:5000/capstan/hello@${DIGEST}`;
const COMMIT = 'c'.repeat(40);

describe('the promotion state machine', () => {
  const allowed: [PromotionState, PromotionEvent, PromotionState][] = [
    ['Pending', { type: 'start', approvalRequired: false }, 'Approved'],
    ['Pending', { type: 'start', approvalRequired: true }, 'WaitingForApproval'],
    ['WaitingForApproval', { type: 'approve', by: 'ann' }, 'Approved'],
    ['WaitingForApproval', { type: 'reject', by: 'ann' }, 'Rejected'],
    ['Approved', { type: 'committed', commit: COMMIT }, 'Committed'],
    ['Committed', { type: 'verified' }, 'Verified'],
    ['Pending', { type: 'fail', reason: 'Superseded' }, 'Failed'],
    ['Approved', { type: 'fail', reason: 'PushFailed' }, 'Failed'],
    ['Committed', { type: 'fail', reason: 'Degraded' }, 'Failed'],
  ];
  for (const [from, event, to] of allowed)
    it(`${from} --${event.type}--> ${to}`, () => {
      assert.equal(nextPromotionState(from, event), to);
    });

  const refused: [PromotionState, PromotionEvent, RegExp][] = [
    [
      'Approved',
      { type: 'approve', by: 'ann' },
      /Approved cannot approve: it is not waiting for an approval/,
    ],
    ['Pending', { type: 'reject', by: 'ann' }, /not waiting for an approval/],
    ['WaitingForApproval', { type: 'committed', commit: COMMIT }, /cannot committed/],
    ['Verified', { type: 'fail', reason: 'x' }, /Verified already/],
    ['Rejected', { type: 'approve', by: 'ann' }, /Rejected already/],
    ['Committed', { type: 'approve', by: 'ann' }, /not waiting/],
  ];
  for (const [from, event, message] of refused)
    it(`refuses ${event.type} in ${from}`, () => {
      assert.throws(
        () => nextPromotionState(from, event),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'PROMOTION_STATE');
          assert.match(error.message, message);
          return true;
        },
      );
    });
});

describe('the gates', () => {
  const base = {
    commit: COMMIT,
    committedAt: '2026-01-01T00:00:00.000Z',
    healthyForSeconds: 10,
    timeoutSeconds: 300,
  };
  it('waits while the Application is at another revision', () => {
    const verdict = evaluateGates(
      { revision: 'b'.repeat(40), sync: 'Synced', health: 'Healthy' },
      { ...base, now: '2026-01-01T00:00:05.000Z' },
    );
    assert.ok(verdict.kind === 'wait');
    assert.match(verdict.why, /not yet at cccccccccccc/);
  });
  it('starts the healthy clock on the commit, and passes once it ran long enough', () => {
    const app = { revision: COMMIT, sync: 'Synced', health: 'Healthy' };
    const first = evaluateGates(app, { ...base, now: '2026-01-01T00:00:05.000Z' });
    assert.deepEqual(first.kind === 'wait' ? first.healthySince : undefined, '2026-01-01T00:00:05.000Z');
    const early = evaluateGates(app, {
      ...base,
      healthySince: '2026-01-01T00:00:05.000Z',
      now: '2026-01-01T00:00:14.000Z',
    });
    assert.equal(early.kind, 'wait');
    const late = evaluateGates(app, {
      ...base,
      healthySince: '2026-01-01T00:00:05.000Z',
      now: '2026-01-01T00:00:15.000Z',
    });
    assert.deepEqual(late, { kind: 'pass' });
  });
  it('resets the clock when it is not Healthy on the commit', () => {
    const verdict = evaluateGates(
      { revision: COMMIT, sync: 'Synced', health: 'Progressing' },
      { ...base, healthySince: '2026-01-01T00:00:05.000Z', now: '2026-01-01T00:01:00.000Z' },
    );
    assert.ok(verdict.kind === 'wait');
    assert.equal(verdict.healthySince, undefined);
  });
  it('fails at once when Degraded on the commit, with the health message', () => {
    const verdict = evaluateGates(
      { revision: COMMIT, sync: 'Synced', health: 'Degraded', healthMessage: '0/1 replicas ready' },
      { ...base, now: '2026-01-01T00:00:05.000Z' },
    );
    assert.deepEqual(verdict, {
      kind: 'fail',
      reason: 'Degraded',
      message: 'the Application is Degraded on cccccccccccc: 0/1 replicas ready',
    });
  });
  it('takes a later revision that contains the commit as on the commit, and only that', () => {
    const later = { revision: 'd'.repeat(40), sync: 'Synced', health: 'Healthy' };
    const contained = evaluateGates(later, {
      ...base,
      revisionContainsCommit: true,
      healthySince: '2026-01-01T00:00:05.000Z',
      now: '2026-01-01T00:00:15.000Z',
    });
    assert.deepEqual(contained, { kind: 'pass' });
    const started = evaluateGates(later, {
      ...base,
      revisionContainsCommit: true,
      now: '2026-01-01T00:00:05.000Z',
    });
    assert.ok(started.kind === 'wait');
    assert.match(started.why, /on dddddddddddd \(which contains cccccccccccc\) since/);
    const unrelated = evaluateGates(later, {
      ...base,
      revisionContainsCommit: false,
      healthySince: '2026-01-01T00:00:05.000Z',
      now: '2026-01-01T00:00:15.000Z',
    });
    assert.ok(unrelated.kind === 'wait');
    assert.equal(unrelated.healthySince, undefined);
    const degraded = evaluateGates(
      { ...later, health: 'Degraded' },
      { ...base, revisionContainsCommit: true, now: '2026-01-01T00:00:05.000Z' },
    );
    assert.equal(
      degraded.kind === 'fail' ? degraded.message : '',
      'the Application is Degraded on dddddddddddd (which contains cccccccccccc)',
    );
  });
  it('fails after the timeout when the gates never pass', () => {
    const verdict = evaluateGates(
      { revision: COMMIT, sync: 'OutOfSync', health: 'Healthy' },
      {
        ...base,
        now: '2026-01-01T00:05:00.000Z',
      },
    );
    assert.equal(verdict.kind === 'fail' ? verdict.reason : '', 'GateTimeout');
  });
});

describe('the check after health', () => {
  it('passes on any 2xx by default, or on the status asked for, and says what it got', () => {
    const url = 'http://hello.team-a.svc/healthz';
    assert.equal(verificationPassed({ url, status: 204 }), true);
    assert.equal(verificationPassed({ url, status: 503 }), false);
    assert.equal(verificationPassed({ url, status: 302 }, 302), true);
    assert.equal(verificationPassed({ url, status: 200 }, 302), false);
    assert.equal(verificationPassed({ url, error: 'ECONNREFUSED' }), false);
    assert.equal(describeVerification({ url, status: 200 }), `GET ${url} answered 200`);
    assert.equal(
      describeVerification({ url, status: 503 }),
      `GET ${url} answered 503; it must answer a 2xx status`,
    );
    assert.equal(
      describeVerification({ url, error: 'fetch failed: ECONNREFUSED' }, 204),
      `GET ${url} failed (fetch failed: ECONNREFUSED); it must answer 204`,
    );
  });
});

describe('image references and config files', () => {
  it('takes a reference by digest only', () => {
    assert.deepEqual(parseDigestReference(REF), {
      name: '127.0.0.1:5000/capstan/hello',
      digest: DIGEST,
      reference: REF,
    });
    for (const bad of [
      'hello:1',
      `hello@sha256:${'a'.repeat(10)}`,
      `hello:1@${DIGEST}`,
      `Hello@${DIGEST}`,
      '',
      `h@${DIGEST}\n`,
    ])
      assert.throws(() => parseDigestReference(bad), /is not an image reference by digest/);
  });
  it('refuses paths that leave the checkout', () => {
    for (const bad of ['../x.yaml', '/etc/passwd', 'a/../../b', 'a\\b', ''])
      assert.throws(() => {
        checkConfigPath(bad, 'spec.config.file');
      }, /not a path inside the repository/);
    checkConfigPath('envs/dev/kustomization.yaml', 'spec.config.file');
  });
  const kustomization = `# the dev overlay
resources:
  - ../base
images:
  - name: other
    newTag: "2"
  - name: hello
    newName: old/hello
    newTag: "1" # a tag that goes
`;
  it('sets a kustomization images entry, keeping comments and other entries', () => {
    const location = { kind: 'kustomize', name: 'hello' } as const;
    assert.equal(imageIn(kustomization, { file: 'k.yaml', location }), undefined);
    const after = withImageAt(kustomization, { file: 'k.yaml', location, reference: REF });
    assert.match(after, /^# the dev overlay/);
    assert.match(after, /newName: 127\.0\.0\.1:5000\/capstan\/hello\n\s+digest: sha256:a{64}/);
    assert.doesNotMatch(after, /newTag: "1"/);
    assert.match(after, /newTag: "2"/);
    assert.equal(imageIn(after, { file: 'k.yaml', location }), REF);
  });
  it('names a missing images entry', () => {
    assert.throws(
      () =>
        withImageAt(kustomization, {
          file: 'envs/dev/kustomization.yaml',
          location: { kind: 'kustomize', name: 'web' },
          reference: REF,
        }),
      /envs\/dev\/kustomization\.yaml has no images entry named web/,
    );
  });
  it('sets a YAML path of a values file', () => {
    const location = { kind: 'yamlPath', path: 'app.image' } as const;
    const after = withImageAt('app:\n  replicas: 2\n', { file: 'values.yaml', location, reference: REF });
    assert.equal(after, `app:\n  replicas: 2\n  image: ${REF}\n`);
    assert.equal(imageIn(after, { file: 'values.yaml', location }), REF);
  });
  it('names the file of invalid YAML', () => {
    assert.throws(
      () => imageIn('a: [', { file: 'values.yaml', location: { kind: 'yamlPath', path: 'a' } }),
      /^CapstanError: values\.yaml: /,
    );
  });
  it('writes a commit message that names the promotion, image, run and approver', () => {
    const message = promotionCommitMessage(
      {
        id: 'p1',
        environment: 'staging',
        image: REF,
        fromRun: 'run-1',
        requestedBy: 'auto',
        approvedBy: 'ann',
      },
      { kind: 'kustomize', name: 'hello' },
    );
    assert.match(message, /^promote staging: sha256:aaaaaaaaaaaa\n\n/);
    for (const line of [
      'Capstan-Promotion: p1',
      `Capstan-Image: ${REF}`,
      'Capstan-From-Run: run-1',
      'Capstan-Approved-By: ann',
    ])
      assert.ok(message.includes(line), line);
  });
});
