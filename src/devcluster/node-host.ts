import {
  access,
  constants,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  rmdir,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { run } from './exec.ts';
import { cgroupRoot, KUBELET_SYSCTLS, NODE_NETWORK, netnsName, type NodePaths } from './node-config.ts';

/**
 * The machine-level pieces of a real node, each with its undo: a network namespace, a mount namespace,
 * cgroups. Nothing here touches the machine's own interfaces, mounts or cgroups: it only adds its own
 * and removes them again.
 */

const CGROUP_FS = '/sys/fs/cgroup';
export const RUNC = '/usr/sbin/runc';
export const CNI_BIN = '/usr/lib/cni';
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];
const PROGRAMS = ['ip', 'nsenter', 'unshare', 'mount', 'umount', 'iptables', 'tar'];
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function onPath(program: string): Promise<boolean> {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      await access(join(dir, program), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/** Says, before anything is created, what this machine lacks for a real node, and how to get it. */
export async function assertNodePrerequisites(): Promise<void> {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('a real node needs root (namespaces, mounts, cgroups)');
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (!/\toverlay\n/.test(filesystems))
    problems.push('the kernel has no overlay file system (CONFIG_OVERLAY_FS)');
  if (!(await exists('/proc/sys/net/bridge/bridge-nf-call-iptables')))
    problems.push('the kernel has no bridge netfilter (CONFIG_BRIDGE_NETFILTER)');
  for (const controller of ['cpu', 'memory', 'pids'])
    if (
      !(await exists(join(CGROUP_FS, controller, 'cgroup.procs'))) &&
      !(await exists(join(CGROUP_FS, 'cgroup.controllers')))
    )
      problems.push(`no cgroup hierarchy for '${controller}' under ${CGROUP_FS}`);
  for (const program of PROGRAMS) if (!(await onPath(program))) problems.push(`'${program}' is not on PATH`);
  if (!(await exists(RUNC))) problems.push(`${RUNC} is missing (Debian package runc)`);
  for (const plugin of CNI_PLUGINS)
    if (!(await exists(join(CNI_BIN, plugin))))
      problems.push(
        `CNI plugin ${join(CNI_BIN, plugin)} is missing (Debian package containernetworking-plugins)`,
      );
  if (problems.length > 0)
    throw new CapstanError(
      'NODE_PREREQUISITES',
      `this machine cannot run a real node:\n  - ${problems.join('\n  - ')}\nRun scripts/setup-node.sh (as root) to install the Debian packages.`,
    );
}

// ---- network namespace ------------------------------------------------------------------------

/**
 * Creates the node's network namespace: loopback with the node's address, no default route.
 * An empty one left behind by an interrupted run is replaced.
 */
export async function createNodeNetns(clusterName: string): Promise<string> {
  const ns = netnsName(clusterName);
  const pids = await removeEmptyNodeNetns(clusterName);
  if (pids.length > 0)
    throw new CapstanError(
      'NODE_NETNS_EXISTS',
      `network namespace ${ns} already exists with processes ${pids.join(', ')} in it (a cluster '${clusterName}' still running?); run 'capstan dev-cluster down --name ${clusterName}'`,
    );
  await run('ip', ['netns', 'add', ns]);
  const ip = (...args: string[]) => run('ip', ['-n', ns, ...args]);
  await ip('link', 'set', 'lo', 'up');
  // The node's own address lives on the namespace's loopback (the kernel here has no dummy
  // interfaces); pods reach it through their bridge's gateway like any local address.
  await ip('addr', 'add', `${NODE_NETWORK.nodeAddress}/32`, 'dev', 'lo');
  // Services are reached from the node itself too (kube-proxy rewrites them in OUTPUT): a route for
  // their range, inside the namespace, and nothing more.
  await ip('route', 'add', NODE_NETWORK.serviceCidr, 'dev', 'lo');
  return join('/run/netns', ns);
}

/**
 * Removes the node's network namespace if nothing runs in it: what an interrupted run left (its
 * processes killed, its state lost), so nothing can be lost by removing it. Returns the pids in a
 * namespace that is in use, which is left alone: only its own node's 'down' may stop them.
 */
export async function removeEmptyNodeNetns(clusterName: string): Promise<number[]> {
  const ns = netnsName(clusterName);
  if (!(await exists(join('/run/netns', ns)))) return [];
  const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter((pid) => pid !== '');
  if (pids.length > 0) return pids.map(Number);
  await run('ip', ['netns', 'delete', ns]);
  return [];
}

export async function removeNodeNetns(clusterName: string): Promise<void> {
  const ns = netnsName(clusterName);
  if (await exists(join('/run/netns', ns))) await run('ip', ['netns', 'delete', ns]);
}

// ---- mount namespace --------------------------------------------------------------------------

/**
 * A persistent mount namespace for containerd, its shims and the kubelet: their mounts (volumes,
 * overlay snapshots, pod network namespaces) stay inside it, and the kernel settings the kubelet
 * checks are bind-mounted over /proc/sys there, so the machine's own stay untouched.
 * Returns the folders it had to create on the machine (removed again by removeMountNamespace).
 */
export async function createMountNamespace(paths: NodePaths): Promise<string[]> {
  const created: string[] = [];
  // What an interrupted run left under the node's run folder (its namespace pin and bind mount): a new
  // bind on top of the old one would stack, and 'down' would then unmount one and fail on the other.
  // Called once the node's network namespace was made, which proves no node of this name runs.
  await unmountBelow(paths.run);
  await rm(paths.run, { recursive: true, force: true });
  await mkdir(paths.mountNamespaces, { recursive: true, mode: 0o700 });
  // A namespace can only be pinned to a file on a private mount.
  await run('mount', ['--bind', paths.mountNamespaces, paths.mountNamespaces]);
  await run('mount', ['--make-private', paths.mountNamespaces]);
  await writeFile(paths.mountNamespace, '');
  await run('unshare', [`--mount=${paths.mountNamespace}`, '--propagation', 'private', 'true']);
  const inside = (...args: string[]) => run('nsenter', [`--mount=${paths.mountNamespace}`, '--', ...args]);
  await mkdir(paths.sysctls, { recursive: true });
  for (const [key, value] of Object.entries(KUBELET_SYSCTLS)) {
    const file = join(paths.sysctls, key.replaceAll('/', '.'));
    await writeFile(file, `${value}\n`);
    await inside('mount', '--bind', file, join('/proc/sys', key));
  }
  // Folders that containerd's shims and the kubelet use at fixed paths: our own, inside the namespace.
  const binds: [string, string][] = [
    [paths.shimState, '/run/containerd'],
    [paths.podNetns, '/run/netns'],
    [paths.podLogs, '/var/log'],
    [join(paths.root, 'var-lib-kubelet'), '/var/lib/kubelet'],
    [join(paths.root, 'var-lib-cni'), '/var/lib/cni'],
    // buildkitd's own state and the runc it drives for build steps.
    [join(paths.run, 'runc'), '/run/runc'],
    [join(paths.run, 'buildkit'), '/run/buildkit'],
  ];
  for (const [source, target] of binds) {
    await mkdir(source, { recursive: true });
    if (!(await exists(target))) {
      await mkdir(target, { recursive: true });
      created.push(target);
    }
    await inside('mount', '--bind', source, target);
  }
  return created;
}

/** Unpins the mount namespace; once no process is in it, the kernel drops it with every mount inside. */
export async function removeMountNamespace(paths: NodePaths, createdDirs: readonly string[]): Promise<void> {
  // Every mount at or below the run folder, deepest first, each of a stack too (the pin on ns/mnt, the
  // private bind on ns, and any an earlier run left).
  await unmountBelow(paths.run);
  await rm(paths.run, { recursive: true, force: true });
  await rmdir(dirname(paths.run)).catch(() => undefined); // /run/capstan, when no other cluster uses it
  for (const dir of createdDirs) await rmdir(dir).catch(() => undefined);
}

/** mountinfo writes a space, tab, newline and backslash in a path as an octal escape. */
const unescapeMountPath = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/**
 * Unmounts whatever is mounted at or below `dir`, deepest first, so that `dir` can be removed: a
 * process killed in the middle of a build (mmdebstrap mounts /proc, /sys and /dev into its target)
 * leaves such mounts behind, and removing the directory then fails with EBUSY. A lazy unmount is
 * the fallback for a mount still in use.
 */
export async function unmountBelow(dir: string): Promise<void> {
  // Deepest first, in passes: a mount stacked on a folder hides the mounts below it (they cannot be
  // unmounted by path until the one on top is gone), so what failed is tried again in the next pass.
  for (let pass = 0; pass < 8; pass++) {
    const targets = await mountsBelow(dir);
    if (targets.length === 0) return;
    let progressed = false;
    for (const target of targets)
      if (
        await run('umount', [target]).then(
          () => true,
          () => false,
        )
      )
        progressed = true;
    if (!progressed) break;
  }
  // Still mounted: in use. Detached lazily; the kernel frees them once their users are gone.
  for (const target of await mountsBelow(dir))
    await run('umount', ['--lazy', target]).catch(async (error: unknown) => {
      if ((await mountsBelow(dir)).includes(target)) throw error;
    });
}

/** The mount points at or below `dir`, deepest first (one entry per mount: a stack is listed as often). */
async function mountsBelow(dir: string): Promise<string[]> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined)
    .map(unescapeMountPath)
    .filter((target) => target === dir || target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** The pids of processes whose mount namespace is the node's (containerd, shims, kubelet). */
export async function processesInMountNamespace(paths: NodePaths): Promise<number[]> {
  let inode: number;
  try {
    inode = (await stat(paths.mountNamespace)).ino;
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const link = await readlink(`/proc/${entry}/ns/mnt`).catch(() => '');
    if (link === `mnt:[${String(inode)}]`) pids.push(Number(entry));
  }
  return pids;
}

// ---- cgroups ----------------------------------------------------------------------------------

/** The cgroup v1 hierarchies mounted on this machine (and the v2 one beside them, if any). */
async function hierarchies(fs = CGROUP_FS): Promise<string[]> {
  const result: string[] = [];
  for (const entry of await readdir(fs).catch(() => [] as string[])) {
    const path = join(fs, entry);
    const info = await lstat(path).catch(() => undefined);
    if (info?.isDirectory() && (await exists(join(path, 'cgroup.procs')))) result.push(path);
  }
  return result;
}

/** Creates the kubelet's cgroup root in every hierarchy (cpuset gets its parent's cpus and memory nodes). */
export async function createCgroupRoot(clusterName: string): Promise<void> {
  for (const hierarchy of await hierarchies()) {
    const dir = join(hierarchy, cgroupRoot(clusterName));
    await mkdir(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (await exists(join(hierarchy, file)))
        await writeFile(join(dir, file), await readFile(join(hierarchy, file), 'utf8'));
    }
  }
}

async function cgroupTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const children: string[] = [];
  for (const entry of entries)
    if (entry.isDirectory()) children.push(...(await cgroupTree(join(dir, entry.name))));
  return [...children, dir]; // depth first: children before their parent
}

/** Every pid in the cluster's cgroups (the pods' processes), across hierarchies. */
export async function processesInCgroups(clusterName: string): Promise<number[]> {
  const pids = new Set<number>();
  for (const hierarchy of await hierarchies()) {
    for (const dir of await cgroupTree(join(hierarchy, cgroupRoot(clusterName)))) {
      const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const line of procs.split('\n')) if (line.trim() !== '') pids.add(Number(line));
    }
  }
  return [...pids];
}

/**
 * Thaws every frozen cgroup of the cluster (v1 freezer.state, v2 cgroup.freeze): a process in a frozen
 * cgroup does not die of SIGKILL until it is thawed. runc freezes a container's cgroup while it
 * signals or updates it, and a runc killed meanwhile (an interrupted test run) leaves it frozen, its
 * processes in uninterruptible sleep, and `down` could then neither kill them nor remove the cgroups.
 * Returns the cgroups it thawed. `fs` is where the hierarchies are mounted (for tests).
 */
export async function thawCgroups(clusterName: string, fs = CGROUP_FS): Promise<string[]> {
  const thawed: string[] = [];
  for (const hierarchy of await hierarchies(fs)) {
    for (const dir of await cgroupTree(join(hierarchy, cgroupRoot(clusterName)))) {
      const v1 = join(dir, 'freezer.state');
      const v2 = join(dir, 'cgroup.freeze');
      if ((await readFile(v1, 'utf8').catch(() => '')).trim() === 'FROZEN') {
        await writeFile(v1, 'THAWED').catch(() => undefined);
        thawed.push(dir);
      } else if ((await readFile(v2, 'utf8').catch(() => '')).trim() === '1') {
        await writeFile(v2, '0').catch(() => undefined);
        thawed.push(dir);
      }
    }
  }
  return thawed;
}

/** Removes the cluster's cgroups depth first, in every hierarchy. They must be empty (kill first). */
export async function removeCgroupRoot(clusterName: string): Promise<string[]> {
  const left: string[] = [];
  for (const hierarchy of await hierarchies()) {
    for (const dir of await cgroupTree(join(hierarchy, cgroupRoot(clusterName)))) {
      if (!(await exists(dir))) continue;
      let removed = false;
      for (let attempt = 0; attempt < 20 && !removed; attempt += 1) {
        try {
          await rmdir(dir);
          removed = true;
        } catch {
          await sleep(100);
        }
      }
      if (!removed) left.push(dir);
    }
  }
  return left;
}

/** SIGKILLs the given pids and waits until they are gone (or the time is up). */
export async function killAll(pids: () => Promise<number[]>, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = await pids();
    if (alive.length === 0 || Date.now() > deadline) return alive;
    for (const pid of alive) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(100);
  }
}
