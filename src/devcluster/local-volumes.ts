import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { nodePaths } from './node-config.ts';
import { signClientCertificate } from './pki.ts';
import { waitUntil, type ProcessRecord } from './processes.ts';
import type { RealNodeContext } from './real-node.ts';
import { createUnlessExists, type AdminClient } from './rest.ts';

/**
 * The dev cluster's volumes: a default StorageClass whose claims become folders of the real node, as a
 * single-node dev cluster's provisioner does (kind's local-path, the controller-manager's hostPath
 * provisioner). The controller-manager's own one (`--enable-hostpath-provisioner`) makes its folders
 * under the machine's /tmp, mode 0750 and owned by root, as hostPath volumes that the kubelet never
 * gives a Pod's fsGroup: a non-root Pod (Capstan's server, a run Pod) could not write them, and
 * `down` would have to find them there. This one runs as a process of the cluster (like CoreDNS, on the
 * machine; `down` stops it) and makes each volume a `local` PersistentVolume (the kubelet gives those
 * the Pod's fsGroup) in a folder of the node, `<cluster>/node/volumes/<pv>`, which the kubelet's mount
 * namespace sees as the machine does.
 *
 * Binding waits for the first consumer: the scheduler picks the Pod's node and writes it on the claim
 * (`volume.kubernetes.io/selected-node`); the volume is then made with that node as its affinity. A
 * claim released (deleted) makes its volume go, folder and object (reclaim policy Delete).
 *
 * Every dev cluster has it, kwok-only ones too, so that install.yaml's claim binds on any of them. A
 * volume on a kwok node gets no folder: kwok runs no container, so nothing would ever mount or write
 * it, and a folder would only be left behind (a kwok-only cluster has no node folder that `down`
 * removes). Its PersistentVolume still names the path it would have (under the node's volumes
 * folder), so that the object is the same on either kind of node. Only the nodes given as
 * `folderNodes` (the real node) get folders.
 *
 * The provisioner watches claims and volumes (any change starts a pass, which lists both) and passes
 * again every `resync` besides, so that an event lost between two watch requests is made up for.
 */
export const LOCAL_VOLUMES = {
  storageClass: 'capstan-local',
  provisioner: 'capstan.dev/local-volume',
  /** The provisioner's client certificate's user, bound to the ClusterRole of the same name. */
  user: 'system:capstan-local-volumes',
} as const;

const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

/** The StorageClass (the cluster's default) and the provisioner's rights. */
export async function registerLocalVolumes(api: AdminClient): Promise<void> {
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  await createUnlessExists(api, `${rbac}/clusterroles`, {
    metadata: { name: LOCAL_VOLUMES.user },
    rules: [
      { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['list', 'watch', 'create', 'delete'] },
    ],
  });
  await createUnlessExists(api, `${rbac}/clusterrolebindings`, {
    metadata: { name: LOCAL_VOLUMES.user },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: LOCAL_VOLUMES.user },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: LOCAL_VOLUMES.user }],
  });
  await createUnlessExists(api, '/apis/storage.k8s.io/v1/storageclasses', {
    metadata: {
      name: LOCAL_VOLUMES.storageClass,
      annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
    },
    provisioner: LOCAL_VOLUMES.provisioner,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  });
}

export interface Claim {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly annotations?: Record<string, string>;
  };
  readonly spec: {
    readonly storageClassName?: string;
    readonly volumeName?: string;
    readonly volumeMode?: string;
    readonly accessModes?: readonly string[];
    readonly resources?: { readonly requests?: Record<string, string> };
  };
  readonly status?: { readonly phase?: string };
}

export interface Volume {
  readonly metadata: { readonly name: string; readonly annotations?: Record<string, string> };
  readonly spec: {
    readonly local?: { readonly path: string };
    readonly persistentVolumeReclaimPolicy?: string;
  };
  readonly status?: { readonly phase?: string };
}

/** What one pass does: the volumes to make (for claims waiting on their node) and those to remove. */
export interface VolumePlan {
  /** `makeFolder`: the volume's node runs containers (a folder node); false on a kwok node. */
  readonly create: readonly {
    readonly folder: string;
    readonly makeFolder: boolean;
    readonly volume: Record<string, unknown>;
  }[];
  readonly remove: readonly { readonly name: string; readonly folder: string }[];
  /** Claims this provisioner cannot serve, and why (a block volume). */
  readonly refused: readonly string[];
}

/**
 * Pure: the claims and volumes as listed, the folder the volumes live in, and the nodes whose volumes
 * get a folder there (the real node; none in a kwok-only cluster).
 */
export function planVolumes(
  claims: readonly Claim[],
  volumes: readonly Volume[],
  root: string,
  folderNodes: ReadonlySet<string> = new Set(),
): VolumePlan {
  const ours = (v: Volume) => v.metadata.annotations?.[PROVISIONED_BY] === LOCAL_VOLUMES.provisioner;
  const existing = new Set(volumes.map((v) => v.metadata.name));
  const create: { folder: string; makeFolder: boolean; volume: Record<string, unknown> }[] = [];
  const refused: string[] = [];
  for (const claim of claims) {
    const node = claim.metadata.annotations?.[SELECTED_NODE];
    const waiting =
      claim.spec.storageClassName === LOCAL_VOLUMES.storageClass &&
      (claim.spec.volumeName ?? '') === '' &&
      (claim.status?.phase ?? 'Pending') === 'Pending' &&
      node !== undefined;
    const name = `pvc-${claim.metadata.uid}`;
    if (!waiting || existing.has(name)) continue;
    if ((claim.spec.volumeMode ?? 'Filesystem') !== 'Filesystem') {
      refused.push(
        `PersistentVolumeClaim/${claim.metadata.namespace}/${claim.metadata.name}: volumeMode ${claim.spec.volumeMode ?? ''} (only Filesystem)`,
      );
      continue;
    }
    const folder = join(root, name);
    create.push({
      folder,
      makeFolder: folderNodes.has(node),
      volume: volumeFor(claim, { name, folder, node }),
    });
  }
  const remove = volumes
    .filter(
      (v) => ours(v) && v.status?.phase === 'Released' && v.spec.persistentVolumeReclaimPolicy === 'Delete',
    )
    .filter((v) => v.spec.local?.path === join(root, v.metadata.name))
    .map((v) => ({ name: v.metadata.name, folder: join(root, v.metadata.name) }));
  return { create, remove, refused };
}

function volumeFor(
  claim: Claim,
  at: { name: string; folder: string; node: string },
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: at.name, annotations: { [PROVISIONED_BY]: LOCAL_VOLUMES.provisioner } },
    spec: {
      capacity: { storage: claim.spec.resources?.requests?.['storage'] ?? '1Gi' },
      accessModes: claim.spec.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: LOCAL_VOLUMES.storageClass,
      volumeMode: 'Filesystem',
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: claim.metadata.namespace,
        name: claim.metadata.name,
        uid: claim.metadata.uid,
      },
      local: { path: at.folder },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [at.node] }] },
          ],
        },
      },
    },
  };
}

/**
 * One pass: lists claims and volumes, makes the folders and volumes planned (a folder open to every
 * user: the kubelet gives it the Pod's fsGroup where there is one, and a Pod without one may still
 * write), removes the released ones. Returns what it did, one line each, for the provisioner's log.
 */
export async function provisionOnce(
  api: AdminClient,
  root: string,
  folderNodes: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const claims = await listItems<Claim>(api, '/api/v1/persistentvolumeclaims');
  const volumes = await listItems<Volume>(api, '/api/v1/persistentvolumes');
  const plan = planVolumes(claims, volumes, root, folderNodes);
  const done: string[] = [...plan.refused.map((r) => `refused ${r}`)];
  for (const { folder, makeFolder, volume } of plan.create) {
    if (makeFolder) {
      await mkdir(folder, { recursive: true });
      await chmod(folder, 0o777);
    }
    const res = await api.call('POST', '/api/v1/persistentvolumes', volume);
    const name = (volume['metadata'] as { name: string }).name;
    if (res.status !== 201 && res.status !== 409)
      throw new Error(
        `POST PersistentVolume/${name}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`,
      );
    done.push(`made PersistentVolume/${name} ${makeFolder ? `in ${folder}` : '(a kwok node: no folder)'}`);
  }
  for (const { name, folder } of plan.remove) {
    const hadFolder = existsSync(folder);
    await rm(folder, { recursive: true, force: true });
    const res = await api.call('DELETE', `/api/v1/persistentvolumes/${name}`);
    if (res.status !== 200 && res.status !== 404)
      throw new Error(`DELETE PersistentVolume/${name}: HTTP ${res.status}`);
    done.push(`removed PersistentVolume/${name}${hadFolder ? ` and ${folder}` : ''}`);
  }
  return done;
}

async function listItems<T>(api: AdminClient, path: string): Promise<T[]> {
  const res = await api.call('GET', path);
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return (res.body as { items?: T[] }).items ?? [];
}

/**
 * Runs `pass` when triggered, one at a time: a trigger during a pass makes one more pass after it (any
 * number of triggers meanwhile make one), so that a change seen while a pass lists is never missed.
 */
export class PassQueue {
  readonly #pass: () => Promise<void>;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(pass: () => Promise<void>) {
    this.#pass = pass;
  }

  #askedAgain(): boolean {
    return this.#again;
  }

  /** Starts a pass, or asks for one more after the current one; resolves when the passes are done. */
  trigger(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = async () => {
      do {
        this.#again = false;
        await this.#pass();
        // Set again by a trigger while the pass ran (TypeScript cannot see that through the await).
      } while (this.#askedAgain());
    };
    this.#running = run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }
}

/**
 * The default StorageClass and its provisioner: a process on the machine (every dev cluster, kwok-only
 * too), with a client certificate of its own; returns once it has made its first pass. `folderNodes`:
 * the real node, whose volumes are folders under its volumes folder (none in a kwok-only cluster).
 */
export async function startLocalVolumes(
  ctx: RealNodeContext,
  options: { readonly api: AdminClient; readonly folderNodes: readonly string[]; readonly deadline: number },
): Promise<ProcessRecord> {
  ctx.say(`starting the volume provisioner (StorageClass ${LOCAL_VOLUMES.storageClass}, the default)`);
  await registerLocalVolumes(options.api);
  const cert = await signClientCertificate(ctx.pki, 'local-volumes', `/CN=${LOCAL_VOLUMES.user}`);
  const root = nodePaths(ctx.clusterRoot, ctx.clusterName).volumes;
  if (options.folderNodes.length > 0) await mkdir(root, { recursive: true, mode: 0o700 });
  const record = ctx.launch({
    name: 'local-volumes',
    binary: process.execPath,
    args: [
      // Beside this file: .ts from the sources, .js in a package built by tsc.
      join(import.meta.dirname, `local-volumes-main${extname(import.meta.filename)}`),
      `--server=${ctx.server}`,
      `--ca=${ctx.pki.caCert}`,
      `--cert=${cert.cert}`,
      `--key=${cert.key}`,
      `--root=${root}`,
      ...options.folderNodes.map((node) => `--folder-node=${node}`),
    ],
    log: join(ctx.logs, 'local-volumes.log'),
  });
  await waitUntil(record, options.deadline, 'the volume provisioner', async () =>
    (await readFile(record.log, 'utf8')).includes('ready'),
  );
  return record;
}
