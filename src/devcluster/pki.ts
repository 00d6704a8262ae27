import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.ts';

/** Certificates and keys of one local cluster, as file paths. */
export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
  /** Client certificates by user name: admin, controller-manager, scheduler, kwok. */
  readonly clients: Readonly<Record<ClientName, { cert: string; key: string }>>;
}

export type ClientName = 'admin' | 'controller-manager' | 'scheduler' | 'kwok';

/** Who each client is to the API server: common name and organisations (groups). */
const CLIENT_SUBJECTS: Readonly<Record<ClientName, string>> = {
  admin: '/O=system:masters/CN=capstan-dev-admin',
  'controller-manager': '/CN=system:kube-controller-manager',
  scheduler: '/CN=system:kube-scheduler',
  // kwok plays every kubelet: it needs nodes, pods and leases across the cluster.
  kwok: '/O=system:masters/CN=kwok-controller',
};

const CLIENT_EXTENSIONS = [
  'basicConstraints=CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=clientAuth',
].join('\n');

async function writeKey(path: string): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

async function sign(
  pki: { dir: string; caCert: string; caKey: string },
  base: string,
  subject: string,
  extensions: string,
): Promise<{ cert: string; key: string }> {
  const key = join(pki.dir, `${base}.key`);
  const csr = join(pki.dir, `${base}.csr`);
  const cert = join(pki.dir, `${base}.crt`);
  const ext = join(pki.dir, `${base}.ext`);
  await writeKey(key);
  await writeFile(ext, `[v3]\n${extensions}\n`);
  await run('openssl', ['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    pki.caCert,
    '-CAkey',
    pki.caKey,
    '-CAcreateserial',
    '-days',
    '825',
    '-sha256',
    '-extfile',
    ext,
    '-extensions',
    'v3',
    '-out',
    cert,
  ]);
  return { cert, key };
}

/** Makes a fresh CA, the API server's serving certificate, client certificates and a service-account key pair. */
export async function createPki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  await writeKey(caKey);
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    caKey,
    '-subj',
    '/CN=capstan-dev-ca',
    '-days',
    '3650',
    '-sha256',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    caCert,
  ]);
  const ca = { dir, caCert, caKey };
  const server = await sign(
    ca,
    'apiserver',
    '/CN=kube-apiserver',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1,IP:10.200.0.1',
    ].join('\n'),
  );
  const clients = {} as Record<ClientName, { cert: string; key: string }>;
  for (const [name, subject] of Object.entries(CLIENT_SUBJECTS) as [ClientName, string][]) {
    clients[name] = await sign(ca, `client-${name}`, subject, CLIENT_EXTENSIONS);
  }
  const serviceAccountKey = join(dir, 'service-account.key');
  const serviceAccountPub = join(dir, 'service-account.pub');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFile(serviceAccountKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(serviceAccountPub, publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    dir,
    caCert,
    caKey,
    serverCert: server.cert,
    serverKey: server.key,
    serviceAccountKey,
    serviceAccountPub,
    clients,
  };
}

/**
 * One more client certificate signed by the cluster's CA (the real node's kubelet and kube-proxy, the
 * API server's client to kubelets). `subject` is an openssl subject: /O=group/CN=user.
 */
export async function signClientCertificate(
  pki: Pick<Pki, 'dir' | 'caCert' | 'caKey'>,
  base: string,
  subject: string,
): Promise<{ cert: string; key: string }> {
  return sign(pki, `client-${base}`, subject, CLIENT_EXTENSIONS);
}

/**
 * A serving certificate signed by the cluster's CA for loopback (the local image registry), and for
 * `extraIps` besides (the real node's address, where pods reach the registry).
 */
export async function signLoopbackServerCertificate(
  pki: Pick<Pki, 'dir' | 'caCert' | 'caKey'>,
  base: string,
  extraIps: readonly string[] = [],
): Promise<{ cert: string; key: string }> {
  const names = ['DNS:localhost', 'IP:127.0.0.1', ...extraIps.map((ip) => `IP:${ip}`)];
  return sign(
    pki,
    base,
    `/CN=${base}`,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${names.join(',')}`,
    ].join('\n'),
  );
}

/** A serving certificate signed by the cluster's CA for in-cluster names (`buildkitd.capstan-buildkit.svc`). */
export async function signServiceCertificate(
  pki: Pick<Pki, 'dir' | 'caCert' | 'caKey'>,
  base: string,
  dnsNames: readonly string[],
): Promise<{ cert: string; key: string }> {
  return sign(
    pki,
    base,
    `/CN=${dnsNames[0] ?? base}`,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}`,
    ].join('\n'),
  );
}
