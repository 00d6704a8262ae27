/**
 * A repository connection test: can the server reach this repository with these credentials? One
 * ls-remote through the SourceFetcher port (the agent's git adapter, its host policy and limits), the
 * credentials used for that call only: never stored, logged or answered. A failure is an answer (`ok:
 * false` with git's stable code and reason), and any credential text in that reason is removed again.
 */
import { CapstanError, messageOf } from '../core/errors.ts';
import type { RepositoryTestRequest, RepositoryTestResult } from '../contracts/server-api.ts';
import type { GitCredentials, SourceFetcher } from '../ports/source.ts';

/** The time limit of one test. */
const TEST_TIMEOUT_MS = 20_000;

export async function testRepository(
  fetcher: Pick<SourceFetcher, 'resolve'>,
  request: RepositoryTestRequest,
): Promise<RepositoryTestResult> {
  const credentials = credentialsOf(request);
  const secrets = [request.password, request.token, request.sshPrivateKey].filter(
    (s): s is string => s !== undefined && s !== '',
  );
  try {
    const resolved = await fetcher.resolve(
      { repoURL: request.repoURL, targetRevision: '' },
      {
        allowInsecureHttp: request.insecureHttp === true,
        timeoutMs: TEST_TIMEOUT_MS,
        ...(credentials ? { credentials } : {}),
      },
    );
    return { ok: true, repoURL: request.repoURL, revision: resolved.sha, ref: resolved.ref };
  } catch (error) {
    const code = error instanceof CapstanError ? error.code : 'SOURCE_GIT_FAILED';
    return {
      ok: false,
      repoURL: request.repoURL,
      error: code,
      reason: withoutSecrets(messageOf(error), secrets),
      retryable: error instanceof CapstanError && error.retryable,
    };
  }
}

/** The credentials of the request: a token, a user and password, or an SSH key with its known hosts. */
export function credentialsOf(request: RepositoryTestRequest): GitCredentials | undefined {
  const given = [
    request.token !== undefined,
    request.username !== undefined || request.password !== undefined,
    request.sshPrivateKey !== undefined || request.knownHosts !== undefined,
  ].filter(Boolean).length;
  if (given > 1)
    throw new CapstanError(
      'SOURCE_BAD_CREDENTIALS',
      'give one kind of credentials: token, username and password, or sshPrivateKey and knownHosts',
    );
  if (request.token !== undefined) return { kind: 'token', token: request.token };
  if (request.username !== undefined || request.password !== undefined) {
    if (request.username === undefined || request.password === undefined)
      throw new CapstanError('SOURCE_BAD_CREDENTIALS', 'give username and password together');
    return { kind: 'basic', username: request.username, password: request.password };
  }
  if (request.sshPrivateKey !== undefined || request.knownHosts !== undefined) {
    if (request.sshPrivateKey === undefined || request.knownHosts === undefined)
      throw new CapstanError(
        'SOURCE_BAD_CREDENTIALS',
        'give sshPrivateKey with knownHosts: host keys are always checked',
      );
    return { kind: 'ssh', privateKey: request.sshPrivateKey, knownHosts: request.knownHosts };
  }
  return undefined;
}

function withoutSecrets(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) clean = clean.split(secret).join('***');
  return clean;
}
