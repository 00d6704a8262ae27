import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { CapstanError } from '../core/errors.ts';

/**
 * The kernel's ephemeral ports (Linux: net.ipv4.ip_local_port_range), which it hands to every outgoing
 * connection and to every `listen(0)`: a port found free there may be taken by anyone's next connection
 * before the program it was chosen for binds it.
 */
export function ephemeralRange(text: string | undefined = readRange()): {
  readonly low: number;
  readonly high: number;
} {
  const [low, high] = (text ?? '').trim().split(/\s+/).map(Number);
  if (
    low !== undefined &&
    high !== undefined &&
    Number.isInteger(low) &&
    Number.isInteger(high) &&
    low <= high
  )
    return { low, high };
  return { low: 32768, high: 60999 };
}

function readRange(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Ports that browsers and fetch() refuse to connect to (the Fetch standard's "bad ports"): a server
 * there could not be opened in a browser, and Node's fetch fails with "bad port". 10080 lies inside
 * the range freePort chooses from (a test failed on it once); the others matter when the machine's
 * ephemeral range leaves only the low ports.
 */
export const BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
  109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
  526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
  3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Binds and releases `port` on 127.0.0.1; true when that worked. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** The ports freePort chooses among: below the ephemeral range, above the well-known and common ones. */
export function portChoices(range = ephemeralRange()): { readonly low: number; readonly high: number } {
  const low = 10_000;
  const high = Math.min(range.low - 1, 65_535);
  return high - low >= 1_000 ? { low, high } : { low: Math.max(range.high + 1, 1_024), high: 65_535 };
}

/**
 * A free loopback port for a program started next. Chosen at random outside the kernel's ephemeral
 * range (and checked by binding it), so no outgoing connection of another process can take it in
 * between; only a port that another program chose the same way could, and the range is wide.
 */
export async function freePort(random: () => number = Math.random): Promise<number> {
  const { low, high } = portChoices();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(random() * (high - low + 1));
    if (BLOCKED_PORTS.has(port)) continue;
    if (await bindable(port)) return port;
  }
  throw new CapstanError('DEVCLUSTER_PORT_IN_USE', `no free port on 127.0.0.1 between ${low} and ${high}`, {
    subject: '127.0.0.1',
  });
}

/** Resolves when the port can be bound on 127.0.0.1; rejects with DEVCLUSTER_PORT_IN_USE otherwise. */
export function assertPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'is already in use by another process'
          : `cannot be used (${error.code ?? error.message})`;
      reject(
        new CapstanError(
          'DEVCLUSTER_PORT_IN_USE',
          `port ${port} on 127.0.0.1 for ${what} ${why}; choose another port or stop what uses it`,
          {
            subject: `127.0.0.1:${port}`,
          },
        ),
      );
    });
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve();
      });
    });
  });
}

/** Picks `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
