/**
 * Flag checks and process plumbing that the long-running commands (capstan agent, capstan server)
 * share: one rule for a port, a namespace name, a registry's endpoint and a stop on SIGTERM or SIGINT.
 */
import { UsageError } from './output.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A port number from `--<flag>`, or `fallback` when the flag is not given. */
export function portFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${flag} must be a port number, not '${value}'`);
  return n;
}

/** Refuses a `--<flag>` value that is not a namespace name. */
export function checkNamespaceFlag(flag: string, value: string | undefined): void {
  if (value !== undefined && !DNS_LABEL.test(value))
    throw new UsageError(`--${flag} must be a namespace name (a DNS label), not '${value}'`);
}

/** A signal that is aborted on the first SIGTERM or SIGINT, so that the command shuts down in order. */
export function stopOnSignals(): AbortSignal {
  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return stop.signal;
}

/** A registry's address as image references name it: HOST or HOST:PORT (a DNS name, IPv4, or [IPv6]). */
const REGISTRY_HOST =
  /^(?:[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/;

function isRegistryHost(text: string): boolean {
  const match = REGISTRY_HOST.exec(text);
  if (match === null) return false;
  const port = match[1];
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

/**
 * `--<flag> REGISTRY=ENDPOINT` (repeatable): the registry that image references name (as BuildKit
 * pushed them) reached at another address, as containerd's hosts.toml maps a server to a host. Each side
 * is HOST[:PORT] (no scheme, no path); a registry mapped twice to different endpoints is refused.
 */
export function registryEndpointsFlag(
  flag: string,
  values: readonly string[] | undefined,
): Record<string, string> {
  const endpoints: Record<string, string> = {};
  for (const pair of values ?? []) {
    const at = pair.indexOf('=');
    const [registry, endpoint] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    if (at < 0 || registry === '' || endpoint === '')
      throw new UsageError(
        `--${flag} must be REGISTRY=ENDPOINT, each HOST[:PORT] (the registry as image references name it, then the address it answers at from here: 127.0.0.1:5000=10.200.0.1:5000), not '${pair}'`,
      );
    for (const side of [registry, endpoint])
      if (!isRegistryHost(side))
        throw new UsageError(
          `--${flag} '${pair}': '${side}' is not HOST[:PORT] (a host name, an IPv4 address or [IPv6], a port from 1 to 65535; no scheme, no path)`,
        );
    const earlier = endpoints[registry];
    if (earlier !== undefined && earlier !== endpoint)
      throw new UsageError(`--${flag} maps ${registry} twice: to ${earlier} and to ${endpoint}`);
    endpoints[registry] = endpoint;
  }
  return endpoints;
}
