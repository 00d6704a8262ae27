import { createServer } from 'node:net';
import { CapstanError } from '../core/errors.ts';

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
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
