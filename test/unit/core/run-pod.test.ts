import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { buildctlArguments, pushedImage } from '../../../src/core/build-step.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import { maskableValues, maskSecrets } from '../../../src/core/log-mask.ts';
import { runPodManifest, runPodName, stepScript, type RunPodInput } from '../../../src/core/run-pod.ts';
import { runPodState, type RunPodView } from '../../../src/core/run-steps.ts';

const input: RunPodInput = {
  namespace: 'team-a',
  pipeline: 'web',
  runId: 'r1',
  repoURL: 'https://git.example.com/web.git',
  revision: 'a'.repeat(40),
  capstanImage: 'registry.example.com/capstan@sha256:' + 'b'.repeat(64),
  steps: [
    { name: 'test', image: 'node:24', commands: ['npm test'], env: { CI: 'yes' }, workingDir: 'app' },
    {
      name: 'publish',
      image: 'busybox',
      commands: ['echo $TOKEN'],
      secrets: [{ env: 'TOKEN', secret: 'deploy', key: 'token' }],
    },
  ],
  timeoutSeconds: 600,
  serviceAccountName: 'builder',
  credentialsSecret: 'web-repo',
};

interface Container {
  name: string;
  image: string;
  args: string[];
  command?: string[];
  workingDir?: string;
  env: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
}

describe('runPodManifest', () => {
  const pod = runPodManifest(input) as unknown as {
    metadata: { name: string; labels: Record<string, string> };
    spec: Record<string, unknown> & { initContainers: Container[]; containers: Container[] };
  };

  it('checks out first, with Capstan’s image, then runs the steps in order; the last is the Pod’s container', () => {
    assert.deepEqual(
      pod.spec.initContainers.map((c) => c.name),
      ['checkout', 'test'],
    );
    assert.deepEqual(
      pod.spec.containers.map((c) => c.name),
      ['publish'],
    );
    const checkout = pod.spec.initContainers[0];
    assert.ok(checkout);
    assert.equal(checkout.image, input.capstanImage);
    assert.deepEqual(checkout.args.slice(0, 2), ['pipeline', 'checkout']);
    assert.ok(checkout.args.includes(input.revision));
  });

  it('bounds the run with activeDeadlineSeconds, never restarts, and mounts no API token', () => {
    assert.equal(pod.spec['activeDeadlineSeconds'], 600);
    assert.equal(pod.spec['restartPolicy'], 'Never');
    assert.equal(pod.spec['automountServiceAccountToken'], false);
    assert.equal(pod.spec['serviceAccountName'], 'builder');
    assert.equal(pod.metadata.name, 'web-r1');
    assert.equal(pod.metadata.labels['capstan.dev/run'], 'r1');
  });

  it('gives a secret to the step that names it, and to no other container', () => {
    const withSecret = [...pod.spec.initContainers, ...pod.spec.containers].filter((c) =>
      c.env.some((e) => e.valueFrom?.secretKeyRef.name === 'deploy'),
    );
    assert.deepEqual(
      withSecret.map((c) => c.name),
      ['publish'],
    );
    const checkout = pod.spec.initContainers[0];
    assert.ok(
      checkout?.env.every((e) => e.valueFrom === undefined || e.valueFrom.secretKeyRef.name === 'web-repo'),
    );
  });

  it('runs a step in its working folder of the workspace, with its variables', () => {
    const test = pod.spec.initContainers[1];
    assert.ok(test);
    assert.equal(test.workingDir, '/workspace/app');
    assert.ok(test.env.some((e) => e.name === 'CI' && e.value === 'yes'));
  });

  it('refuses an image step when no BuildKit is configured, saying what to do', () => {
    assert.throws(
      () =>
        runPodManifest({
          ...input,
          steps: [{ name: 'img', build: { registry: 'registry.example.com', repository: 'team/web' } }],
        }),
      (e: unknown) =>
        e instanceof CapstanError && e.code === 'PIPELINE_BUILDKIT_MISSING' && /install it/.test(e.message),
    );
  });

  it('names the Pod within 63 characters', () => {
    assert.equal(runPodName('p'.repeat(63), 'abcd').length, 63);
  });
});

describe('an image step in the run Pod', () => {
  const buildkit = {
    image: 'registry.example.com/capstan/buildkit@sha256:' + 'c'.repeat(64),
    address: 'tcp://10.96.0.20:1234',
    serverName: 'buildkitd.capstan-buildkit.svc',
    clientSecret: 'capstan-buildkit-client',
  };
  const pod = runPodManifest({
    ...input,
    branch: 'feature/x',
    buildkit,
    registrySecret: 'push-creds',
    steps: [
      { name: 'test', image: 'node:24', commands: ['npm test'] },
      {
        name: 'image',
        build: {
          context: 'app',
          dockerfile: 'docker/Dockerfile.web',
          args: { BASE: 'registry.example.com/node:24', EVIL: '$(rm -rf /)' },
          registry: 'registry.example.com:5000',
          repository: 'team/web',
          tags: ['{shortCommit}', '{branch}', '{tag}'],
        },
      },
    ],
  }) as unknown as {
    spec: {
      volumes: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }[];
      initContainers: (Container & { volumeMounts: { name: string; mountPath: string }[] })[];
      containers: (Container & {
        volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
        securityContext: Record<string, unknown>;
      })[];
    };
  };
  const step = pod.spec.containers[0];
  const args = step?.command?.slice(4) ?? [];
  const opts = args.flatMap((a, i) => (args[i - 1] === '--opt' ? [a] : []));

  it('runs buildctl in the BuildKit image against the cluster’s buildkitd, as a non-root user', () => {
    assert.ok(step);
    assert.equal(step.image, buildkit.image);
    assert.deepEqual(step.command?.slice(0, 2), ['/bin/sh', '-c']);
    assert.ok(step.env.some((e) => e.name === 'BUILDKIT_HOST' && e.value === buildkit.address));
    assert.equal(step.securityContext['runAsNonRoot'], true);
    assert.equal(step.securityContext['allowPrivilegeEscalation'], false);
  });

  it('asks for BuildKit’s provenance attestation, naming the repository and commit, unless the step says provenance: false', () => {
    assert.ok(opts.includes('attest:provenance=mode=min'), opts.join(' '));
    // The statement names the repository and the commit it was built from.
    assert.ok(opts.includes(`vcs:source=${input.repoURL}`));
    assert.ok(opts.includes(`vcs:revision=${input.revision}`));
    const without = buildctlArguments(
      {
        build: { registry: 'r.example', repository: 'team/web', provenance: false },
        sourceURL: input.repoURL,
        revision: { commit: input.revision },
        workspace: '/workspace',
      },
      { name: 'r.example/team/web', tags: [] },
    );
    assert.ok(!without.some((o) => o.startsWith('attest:') || o.startsWith('vcs:')), without.join(' '));
  });

  it('gives the build its context, Dockerfile, arguments (as arguments, never spliced into the script) and labels', () => {
    assert.ok(args.includes('context=/workspace/app'));
    assert.ok(args.includes('dockerfile=/workspace/docker'));
    assert.ok(opts.includes('filename=Dockerfile.web'));
    assert.ok(opts.includes('build-arg:BASE=registry.example.com/node:24'));
    assert.ok(opts.includes('build-arg:EVIL=$(rm -rf /)'));
    assert.ok(!(step?.command?.[2] ?? '').includes('rm -rf'));
    assert.ok(opts.includes(`label:org.opencontainers.image.source=${input.repoURL}`));
    assert.ok(opts.includes(`label:org.opencontainers.image.revision=${input.revision}`));
  });

  it('pushes to the registry with the tags of this revision (a placeholder the run lacks gives none), times rewritten', () => {
    const output = args[args.indexOf('--output') + 1] ?? '';
    assert.equal(
      output,
      `type=image,"name=registry.example.com:5000/team/web:${'a'.repeat(12)},registry.example.com:5000/team/web:feature-x",push=true,oci-mediatypes=true,rewrite-timestamp=true`,
    );
    assert.match(step?.command?.[2] ?? '', /SOURCE_DATE_EPOCH/);
  });

  it('mounts the registry credentials and the client certificate in the image step only', () => {
    const auth = pod.spec.volumes.find((v) => v.secret?.secretName === 'push-creds');
    assert.deepEqual(auth?.secret?.items, [{ key: '.dockerconfigjson', path: 'config.json' }]);
    const tls = pod.spec.volumes.find((v) => v.secret?.secretName === buildkit.clientSecret);
    assert.ok(tls);
    assert.ok(step?.volumeMounts.some((m) => m.name === auth.name && m.mountPath === '/capstan/docker'));
    assert.ok(step?.volumeMounts.some((m) => m.name === tls.name));
    assert.ok(step?.env.some((e) => e.name === 'DOCKER_CONFIG' && e.value === '/capstan/docker'));
    for (const other of pod.spec.initContainers)
      assert.ok(!other.volumeMounts.some((m) => m.name === auth.name || m.name === tls.name), other.name);
  });
});

describe('pushedImage', () => {
  it('reads the digest an image step left as its termination message, and nothing else', () => {
    const digest = 'sha256:' + 'd'.repeat(64);
    assert.deepEqual(pushedImage(`digest=${digest}\n`), { digest });
    // The build's SOURCE_DATE_EPOCH (the commit's time) with it: the attestation's times.
    assert.deepEqual(pushedImage(`digest=${digest}\nepoch=1700000000\n`), {
      digest,
      sourceDateEpoch: 1_700_000_000,
    });
    assert.equal(pushedImage('error: failed to push: 401 Unauthorized'), undefined);
    assert.equal(pushedImage('digest=sha256:short'), undefined);
    assert.equal(pushedImage(undefined), undefined);
  });
});

describe('stepScript', () => {
  const sh = (script: string) => {
    try {
      return { out: execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', stdio: 'pipe' }), code: 0 };
    } catch (error) {
      const e = error as { status: number; stdout: string };
      return { out: e.stdout, code: e.status };
    }
  };

  it('runs the commands in order and stops at the first that fails, with its exit code', () => {
    const { out, code } = sh(stepScript(['echo one', 'false', 'echo never'], 0));
    assert.equal(out, 'one\n');
    assert.equal(code, 1);
  });

  it('passes quotes and dollars through untouched', () => {
    const { out } = sh(stepScript([`echo 'it''s' "$((1 + 2))" '$HOME'`], 0));
    assert.equal(out, `its 3 $HOME\n`);
  });

  it('runs a failed step again, up to its retries, and ends with the last exit code', () => {
    const { out, code } = sh(stepScript(['echo try', 'exit 4'], 2));
    assert.equal(out, 'try\ntry\ntry\n');
    assert.equal(code, 4);
  });
});

describe('runPodState', () => {
  const spec = { initContainers: [{ name: 'checkout' }, { name: 'a' }], containers: [{ name: 'b' }] };
  const table: [string, RunPodView, string[], string][] = [
    [
      'a Pod just created',
      { spec, status: { phase: 'Pending' } },
      ['Pending', 'Pending', 'Pending'],
      'Pending',
    ],
    [
      'the checkout running',
      {
        spec,
        status: {
          phase: 'Pending',
          initContainerStatuses: [
            { name: 'checkout', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } },
            { name: 'a', state: { waiting: { reason: 'PodInitializing' } } },
          ],
        },
      },
      ['Running', 'Pending', 'Pending'],
      'Pending',
    ],
    [
      'a step that failed (captured shape)',
      {
        spec,
        status: {
          phase: 'Failed',
          initContainerStatuses: [
            { name: 'checkout', state: { terminated: { exitCode: 0, reason: 'Completed' } } },
            { name: 'a', state: { terminated: { exitCode: 3, reason: 'Error' } } },
          ],
          containerStatuses: [{ name: 'b', state: { waiting: { reason: 'PodInitializing' } } }],
        },
      },
      ['Succeeded', 'Failed', 'Skipped'],
      'Failed',
    ],
    [
      'the run past its deadline',
      {
        spec,
        status: {
          phase: 'Failed',
          reason: 'DeadlineExceeded',
          initContainerStatuses: [
            { name: 'checkout', state: { terminated: { exitCode: 0 } } },
            { name: 'a', state: { terminated: { exitCode: 137, reason: 'Error' } } },
          ],
        },
      },
      ['Succeeded', 'Failed', 'Skipped'],
      'Failed',
    ],
  ];
  for (const [what, pod, steps, phase] of table) {
    it(`reads ${what}`, () => {
      const state = runPodState(pod);
      assert.deepEqual(
        state.steps.map((s) => s.phase),
        steps,
      );
      assert.equal(state.phase, phase);
    });
  }
});

describe('maskSecrets', () => {
  it('masks each value, each line of a multi-line value, and leaves short values alone', () => {
    const values = maskableValues(['hunter22', '-----BEGIN KEY-----\nAAAABBBB\n-----END KEY-----', 'ab']);
    assert.equal(maskSecrets('password=hunter22!', values), 'password=***!');
    assert.equal(maskSecrets('AAAABBBB', values), '***');
    assert.equal(maskSecrets('ab cd', values), 'ab cd');
  });
  it('masks a value containing another as one', () => {
    const values = maskableValues(['abcd', 'abcdefgh']);
    assert.equal(maskSecrets('x abcdefgh y', values), 'x *** y');
  });
});
