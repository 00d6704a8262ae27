// --registry-endpoint REGISTRY=HOST[:PORT] of capstan server (and capstan pipeline attest-normalize):
// the registry image references name, reached at another address (docs/pipelines.md, "Reproducible").
// Parsing, and refusals that name the flag and the value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registryEndpointsOf } from '../../../src/cli/commands/server.ts';
import { registryEndpointsFlag } from '../../../src/cli/flags.ts';
import { CapstanError } from '../../../src/core/errors.ts';

/** A usage error (exit 2) whose message matches `pattern`. */
const usage = (pattern: RegExp) => (error: unknown) =>
  error instanceof CapstanError && error.code === 'USAGE' && pattern.test(error.message);

describe('--registry-endpoint REGISTRY=HOST[:PORT]', () => {
  it('maps each registry to its endpoint: addresses with and without a port, names, IPv6', () => {
    assert.deepEqual(registryEndpointsFlag('registry-endpoint', undefined), {});
    assert.deepEqual(
      registryEndpointsFlag('registry-endpoint', [
        '127.0.0.1:41234=10.200.0.1:41234',
        'registry.example.com=mirror.internal:5000',
        '[::1]:5000=[fd00::1]:5000',
        // The same mapping twice is one mapping.
        '127.0.0.1:41234=10.200.0.1:41234',
      ]),
      {
        '127.0.0.1:41234': '10.200.0.1:41234',
        'registry.example.com': 'mirror.internal:5000',
        '[::1]:5000': '[fd00::1]:5000',
      },
    );
  });

  it('refuses a value without both sides, naming the flag, the value and the form', () => {
    for (const value of ['10.200.0.1:5000', '=10.200.0.1:5000', '127.0.0.1:5000=', '='])
      assert.throws(
        () => registryEndpointsFlag('registry-endpoint', [value]),
        usage(
          new RegExp(
            `^--registry-endpoint must be REGISTRY=ENDPOINT, each HOST\\[:PORT\\] .*127\\.0\\.0\\.1:5000=10\\.200\\.0\\.1:5000\\), not '${value.replace(/\./g, '\\.')}'$`,
          ),
        ),
        value,
      );
  });

  it('refuses a side that is not HOST[:PORT]: a scheme, a path, a port out of range, a space', () => {
    const cases: [string, string][] = [
      ['https://127.0.0.1:5000=10.200.0.1:5000', 'https://127.0.0.1:5000'],
      ['127.0.0.1:5000=10.200.0.1:5000/v2', '10.200.0.1:5000/v2'],
      ['127.0.0.1:5000=10.200.0.1:70000', '10.200.0.1:70000'],
      ['127.0.0.1:0=10.200.0.1:5000', '127.0.0.1:0'],
      ['127.0.0.1:5000=my host', 'my host'],
      ['-bad.example=10.200.0.1', '-bad.example'],
    ];
    for (const [value, side] of cases)
      assert.throws(
        () => registryEndpointsFlag('registry-endpoint', [value]),
        usage(
          new RegExp(
            `^--registry-endpoint '${value.replace(/[.[\]/]/g, '\\$&')}': '${side.replace(/[.[\]/]/g, '\\$&')}' is not HOST\\[:PORT\\]`,
          ),
        ),
        value,
      );
  });

  it('refuses one registry mapped to two endpoints, naming both', () => {
    assert.throws(
      () =>
        registryEndpointsFlag('registry-endpoint', [
          '127.0.0.1:5000=10.200.0.1:5000',
          '127.0.0.1:5000=10.200.0.2:5000',
        ]),
      usage(
        /^--registry-endpoint maps 127\.0\.0\.1:5000 twice: to 10\.200\.0\.1:5000 and to 10\.200\.0\.2:5000$/,
      ),
    );
  });

  it('capstan server: given with --pipeline-image (the process drives runs), refused without it', () => {
    assert.deepEqual(registryEndpointsOf({}), {});
    assert.deepEqual(
      registryEndpointsOf({
        'pipeline-image': 'capstan@sha256:ab',
        'registry-endpoint': ['127.0.0.1:5000=10.200.0.1:5000'],
      }),
      { registryEndpoints: { '127.0.0.1:5000': '10.200.0.1:5000' } },
    );
    assert.throws(
      () => registryEndpointsOf({ 'registry-endpoint': ['127.0.0.1:5000=10.200.0.1:5000'] }),
      usage(/^--registry-endpoint needs --pipeline-image/),
    );
  });
});
