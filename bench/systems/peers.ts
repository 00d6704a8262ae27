// The peers as SystemDrivers (filled in from bench/peers.ts).
import type { SystemDriver } from '../system.ts';

export function peerDrivers(_log: (line: string) => void): Promise<SystemDriver[]> {
  return Promise.resolve([]);
}
