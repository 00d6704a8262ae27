import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

export type Credentials =
  { readonly certFile: string; readonly keyFile: string } | { readonly token: string };

export interface KubeconfigOptions {
  readonly server: string;
  readonly caFile: string;
  readonly clusterName: string;
  readonly userName: string;
  readonly credentials: Credentials;
  readonly namespace?: string;
}

const b64 = async (path: string) => (await readFile(path)).toString('base64');

/**
 * Writes a self-contained kubeconfig (certificates embedded), readable only by its owner. Written beside
 * and renamed over the old one, so that a process reading it while it is written again (a second server
 * asking for the same identity) reads the old file or the new one, never an empty one.
 */
export async function writeKubeconfig(path: string, options: KubeconfigOptions): Promise<void> {
  const user =
    'token' in options.credentials
      ? { token: options.credentials.token }
      : {
          'client-certificate-data': await b64(options.credentials.certFile),
          'client-key-data': await b64(options.credentials.keyFile),
        };
  const context = `${options.userName}@${options.clusterName}`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: options.clusterName,
        cluster: { server: options.server, 'certificate-authority-data': await b64(options.caFile) },
      },
    ],
    users: [{ name: options.userName, user }],
    contexts: [
      {
        name: context,
        context: {
          cluster: options.clusterName,
          user: options.userName,
          ...(options.namespace ? { namespace: options.namespace } : {}),
        },
      },
    ],
    'current-context': context,
  };
  const partial = `${path}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await writeFile(partial, stringify(doc), { mode: 0o600 });
    await rename(partial, path);
  } catch (error) {
    // A full disk or a folder removed meanwhile: no partial file is left beside the kubeconfigs.
    await rm(partial, { force: true });
    throw error;
  }
}
