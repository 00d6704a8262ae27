import { readFile, writeFile } from 'node:fs/promises';
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

/** Writes a self-contained kubeconfig (certificates embedded), readable only by its owner. */
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
  await writeFile(path, stringify(doc), { mode: 0o600 });
}
