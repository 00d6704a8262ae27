import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitServer } from '../devcluster/gitserver.ts';

export { GitServer };

/** A git server for one test file, removed (with its folder) when `after` runs. */
export async function startGitServer(after: (fn: () => Promise<void>) => void): Promise<GitServer> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-git-'));
  const server = await GitServer.start({ root });
  after(async () => {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });
  return server;
}

/** The folder of a fixture under test/fixtures. */
export function fixture(...parts: string[]): string {
  return join(import.meta.dirname, '..', '..', 'test', 'fixtures', ...parts);
}
