// The kubeconfig sanitiser: cluster Secrets are hostile input. Programs, files, impersonation, proxies
// and unknown fields are refused with the field named; only inline credentials pass; no error ever
// quotes a credential.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { kubeConfigFromString } from '../../../src/adapters/kube/kube-cluster.ts';
import {
  authKind,
  CLUSTER_SECRET_SELECTOR,
  clusterRegistration,
  clusterSecret,
  IN_CLUSTER_NAME,
  registeredKubeconfig,
  type ClusterRegistration,
} from '../../../src/core/cluster-secret.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import {
  kubeconfigDocument,
  MAX_KUBECONFIG_BYTES,
  parseKubeconfig,
  type FlatKubeconfig,
} from '../../../src/core/kubeconfig.ts';
import { IN_CLUSTER } from '../../../src/contracts/application.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

const pem = (label: string) =>
  Buffer.from(
    `-----BEGIN ${label}-----\nMIIBfake${label.replace(/ /g, '')}\n-----END ${label}-----\n`,
  ).toString('base64');
const CA = pem('CERTIFICATE');
const CERT = pem('CERTIFICATE');
const KEY = pem('PRIVATE KEY');
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.secret-token-value.sig';
const PASSWORD = 'hunter2-very-secret';
const SOURCE = 'Secret/capstan-system/prod (key kubeconfig)';

type Doc = Record<string, unknown>;

/** A kubeconfig with one context `prod`; `cluster` and `user` are merged into the entries. */
function kubeconfig(options: { cluster?: Doc; user?: Doc; context?: Doc; extra?: Doc } = {}): Doc {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'prod-cluster',
        cluster: {
          server: 'https://prod.example.com:6443/',
          'certificate-authority-data': CA,
          ...options.cluster,
        },
      },
    ],
    users: [{ name: 'capstan', user: { token: TOKEN, ...options.user } }],
    contexts: [
      {
        name: 'prod',
        context: { cluster: 'prod-cluster', user: 'capstan', namespace: 'apps', ...options.context },
      },
    ],
    'current-context': 'prod',
    ...options.extra,
  };
}

const parse = (doc: Doc | string, extra: { context?: string } = {}) =>
  parseKubeconfig(typeof doc === 'string' ? doc : stringify(doc), { source: SOURCE, ...extra });

/** Asserts a refusal naming `problem`, the source, and never a credential. */
function refused(doc: Doc | string, problem: RegExp, extra: { context?: string } = {}): CapstanError {
  let caught: unknown;
  try {
    parse(doc, extra);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CapstanError, `expected a refusal matching ${problem}`);
  assert.equal(caught.code, 'CLUSTER_KUBECONFIG_INVALID');
  assert.equal(caught.retryable, false);
  assert.match(caught.message, problem);
  assert.ok(caught.message.includes(SOURCE), caught.message);
  for (const secret of [TOKEN, PASSWORD, CA, KEY])
    assert.ok(!caught.message.includes(secret), `the message quotes a credential: ${caught.message}`);
  return caught;
}

describe('kubeconfig sanitiser', () => {
  it('takes a ServiceAccount token kubeconfig: one context, inline data, server without a trailing slash', () => {
    const flat = parse(kubeconfig());
    assert.deepEqual(flat, {
      context: 'prod',
      cluster: {
        name: 'prod-cluster',
        server: 'https://prod.example.com:6443',
        certificateAuthorityData: CA,
      },
      user: { name: 'capstan', token: TOKEN },
      namespace: 'apps',
    });
    assert.equal(authKind(flat), 'token');
  });

  it('takes client certificates, basic auth, insecure-skip-tls-verify, tls-server-name and extensions', () => {
    const flat = parse(
      kubeconfig({
        cluster: {
          'certificate-authority-data': undefined,
          'insecure-skip-tls-verify': true,
          'tls-server-name': 'kubernetes',
          extensions: [{ name: 'x', extension: {} }],
        },
        user: {
          token: undefined,
          'client-certificate-data': CERT,
          'client-key-data': KEY,
          username: 'admin',
          password: PASSWORD,
        },
      }),
    );
    assert.equal(flat.cluster.insecureSkipTlsVerify, true);
    assert.equal(flat.cluster.tlsServerName, 'kubernetes');
    assert.equal(flat.user.clientKeyData, KEY);
    assert.equal(authKind(flat), 'client-certificate+basic');
  });

  it('picks the named context, and says which contexts exist when it is missing', () => {
    const doc = kubeconfig();
    (doc['contexts'] as Doc[]).push({ name: 'other', context: { cluster: 'prod-cluster', user: 'capstan' } });
    assert.equal(parse(doc, { context: 'other' }).namespace, undefined);
    refused(doc, /context 'nope' is not in it \(contexts: prod, other\)/, { context: 'nope' });
    refused({ ...doc, 'current-context': '' }, /no current-context/);
  });

  it('round-trips through kubeconfigDocument', () => {
    const flat = parse(kubeconfig());
    assert.deepEqual(parse(stringify(kubeconfigDocument(flat))), flat);
  });

  describe('refuses what would run a program or read a file here', () => {
    it('exec plugins, suggesting a ServiceAccount token', () => {
      refused(
        kubeconfig({
          user: { token: undefined, exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws' } },
        }),
        /users\[0\]\.user\.exec is refused: .*may not run programs.*ServiceAccount token/,
      );
    });
    it('auth providers', () => {
      refused(
        kubeconfig({ user: { 'auth-provider': { name: 'gcp', config: { 'cmd-path': '/bin/sh' } } } }),
        /users\[0\]\.user\.auth-provider is refused/,
      );
    });
    for (const [where, field, inline] of [
      ['cluster', 'certificate-authority', 'certificate-authority-data'],
      ['user', 'client-certificate', 'client-certificate-data'],
      ['user', 'client-key', 'client-key-data'],
      ['user', 'tokenFile', 'token'],
      ['user', 'token-file', 'token'],
    ] as const) {
      it(`${field} (a file)`, () => {
        refused(
          kubeconfig({ [where]: { [field]: '/etc/passwd' } }),
          new RegExp(`${field} names a file, which is refused here: put the content inline \\(${inline}\\)`),
        );
      });
    }
    it('impersonation, proxies and fields it does not know', () => {
      refused(kubeconfig({ user: { as: 'system:admin' } }), /user\.as \(impersonation\) is not supported/);
      refused(kubeconfig({ cluster: { 'proxy-url': 'socks5://evil:1080' } }), /proxy-url is not supported/);
      refused(
        kubeconfig({ user: { 'made-up': 1 } }),
        /users\[0\]\.user\.made-up is not a field Capstan accepts/,
      );
      refused(kubeconfig({ context: { weird: 1 } }), /contexts\[0\]\.context\.weird is not a field/);
    });
    it('building a KubeConfig from a Secret never runs the exec command nor reads the token file', () => {
      const dir = mkdtempSync(join(tmpdir(), 'capstan-kubeconfig-'));
      try {
        const marker = join(dir, 'ran');
        const exec = { apiVersion: 'client.authentication.k8s.io/v1', command: 'touch', args: [marker] };
        const text = stringify(kubeconfig({ user: { token: undefined, exec } }));
        assert.throws(() => kubeConfigFromString(text, { source: SOURCE }), /exec is refused/);
        assert.equal(existsSync(marker), false);
        const tokenFile = join(dir, 'token');
        writeFileSync(tokenFile, 'file-token');
        assert.throws(
          () =>
            kubeConfigFromString(stringify(kubeconfig({ user: { 'token-file': tokenFile } })), {
              source: SOURCE,
            }),
          /token-file names a file/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('refuses a malformed kubeconfig, naming the problem and never a credential', () => {
    it('servers that are not http(s) URLs, or carry credentials', () => {
      refused(
        kubeconfig({ cluster: { server: 'file:///etc/passwd' } }),
        /server must be an https:\/\/ .*not file:/,
      );
      refused(kubeconfig({ cluster: { server: 'not a url' } }), /server is not a URL/);
      refused(
        kubeconfig({ cluster: { server: `https://admin:${PASSWORD}@prod.example.com` } }),
        /server may not carry credentials/,
      );
      refused(kubeconfig({ cluster: { server: undefined } }), /clusters\[0\]\.cluster\.server is missing/);
    });
    it('data that is not base64 PEM', () => {
      refused(kubeconfig({ cluster: { 'certificate-authority-data': `${TOKEN}!` } }), /is not base64/);
      refused(
        kubeconfig({
          user: { 'client-certificate-data': Buffer.from(TOKEN).toString('base64'), 'client-key-data': KEY },
        }),
        /client-certificate-data is not a base64-encoded PEM block/,
      );
    });
    it('half a credential, no credential, or a token that is not one', () => {
      refused(
        kubeconfig({ user: { 'client-certificate-data': CERT } }),
        /needs both client-certificate-data and client-key-data/,
      );
      refused(kubeconfig({ user: { username: 'admin' } }), /needs both username and password/);
      refused(kubeconfig({ user: { token: undefined } }), /has no credentials/);
      refused(kubeconfig({ user: { token: `${TOKEN}\r\nX-Evil: 1` } }), /token is not a bearer token/);
      refused(kubeconfig({ user: { token: 12345 } }), /token must be a string/);
    });
    it('a CA together with insecure-skip-tls-verify', () => {
      refused(
        kubeconfig({ cluster: { 'insecure-skip-tls-verify': true } }),
        /both a certificate authority and insecure/,
      );
    });
    it('contexts pointing nowhere, duplicates, wrong shapes', () => {
      refused(
        kubeconfig({ context: { cluster: 'gone' } }),
        /cluster 'gone' \(of context 'prod'\) is not in it/,
      );
      refused(kubeconfig({ context: { user: 'gone' } }), /user 'gone' \(of context 'prod'\) is not in it/);
      const doc = kubeconfig();
      (doc['users'] as Doc[]).push({ name: 'capstan', user: { token: 'x' } });
      refused(doc, /users has 'capstan' twice/);
      refused('- a\n- list\n', /it is not a YAML mapping/);
      refused({ ...kubeconfig(), kind: 'Pod' }, /kind must be Config, not "Pod"/);
      refused('', /it is empty/);
    });
    it('YAML it cannot read, without quoting it', () => {
      const error = refused(
        `users:\n  - name: capstan\n    user: {token: "${TOKEN}"\n`,
        /not valid YAML \(\w+ at line \d+, column \d+\)/,
      );
      assert.ok(!error.message.includes('secret-token-value'));
      refused(`a: &x {token: ${TOKEN}}\nb: *x\n`, /YAML aliases are not allowed/);
      refused(`a: 1\na: 2\n`, /not valid YAML \(DUPLICATE_KEY/);
      refused('x'.repeat(MAX_KUBECONFIG_BYTES + 1), /bytes is more than the limit/);
    });
  });

  it("inlines the files the user's own kubeconfig names when given a reader (the CLI)", () => {
    const read: string[] = [];
    const files: Record<string, string> = {
      'ca.crt': Buffer.from(CA, 'base64').toString(),
      token: `${TOKEN}\n`,
    };
    const flat = parseKubeconfig(
      stringify(
        kubeconfig({
          cluster: { 'certificate-authority-data': undefined, 'certificate-authority': 'ca.crt' },
          user: { token: undefined, tokenFile: 'token' },
        }),
      ),
      {
        source: '/home/me/.kube/config',
        readFile: (path, field) => {
          read.push(`${field}=${path}`);
          return Buffer.from(files[path] ?? '');
        },
      },
    );
    assert.deepEqual(read, [
      'clusters[0].cluster.certificate-authority=ca.crt',
      'users[0].user.tokenFile=token',
    ]);
    assert.equal(flat.cluster.certificateAuthorityData, CA);
    assert.equal(flat.user.token, TOKEN);
  });

  it('builds a KubeConfig with only the sanitised context', () => {
    const config = kubeConfigFromString(stringify(kubeconfig()), { source: SOURCE });
    assert.equal(config.getCurrentCluster()?.server, 'https://prod.example.com:6443');
    assert.equal(config.getCurrentUser()?.token, TOKEN);
    assert.equal(config.getCurrentUser()?.exec, undefined);
    assert.equal(config.getContexts().length, 1);
  });
});

describe('cluster Secrets', () => {
  const secret = (data: Record<string, string>, name = 'cluster-prod'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'capstan-system', uid: 'u1', resourceVersion: '7' },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });

  it('are what `capstan cluster add` writes and the agent reads', () => {
    const flat: FlatKubeconfig = parse(kubeconfig());
    const written = clusterSecret({
      name: 'prod',
      namespace: 'capstan-system',
      kubeconfig: stringify(kubeconfigDocument(flat)),
      inventoryNamespace: 'apps',
    });
    assert.equal(written.metadata.name, 'cluster-prod');
    assert.equal(CLUSTER_SECRET_SELECTOR, 'capstan.dev/secret-type=cluster');
    assert.equal(written.metadata.labels?.['capstan.dev/secret-type'], 'cluster');
    const registration = clusterRegistration(written) as ClusterRegistration;
    assert.equal(registration.name, 'prod');
    assert.equal(registration.inventoryNamespace, 'apps');
    assert.deepEqual(registeredKubeconfig(registration), flat);
  });

  it("default the name to the Secret's, and name the Secret in every problem", () => {
    const registration = clusterRegistration(
      secret({ kubeconfig: stringify(kubeconfig()), context: 'prod' }, 'staging'),
    );
    assert.ok(!('problem' in registration));
    assert.equal(registration.name, 'staging');
    assert.equal(registration.secret, 'Secret/capstan-system/staging');
    assert.throws(
      () => registeredKubeconfig(clusterRegistration(secret({ name: 'prod' })) as ClusterRegistration),
      /Secret\/capstan-system\/cluster-prod registers cluster 'prod' but has no key kubeconfig; register it again with 'capstan cluster add prod/,
    );
    assert.throws(
      () =>
        registeredKubeconfig(
          clusterRegistration(
            secret({ kubeconfig: stringify(kubeconfig({ user: { exec: { command: 'sh' } } })) }),
          ) as ClusterRegistration,
        ),
      /the kubeconfig of Secret\/capstan-system\/cluster-prod \(key kubeconfig\) is not usable: users\[0\]\.user\.exec is refused/,
    );
    const bad = clusterRegistration(secret({ name: 'Not_A_Name' }));
    assert.ok('problem' in bad && /key name: 'Not_A_Name' is not a valid cluster name/.test(bad.problem));
    assert.ok('problem' in clusterRegistration(secret({ name: IN_CLUSTER_NAME })));
  });

  it("never register the agent's own cluster name", () => {
    assert.equal(IN_CLUSTER_NAME, IN_CLUSTER);
  });
});
