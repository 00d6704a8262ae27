import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPOSITORY_CREDENTIALS_TYPE } from '../adapters/git/secret-credentials.ts';
import { GitServer } from '../devcluster/gitserver.ts';

export { GitServer };

/** A git server for one test file, removed (with its folder) when `after` runs. */
export async function startGitServer(
  after: (fn: () => Promise<void>) => void,
  options: { readonly anonymousFetch?: boolean } = {},
): Promise<GitServer> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-git-'));
  const server = await GitServer.start({ root, ...options });
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

/**
 * The body of a Secret with the git server's credentials, as the agent accepts them: of the type
 * capstan.dev/repository-credentials and bound to the server's repositories (`url`).
 */
export function gitSecretBody(
  git: GitServer,
  options: { readonly name?: string; readonly password?: string } = {},
): { metadata: { name: string }; type: string; stringData: Record<string, string> } {
  return {
    metadata: { name: options.name ?? 'git' },
    type: REPOSITORY_CREDENTIALS_TYPE,
    stringData: { url: git.baseUrl, username: git.username, password: options.password ?? git.password },
  };
}
