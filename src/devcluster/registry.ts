import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { run } from './exec.ts';
import { signLoopbackServerCertificate, type Pki } from './pki.ts';
import { waitUntil, type ProcessRecord, type StartOptions } from './processes.ts';

/** Debian's docker-registry (CNCF distribution 2.8). */
export const REGISTRY_BINARY = '/usr/bin/docker-registry';
const USER = 'capstan';

/** The cluster's image registry: where it listens, who may use it, and the CA its certificate is signed by. */
export interface RegistryState {
  /** `127.0.0.1:<port>`: the same name on the machine and on the node (the forwarder listens there too). */
  readonly address: string;
  readonly port: number;
  /**
   * `<node address>:<port>` on a real node: where Pods reach the registry (the forwarder listens there
   * inside the node's namespace; the certificate names that address too). Absent without a real node,
   * and in the state of a node started before it existed.
   */
  readonly podAddress?: string;
  readonly username: string;
  /** A file holding the password (mode 0600); never printed. */
  readonly passwordFile: string;
  /** A container auth file (`{"auths": ...}`, mode 0600) for skopeo's --authfile and podman. */
  readonly authFile: string;
  /** A folder holding only the CA certificate, for skopeo's --cert-dir. */
  readonly certDir: string;
  readonly caFile: string;
  readonly dataDir: string;
}

/** Writes the registry's certificate, htpasswd file and configuration; returns its state and how to start it. */
export async function prepareRegistry(options: {
  root: string;
  pki: Pki;
  port: number;
  logs: string;
  /** The real node's address, where a forwarder makes the registry answer Pods (named in its certificate). */
  podHost?: string;
}): Promise<{ state: RegistryState; start: StartOptions }> {
  const dir = join(options.root, 'registry');
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tls = await signLoopbackServerCertificate(
    options.pki,
    'registry',
    options.podHost === undefined ? [] : [options.podHost],
  );
  const password = randomBytes(18).toString('hex');
  const passwordFile = join(dir, 'password');
  await writeFile(passwordFile, password, { mode: 0o600 });
  // bcrypt, as the registry requires; the password goes in on stdin, never in an argument list.
  const { stdout } = await run('htpasswd', ['-B', '-i', '-n', USER], { input: password });
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, stdout, { mode: 0o600 });
  const address = `127.0.0.1:${options.port}`;
  const authFile = join(dir, 'auth.json');
  const auth = Buffer.from(`${USER}:${password}`).toString('base64');
  await writeFile(authFile, JSON.stringify({ auths: { [address]: { auth } } }) + '\n', { mode: 0o600 });
  const certDir = join(dir, 'certs');
  await mkdir(certDir, { recursive: true });
  await writeFile(join(certDir, 'ca.crt'), readFileSync(options.pki.caCert));
  const config = join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify(
      {
        version: 0.1,
        log: { level: 'warn', accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: dataDir }, delete: { enabled: true } },
        http: {
          addr: `127.0.0.1:${options.port}`,
          tls: { certificate: tls.cert, key: tls.key },
        },
        auth: { htpasswd: { realm: 'capstan-dev-registry', path: htpasswd } },
      },
      null,
      2,
    ) + '\n',
  );
  return {
    state: {
      address,
      port: options.port,
      ...(options.podHost === undefined ? {} : { podAddress: `${options.podHost}:${options.port}` }),
      username: USER,
      passwordFile,
      authFile,
      certDir,
      caFile: options.pki.caCert,
      dataDir,
    },
    start: {
      name: 'registry',
      binary: REGISTRY_BINARY,
      args: ['serve', config],
      log: join(options.logs, 'registry.log'),
    },
  };
}

/** Waits until the registry answers /v2/ over TLS (401 without credentials: it is up and guarded). */
export async function waitRegistryReady(
  state: RegistryState,
  record: ProcessRecord,
  deadline: number,
): Promise<void> {
  const ca = readFileSync(state.caFile);
  await waitUntil(
    record,
    deadline,
    'the image registry',
    () =>
      new Promise<boolean>((resolve, reject) => {
        const req = request(`https://${state.address}/v2/`, { ca, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode === 401);
        });
        req.on('error', reject);
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.end();
      }),
  );
}

export function registryPassword(state: RegistryState): string {
  try {
    return readFileSync(state.passwordFile, 'utf8');
  } catch (error) {
    throw new CapstanError(
      'REGISTRY_CREDENTIALS',
      `cannot read the registry's password file ${state.passwordFile}`,
      {
        cause: error,
      },
    );
  }
}

/** containerd's registry host configuration: the registry's CA, pull and resolve only. */
export function containerdHostsToml(state: RegistryState): string {
  return `server = "https://${state.address}"

[host."https://${state.address}"]
  capabilities = ["pull", "resolve"]
  ca = ${JSON.stringify(state.caFile)}
`;
}

/**
 * Copies an OCI archive into the registry with skopeo, over TLS with the cluster's CA and its auth
 * file; returns the digest of the manifest as the registry stores it.
 */
export function pushArchive(options: {
  registry: RegistryState;
  archive: string;
  repository: string;
  tag: string;
}): Promise<string> {
  return pushImage({
    ...options,
    source: `oci-archive:${options.archive}`,
    digestFile: `${options.archive}.pushed-digest`,
  });
}

/**
 * Copies an image from an OCI layout (`layout`, the image named `name` in it) into the registry
 * unchanged: the same manifest and blobs, so the same digest as where it was copied from.
 */
export function pushLayout(options: {
  registry: RegistryState;
  layout: string;
  name: string;
  repository: string;
  tag: string;
  digestFile: string;
}): Promise<string> {
  return pushImage({ ...options, source: `oci:${options.layout}:${options.name}`, preserveDigests: true });
}

async function pushImage(options: {
  registry: RegistryState;
  source: string;
  repository: string;
  tag: string;
  digestFile: string;
  preserveDigests?: boolean;
}): Promise<string> {
  const target = `${options.registry.address}/${options.repository}:${options.tag}`;
  await run(
    'skopeo',
    [
      'copy',
      '--quiet',
      ...(options.preserveDigests === true ? ['--preserve-digests'] : []),
      '--dest-cert-dir',
      options.registry.certDir,
      '--dest-authfile',
      options.registry.authFile,
      '--digestfile',
      options.digestFile,
      options.source,
      `docker://${target}`,
    ],
    { timeoutMs: 120_000 },
  ).catch((error: unknown) => {
    throw new CapstanError(
      'REGISTRY_PUSH_FAILED',
      `pushing ${target} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  });
  return (await readFile(options.digestFile, 'utf8')).trim();
}

/** Copies an image of the registry (`reference`, by digest) into the OCI layout `layout` as `name`, unchanged. */
export async function pullToLayout(options: {
  registry: RegistryState;
  reference: string;
  layout: string;
  name: string;
}): Promise<void> {
  await run(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--preserve-digests',
      '--src-cert-dir',
      options.registry.certDir,
      '--src-authfile',
      options.registry.authFile,
      `docker://${options.reference}`,
      `oci:${options.layout}:${options.name}`,
    ],
    { timeoutMs: 300_000 },
  ).catch((error: unknown) => {
    throw new CapstanError(
      'REGISTRY_PULL_FAILED',
      `copying ${options.reference} out of the registry failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  });
}
