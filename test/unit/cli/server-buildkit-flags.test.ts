// The --buildkit-* flags of capstan server: the endpoint of image steps, with the install's defaults,
// and clear refusals of a partial or malformed set; the --run-* flags of the run Pods (pull Secrets,
// placement).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildkitOptions, runPodOptions } from '../../../src/cli/commands/server.ts';
import { CapstanError } from '../../../src/core/errors.ts';

describe('capstan server --buildkit-*', () => {
  it('gives no endpoint without --buildkit-image, and the install’s defaults with it alone', () => {
    assert.deepEqual(buildkitOptions({}), {});
    assert.deepEqual(buildkitOptions({ 'buildkit-image': 'registry:5000/capstan/buildkit@sha256:ab' }), {
      buildkit: {
        image: 'registry:5000/capstan/buildkit@sha256:ab',
        address: 'tcp://buildkitd.capstan-buildkit.svc:1234',
        serverName: 'buildkitd.capstan-buildkit.svc',
        clientSecret: 'capstan-buildkit-client',
      },
    });
  });

  it('takes each part from its flag', () => {
    assert.deepEqual(
      buildkitOptions({
        'buildkit-image': 'bk:1',
        'buildkit-address': 'tcp://127.0.0.1:1234',
        'buildkit-server-name': 'buildkitd.example',
        'buildkit-client-secret': 'bk-client',
      }).buildkit,
      {
        image: 'bk:1',
        address: 'tcp://127.0.0.1:1234',
        serverName: 'buildkitd.example',
        clientSecret: 'bk-client',
      },
    );
  });

  it('refuses the other flags without the image, and an address that is not tcp://HOST:PORT', () => {
    assert.throws(
      () => buildkitOptions({ 'buildkit-address': 'tcp://x:1' }),
      (error: unknown) =>
        error instanceof CapstanError &&
        error.code === 'USAGE' &&
        /--buildkit-address need --buildkit-image/.test(error.message),
    );
    assert.throws(
      () => buildkitOptions({ 'buildkit-image': 'bk:1', 'buildkit-address': 'unix:///run/buildkit.sock' }),
      /--buildkit-address must be tcp:\/\/HOST:PORT, not 'unix:\/\/\/run\/buildkit.sock'/,
    );
  });
});

describe('capstan server --run-*', () => {
  it('gives the run Pods pull Secrets, a node selector and tolerations, and nothing without the flags', () => {
    assert.deepEqual(runPodOptions({}), {});
    assert.deepEqual(
      runPodOptions({
        'run-image-pull-secret': ['registry', 'registry', 'mirror'],
        'run-node-selector': ['capstan.dev/node=real', 'pool=builds'],
        'run-toleration': ['capstan.dev/real-node:NoSchedule', 'dedicated=ci:NoExecute'],
      }),
      {
        imagePullSecrets: ['registry', 'mirror'],
        placement: {
          nodeSelector: { 'capstan.dev/node': 'real', pool: 'builds' },
          tolerations: [
            { key: 'capstan.dev/real-node', operator: 'Exists', effect: 'NoSchedule' },
            { key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoExecute' },
          ],
        },
      },
    );
  });

  it('refuses a malformed label, taint or Secret name, quoting it', () => {
    assert.throws(
      () => runPodOptions({ 'run-node-selector': ['pool'] }),
      /--run-node-selector must be LABEL=VALUE, not 'pool'/,
    );
    assert.throws(
      () => runPodOptions({ 'run-toleration': ['dedicated=ci'] }),
      /--run-toleration must be KEY\[=VALUE\]:EFFECT \(EFFECT: NoSchedule, PreferNoSchedule, NoExecute\), not 'dedicated=ci'/,
    );
    assert.throws(
      () => runPodOptions({ 'run-toleration': ['dedicated:Sometimes'] }),
      /not 'dedicated:Sometimes'/,
    );
    assert.throws(
      () => runPodOptions({ 'run-image-pull-secret': ['Not_A_Name'] }),
      /--run-image-pull-secret must name a Secret, not 'Not_A_Name'/,
    );
  });
});
