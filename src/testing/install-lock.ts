/**
 * One test at a time installs Capstan's manifests in a cluster. The install's cluster-scoped objects
 * have fixed names (ClusterRoleBindings capstan-agent, capstan-reader, capstan-server; see
 * src/contracts/install.ts): a second install in another namespace of the same cluster binds them to
 * its own ServiceAccounts, and the first install's agent and server lose their cluster-wide rights
 * while they run (the agent's webhook answers 500 WEBHOOK_REFRESH_FAILED, the server's writes of a
 * Pipeline's status are refused). Two runs of a node test on one cluster (two helpers, or a run and a
 * bench) therefore take turns: a Lease in `default`, held and renewed while the test runs. One left by
 * a test that died expires after its duration.
 */
import * as k8s from '@kubernetes/client-node';
import { eventually } from './eventually.ts';

export const INSTALL_LOCK_NAME = 'capstan-install-test';
const LOCK_NAMESPACE = 'default';

export interface InstallLockOptions {
  /** How long to wait for another holder. Default 40 min (a node test's own limit is 30). */
  readonly timeoutMs?: number;
  /** The Lease's duration: how long one left by a test that died blocks others. Default 90 s. */
  readonly leaseSeconds?: number;
  /** Told once when another test holds the lock, and whom the wait is for. */
  readonly onWait?: (holder: string) => void;
}

const isCode = (error: unknown, code: number) => error instanceof k8s.ApiException && error.code === code;

/** Whether the Lease's holder has not renewed it within its duration (it died). */
export function leaseExpired(lease: k8s.V1Lease, now: Date): boolean {
  const renewed = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  const seconds = lease.spec?.leaseDurationSeconds ?? 0;
  return renewed === undefined || new Date(renewed).getTime() + seconds * 1000 < now.getTime();
}

/**
 * Waits until this test holds the cluster's install lock (as `holder`), then keeps it renewed;
 * resolves with its release (which deletes the Lease if it is still this holder's).
 */
export async function holdInstallLock(
  config: k8s.KubeConfig,
  holder: string,
  options: InstallLockOptions = {},
): Promise<() => Promise<void>> {
  const leases = config.makeApiClient(k8s.CoordinationV1Api);
  const leaseSeconds = options.leaseSeconds ?? 90;
  const spec = () => ({
    holderIdentity: holder,
    leaseDurationSeconds: leaseSeconds,
    renewTime: new k8s.V1MicroTime(),
  });
  let told = false;
  await eventually(
    async () => {
      try {
        await leases.createNamespacedLease({
          namespace: LOCK_NAMESPACE,
          body: {
            metadata: { name: INSTALL_LOCK_NAME },
            spec: { ...spec(), acquireTime: new k8s.V1MicroTime() },
          },
        });
        return true;
      } catch (error) {
        if (!isCode(error, 409)) throw error;
      }
      const held = await leases.readNamespacedLease({ namespace: LOCK_NAMESPACE, name: INSTALL_LOCK_NAME });
      if (held.spec?.holderIdentity === holder) return true;
      if (leaseExpired(held, new Date())) {
        // Left by a test that died: removed only as read (another waiter may have taken it meanwhile).
        await leases
          .deleteNamespacedLease({
            namespace: LOCK_NAMESPACE,
            name: INSTALL_LOCK_NAME,
            body: { preconditions: { resourceVersion: held.metadata?.resourceVersion ?? '' } },
          })
          .catch((error: unknown) => {
            if (!isCode(error, 409) && !isCode(error, 404)) throw error;
          });
        return false;
      }
      if (!told) options.onWait?.(held.spec?.holderIdentity ?? 'unknown');
      told = true;
      return false;
    },
    {
      what: `the cluster's install lock (Lease ${LOCK_NAMESPACE}/${INSTALL_LOCK_NAME}) free`,
      timeoutMs: options.timeoutMs ?? 2_400_000,
      intervalMs: 2000,
    },
  );
  const renew = async () => {
    const held = await leases.readNamespacedLease({ namespace: LOCK_NAMESPACE, name: INSTALL_LOCK_NAME });
    if (held.spec?.holderIdentity !== holder) return;
    held.spec = Object.assign(held.spec ?? {}, spec());
    await leases.replaceNamespacedLease({ namespace: LOCK_NAMESPACE, name: INSTALL_LOCK_NAME, body: held });
  };
  // A third of the duration: a renewal that fails (a conflict, a slow API server) has two more chances.
  const timer = setInterval(() => void renew().catch(() => undefined), (leaseSeconds * 1000) / 3);
  timer.unref();
  return async () => {
    clearInterval(timer);
    const held = await leases
      .readNamespacedLease({ namespace: LOCK_NAMESPACE, name: INSTALL_LOCK_NAME })
      .catch(() => undefined);
    if (held?.spec?.holderIdentity !== holder) return;
    await leases
      .deleteNamespacedLease({
        namespace: LOCK_NAMESPACE,
        name: INSTALL_LOCK_NAME,
        body: { preconditions: { resourceVersion: held.metadata?.resourceVersion ?? '' } },
      })
      .catch(() => undefined);
  };
}
