// The --buildkit-* flags of capstan server: the endpoint of image steps, with the install's defaults,
// and clear refusals of a partial or malformed set.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildkitOptions } from '../../../src/cli/commands/server.ts';
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
