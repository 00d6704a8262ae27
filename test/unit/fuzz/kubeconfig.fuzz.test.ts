// Property tests of the kubeconfig sanitizer (src/core/kubeconfig.ts): any text gives one flat context
// or CLUSTER_KUBECONFIG_INVALID, and no error ever quotes the token, password or key it was given, even
// when the kubeconfig around them is broken in any way; a well-formed one keeps its server and token.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { CapstanError } from '../../../src/core/errors.ts';
import { parseKubeconfig } from '../../../src/core/kubeconfig.ts';
import { fuzzParameters } from './runs.ts';

const SOURCE = 'Secret/capstan-system/prod (key kubeconfig)';
const token = fc.stringMatching(/^[A-Za-z0-9._-]{12,40}$/).map((t) => `tok${t}`);

function kubeconfigOf(server: string, secret: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'prod',
    clusters: [{ name: 'prod', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'agent', user: { token: secret } }],
    contexts: [{ name: 'prod', context: { cluster: 'prod', user: 'agent', namespace: 'apps' } }],
  };
}

/** Ways of breaking a kubeconfig's text around the credentials. */
const damage = fc.oneof(
  fc.constant((text: string) => text),
  fc.tuple(fc.nat(), fc.string({ maxLength: 6 })).map(([at, junk]) => (text: string) => {
    const i = at % (text.length + 1);
    return text.slice(0, i) + junk + text.slice(i);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 30 })).map(([at, length]) => (text: string) => {
    const i = at % (text.length + 1);
    return text.slice(0, i) + text.slice(i + length);
  }),
  fc.constantFrom(
    (text: string) => text.replace('token:', 'token: ['),
    (text: string) => text.replace('token:', 'exec:'),
    (text: string) => text.replace('token:', 'tokenFile:'),
    (text: string) => text.replace('current-context: prod', 'current-context: other'),
    (text: string) => `${text}\nusers: []\n`,
    (text: string) => text.replace('kind: Config', 'kind: Secret'),
  ),
);

describe('kubeconfig sanitizer (property tests)', () => {
  it('any damage to a kubeconfig: one flat context, or an error that never quotes its token', () => {
    fc.assert(
      fc.property(token, damage, (secret, breakIt) => {
        const text = breakIt(stringify(kubeconfigOf('https://10.0.0.1:6443', secret)));
        try {
          const flat = parseKubeconfig(text, { source: SOURCE });
          assert.equal(flat.context.length > 0, true);
        } catch (error) {
          assert.ok(error instanceof CapstanError, `not a CapstanError: ${String(error)}`);
          assert.equal(error.code, 'CLUSTER_KUBECONFIG_INVALID', error.message);
          assert.ok(!error.message.includes(secret), `the token is quoted: ${error.message}`);
          assert.ok(error.message.startsWith(`the kubeconfig of ${SOURCE} is not usable: `));
        }
      }),
      fuzzParameters(500),
    );
  });

  it('any text at all: the same', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: 'binary' }), (text) => {
        try {
          parseKubeconfig(text, { source: SOURCE });
        } catch (error) {
          assert.ok(
            error instanceof CapstanError && error.code === 'CLUSTER_KUBECONFIG_INVALID',
            String(error),
          );
        }
      }),
      fuzzParameters(300),
    );
  });

  it('deep nesting anywhere is refused from the raw text, with the place named', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 65, max: 500_000 }),
        fc.constantFrom('users: ', 'clusters:\n  - cluster: ', 'extensions: '),
        (depth, prefix) => {
          assert.throws(
            () => parseKubeconfig(`${prefix}${'['.repeat(depth)}`, { source: SOURCE }),
            (error: unknown) =>
              error instanceof CapstanError &&
              /is not usable: it nests more than 64 levels deep \(line \d+, column \d+\)$/.test(
                error.message,
              ),
          );
        },
      ),
      fuzzParameters(50),
    );
  });

  it('a well-formed kubeconfig keeps its server, token and namespace', () => {
    const host = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){1,3}$/);
    fc.assert(
      fc.property(host, fc.integer({ min: 1, max: 65535 }), token, (name, port, secret) => {
        const server = `https://${name}:${port}`;
        const flat = parseKubeconfig(stringify(kubeconfigOf(server, secret)), { source: SOURCE });
        assert.equal(flat.cluster.server, server);
        assert.equal(flat.user.token, secret);
        assert.equal(flat.namespace, 'apps');
      }),
      fuzzParameters(200),
    );
  });
});
