// A key shared by the replicas of `capstan server` (the page cursors' HMAC key, and the run requests'
// key derived from it), kept in a Secret of the server's namespace: read when it is there, else made at
// random and written.
import { randomBytes } from 'node:crypto';
import type { KubeObject } from '../../core/resource.ts';
import { secretBytes } from '../../core/secret-data.ts';
import type { Cluster, ResourceType } from '../../ports/cluster.ts';

/** The key of the Secret's data that holds it. */
export const SHARED_KEY = 'cursorKey';

/**
 * The shared key from Secret `namespace/name` (`cursorKey`), created with 32 random bytes when absent.
 * When it cannot be written, the random key is returned: cursors then hold for this replica only. A
 * stored value that is not base64 is refused (SECRET_DATA_INVALID) naming the Secret.
 */
export async function sharedKey(
  cluster: Pick<Cluster, 'get' | 'apply'>,
  secrets: ResourceType,
  secret: { readonly namespace: string; readonly name: string; readonly fieldManager: string },
): Promise<Buffer> {
  const { namespace, name } = secret;
  const subject = `Secret/${namespace}/${name}`;
  const existing = await cluster.get(secrets, namespace, name).catch(() => undefined);
  const kept = secretBytes(existing, SHARED_KEY, subject);
  if (kept !== undefined) return kept;
  const key = randomBytes(32);
  const body: KubeObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'capstan' } },
    type: 'Opaque',
    data: { [SHARED_KEY]: key.toString('base64') },
  };
  let stored: KubeObject | undefined;
  try {
    // Not forced: a replica that wrote first wins, and this one reads its key.
    await cluster.apply(secrets, body, { fieldManager: secret.fieldManager });
    stored = await cluster.get(secrets, namespace, name);
  } catch {
    // Without a shared key, cursors hold for this replica only.
    return key;
  }
  return secretBytes(stored, SHARED_KEY, subject) ?? key;
}
