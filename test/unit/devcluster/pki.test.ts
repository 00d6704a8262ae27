import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createPki } from '../../../src/devcluster/pki.ts';

describe('local cluster PKI (openssl)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-pki-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const pki = await createPki(join(dir, 'pki'));
  const cert = async (path: string) => new X509Certificate(await readFile(path));

  it('signs the API server certificate for loopback and the in-cluster names', async () => {
    const ca = await cert(pki.caCert);
    const server = await cert(pki.serverCert);
    assert.equal(ca.ca, true);
    assert.equal(server.verify(ca.publicKey), true);
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkHost('kubernetes.default.svc'), 'kubernetes.default.svc');
    assert.equal(server.checkHost('localhost'), 'localhost');
  });

  it('gives the admin system:masters and the controllers their own user names', async () => {
    const ca = await cert(pki.caCert);
    const admin = await cert(pki.clients.admin.cert);
    assert.equal(admin.verify(ca.publicKey), true);
    assert.match(admin.subject, /O=system:masters/);
    assert.match(
      (await cert(pki.clients['controller-manager'].cert)).subject,
      /CN=system:kube-controller-manager/,
    );
    assert.match((await cert(pki.clients.scheduler.cert)).subject, /CN=system:kube-scheduler/);
  });

  it('keeps private keys readable by their owner only, and signs service accounts with a key of their own', async () => {
    for (const key of [pki.caKey, pki.serverKey, pki.serviceAccountKey, pki.clients.admin.key]) {
      assert.equal((await stat(key)).mode & 0o077, 0, `${key} is readable by others`);
    }
    assert.notEqual(
      await readFile(pki.serviceAccountKey, 'utf8'),
      await readFile(pki.clients.admin.key, 'utf8'),
    );
  });
});
