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

export interface RepositoryTestOptions {
  /** Reads the credentials of the request's secretRef (a Secret of an Application namespace). */
  readonly secretCredentials?: (namespace: string, name: string) => Promise<GitCredentials>;
}

export async function testRepository(
  fetcher: Pick<SourceFetcher, 'resolve'>,
  request: RepositoryTestRequest,
  options: RepositoryTestOptions = {},
): Promise<RepositoryTestResult> {
  let credentials = credentialsOf(request);
  try {
    if (request.secretRef !== undefined) credentials = await fromSecret(request, options);
  } catch (error) {
    return failed(request, error, []);
  }
  const secrets = [
    request.password,
    request.token,
    request.sshPrivateKey,
    ...secretTexts(credentials),
  ].filter((s): s is string => s !== undefined && s !== '');
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
    return failed(request, error, secrets);
  }
}

function failed(
  request: RepositoryTestRequest,
  error: unknown,
  secrets: readonly string[],
): RepositoryTestResult {
  const code = error instanceof CapstanError ? error.code : 'SOURCE_GIT_FAILED';
  return {
    ok: false,
    repoURL: request.repoURL,
    error: code,
    reason: withoutSecrets(messageOf(error), secrets),
    retryable: error instanceof CapstanError && error.retryable,
  };
}

async function fromSecret(
  request: RepositoryTestRequest,
  options: RepositoryTestOptions,
): Promise<GitCredentials> {
  const ref = request.secretRef;
  if (ref === undefined || options.secretCredentials === undefined)
    throw new CapstanError('SOURCE_BAD_CREDENTIALS', 'this server cannot read credentials from a Secret');
  return options.secretCredentials(ref.namespace, ref.name);
}

/** The secret parts of credentials, to be removed from any reason given back. */
function secretTexts(credentials: GitCredentials | undefined): string[] {
  if (credentials === undefined) return [];
  if (credentials.kind === 'basic') return [credentials.password];
  if (credentials.kind === 'token') return [credentials.token];
  return [credentials.privateKey];
}

/** The credentials of the request: a token, a user and password, or an SSH key with its known hosts. */
export function credentialsOf(request: RepositoryTestRequest): GitCredentials | undefined {
  const given = [
    request.secretRef !== undefined,
    request.token !== undefined,
    request.username !== undefined || request.password !== undefined,
    request.sshPrivateKey !== undefined || request.knownHosts !== undefined,
  ].filter(Boolean).length;
  if (given > 1)
    throw new CapstanError(
      'SOURCE_BAD_CREDENTIALS',
      'give one kind of credentials: secretRef, token, username and password, or sshPrivateKey and knownHosts',
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
