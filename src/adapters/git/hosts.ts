/**
 * Which repository hosts the agent may reach. An Application names any URL it likes; without this,
 * the agent would fetch from the cloud's metadata address (169.254.169.254), its own loopback ports or
 * cluster-internal services, and the last lines of git's error in the status would let a tenant probe
 * them. So:
 * - with an allow-list, only hosts on it (an exact name or address, or `*.example.com` for its
 *   subdomains);
 * - in every case, loopback, link-local, private and cluster-internal hosts (by address, by name such
 *   as `localhost`, `*.svc`, `*.cluster.local`, a single-label name, or because the name resolves to
 *   such an address) only when the allow-list names them exactly: a wildcard never lets them in.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { CapstanError } from '../../core/errors.ts';
import type { RepoUrl } from './url.ts';

export interface HostPolicy {
  /** Hosts (names or addresses, `*.example.com` for subdomains) repositories may be on. Empty: any public host. */
  readonly allow?: readonly string[];
  /** Resolves a name to its addresses (default: the system's resolver). */
  readonly resolve?: (host: string) => Promise<readonly string[]>;
}

/** Address ranges that are not the public internet: loopback, link-local, private, carrier NAT, ULA. */
const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6');
}
/** Names that are never on the public internet. */
const INTERNAL_NAME = /(?:^localhost|\.localhost|\.local|\.internal|\.svc|\.cluster\.local|\.home\.arpa)$/;

/** The host of a repository URL (lower case, brackets of an IPv6 literal removed). */
export function repoHost(repo: RepoUrl): string {
  const rest = repo.normalised.replace(/^[a-z]+:\/\/(?:[^@/]*@)?/, '');
  const host = rest.startsWith('[') ? rest.slice(1, rest.indexOf(']')) : (rest.split(/[:/]/)[0] ?? '');
  return host.toLowerCase().replace(/\.$/, '');
}

/** True for an address in a range of INTERNAL (IPv4-mapped IPv6 addresses as their IPv4). */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return INTERNAL.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return false;
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Refuses (SOURCE_HOST_NOT_ALLOWED) a repository whose host the policy does not allow; see the file comment. */
export async function checkHost(repo: RepoUrl, policy: HostPolicy): Promise<void> {
  await checkHostName(repoHost(repo), repo.display, policy);
}

/**
 * The same check for a host named otherwise (a Helm chart repository, a registry): `host` in lower
 * case without brackets, `display` the URL for the message (no credentials).
 */
export async function checkHostName(host: string, display: string, policy: HostPolicy): Promise<void> {
  const allow = (policy.allow ?? []).map((entry) => entry.toLowerCase().replace(/\.$/, ''));
  const exact = allow.includes(host);
  const refuse = (why: string): never => {
    throw new CapstanError(
      'SOURCE_HOST_NOT_ALLOWED',
      `repository ${display}: ${why}; an administrator can allow it with the agent's --allow-repository-host`,
      { subject: display },
    );
  };
  // 1. The allow-list, when there is one.
  if (allow.length > 0 && !exact && !allow.some((entry) => matchesWildcard(entry, host))) {
    refuse(`the host ${host} is not among the repository hosts this agent may fetch from`);
  }
  if (exact) return;
  // 2. Internal by address or by name.
  if (isIP(host) !== 0 && isInternalAddress(host)) {
    refuse(`${host} is a loopback, link-local or private address, which is refused`);
  }
  if (isIP(host) === 0 && (INTERNAL_NAME.test(host) || !host.includes('.'))) {
    refuse(`${host} is a local or cluster-internal name, which is refused`);
  }
  // 3. Internal because of what the name resolves to.
  if (isIP(host) === 0) {
    const addresses = await (policy.resolve ?? resolveAll)(host).catch(() => []);
    const internal = addresses.find(isInternalAddress);
    if (internal !== undefined)
      refuse(`${host} resolves to ${internal}, a loopback, link-local or private address`);
  }
}

function matchesWildcard(entry: string, host: string): boolean {
  return entry === '*' || (entry.startsWith('*.') && host.endsWith(entry.slice(1)));
}

async function resolveAll(host: string): Promise<readonly string[]> {
  const found = await lookup(host, { all: true, order: 'verbatim' });
  return found.map((entry) => entry.address);
}
