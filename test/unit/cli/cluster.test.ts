// `capstan cluster` without a cluster: usage errors (exit 2), refused kubeconfigs (exit 4) before
// anything is contacted, the files a user's kubeconfig names read and inlined, and the list table.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { clusterTable } from '../../../src/cli/commands/cluster.ts';
import { readKubeconfigFile } from '../../../src/adapters/kube/cluster-client.ts';

const CLI = join(import.meta.dirname, '..', '..', '..', 'bin', 'capstan.js');
const dir = mkdtempSync(join(tmpdir(), 'capstan-cluster-cli-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
// No reachable cluster: whatever would contact one fails, so exit codes 2 and 4 below come from the checks.
const capstan = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: join(dir, 'absent'), NO_COLOR: '1' },
  });

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const TOKEN = 'sa-token-that-must-not-be-printed';

function writeKubeconfig(
  name: string,
  user: Record<string, unknown>,
  cluster: Record<string, unknown> = {},
): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://prod.example.com:6443', ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [
        { name: 'main', context: { cluster: 'c', user: 'u' } },
        { name: 'other', context: { cluster: 'c', user: 'u', namespace: 'team' } },
      ],
      'current-context': 'main',
    }),
  );
  return path;
}

describe('capstan cluster', () => {
  it('prints its help, and refuses unknown commands and flags with exit 2', () => {
    const help = capstan('cluster', '--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: capstan cluster <command>/);
    assert.equal(capstan('cluster').status, 2);
    const unknown = capstan('cluster', 'frobnicate');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'cluster frobnicate'; one of: add, list, remove/);
    const flag = capstan('cluster', 'list', '--inventory-namespace', 'x');
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /--inventory-namespace is not an option of 'capstan cluster list'/);
  });

  it('refuses a missing --kubeconfig, a bad or reserved name, and a bad namespace with exit 2', () => {
    const missing = capstan('cluster', 'add', 'prod');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /needs --kubeconfig FILE/);
    const reserved = capstan('cluster', 'add', 'in-cluster', '--kubeconfig', 'x');
    assert.equal(reserved.status, 2);
    assert.match(reserved.stderr, /'in-cluster' is the agent's own cluster and cannot be registered/);
    assert.equal(capstan('cluster', 'add', 'Bad_Name', '--kubeconfig', 'x').status, 2);
    assert.equal(capstan('cluster', 'remove').status, 2);
    assert.equal(capstan('cluster', 'list', '-n', 'Not/A/Namespace').status, 2);
    assert.equal(capstan('cluster', 'list', '-o', 'xml').status, 2);
  });

  it('refuses an exec user with exit 4, suggesting a ServiceAccount token, before contacting anything', () => {
    const path = writeKubeconfig('exec.yaml', {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        command: 'aws',
        args: ['eks', 'get-token'],
      },
    });
    const r = capstan('cluster', 'add', 'prod', '--kubeconfig', path);
    assert.equal(r.status, 4);
    assert.match(
      r.stderr,
      /\[CLUSTER_KUBECONFIG_INVALID\]: the kubeconfig of .*exec\.yaml is not usable: users\[0\]\.user\.exec is refused: .*ServiceAccount token/,
    );
  });

  it('never prints the token of a kubeconfig it refuses', () => {
    const path = writeKubeconfig('proxy.yaml', { token: TOKEN }, { 'proxy-url': 'http://proxy:3128' });
    const r = capstan('cluster', 'add', 'prod', '--kubeconfig', path);
    assert.equal(r.status, 4);
    assert.match(r.stderr, /proxy-url is not supported/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(TOKEN));
  });

  it("reads the files the user's kubeconfig names, relative to it, for the chosen context", () => {
    writeFileSync(join(dir, 'ca.crt'), PEM);
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    const path = writeKubeconfig('files.yaml', { tokenFile: 'token' }, { 'certificate-authority': 'ca.crt' });
    const flat = readKubeconfigFile(path, 'other');
    assert.equal(flat.context, 'other');
    assert.equal(flat.namespace, 'team');
    assert.equal(flat.user.token, TOKEN);
    assert.equal(Buffer.from(flat.cluster.certificateAuthorityData ?? '', 'base64').toString(), PEM);
    const missing = writeKubeconfig(
      'missing.yaml',
      { token: TOKEN },
      { 'certificate-authority': 'nope.crt' },
    );
    assert.throws(
      () => readKubeconfigFile(missing),
      /cannot read nope\.crt \(clusters\[0\]\.cluster\.certificate-authority\)/,
    );
    assert.throws(
      () => readKubeconfigFile(join(dir, 'absent.yaml')),
      /cannot read the kubeconfig .*absent\.yaml/,
    );
  });

  it('lists clusters as a table without credentials', () => {
    const text = clusterTable([
      {
        name: 'prod',
        server: 'https://prod.example.com:6443',
        auth: 'token',
        secret: 'Secret/capstan-system/cluster-prod',
        inventoryNamespace: 'capstan-system',
      },
      {
        name: 'broken',
        secret: 'Secret/capstan-system/broken',
        inventoryNamespace: 'capstan-system',
        error:
          'the kubeconfig of Secret/capstan-system/broken (key kubeconfig) is not usable: users[0].user.exec is refused',
      },
    ]);
    assert.match(text, /^NAME\s+SERVER\s+AUTH\s+SECRET\s+MESSAGE\n/);
    assert.match(text, /prod\s+https:\/\/prod\.example\.com:6443\s+token\s+capstan-system\/cluster-prod\n/);
    assert.match(text, /broken\s+-\s+-\s+capstan-system\/broken\s+the kubeconfig of/);
  });
});
