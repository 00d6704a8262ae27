/**
 * Repository credentials from a Kubernetes Secret. A user who may create Applications but not read
 * Secrets must not be able to have the agent send any Secret of the namespace to a host of theirs.
 * So a Secret is used only when:
 * - it is marked for Capstan: type `capstan.dev/repository-credentials`, or the label
 *   `capstan.dev/credentials: repository` (for Secrets made by tools that set their own type);
 * - it is bound to repositories: its `url` key is a repository URL or a prefix of them, and the
 *   credentials are sent nowhere else (the git adapter checks each URL against it);
 * - it is not a service-account token (type `kubernetes.io/service-account-token`), whatever its marks.
 * Pure: the caller reads the Secret.
 */
import { CapstanError } from '../../core/errors.ts';
import { secretText } from '../../core/secret-data.ts';
import type { Cluster } from '../../ports/cluster.ts';
import type { GitCredentials } from '../../ports/source.ts';

export const REPOSITORY_CREDENTIALS_TYPE = 'capstan.dev/repository-credentials';
export const REPOSITORY_CREDENTIALS_LABEL = 'capstan.dev/credentials';
export const REPOSITORY_CREDENTIALS_LABEL_VALUE = 'repository';
const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token';

/** The parts of a Secret that matter here. */
export interface CredentialSecret {
  readonly type?: string;
  readonly metadata?: { readonly labels?: Readonly<Record<string, string>> };
  /** Base64 values, as the API returns them. */
  readonly data?: Readonly<Record<string, string>>;
}

/** The credentials a Secret holds, bound to its `url`; refuses (SOURCE_BAD_CREDENTIALS) any Secret not meant for this. */
export function credentialsFromSecret(secret: CredentialSecret, subject: string): GitCredentials {
  const bad = (why: string): CapstanError =>
    new CapstanError('SOURCE_BAD_CREDENTIALS', `${subject} (spec.source.secretRef) ${why}`, { subject });
  // 1. Meant for Capstan, and not a service-account token.
  if (secret.type === SERVICE_ACCOUNT_TOKEN_TYPE) {
    throw bad(
      'is a service-account token; Capstan never sends one to a repository: make a Secret of type ' +
        REPOSITORY_CREDENTIALS_TYPE,
    );
  }
  const marked =
    secret.type === REPOSITORY_CREDENTIALS_TYPE ||
    secret.metadata?.labels?.[REPOSITORY_CREDENTIALS_LABEL] === REPOSITORY_CREDENTIALS_LABEL_VALUE;
  if (!marked) {
    throw bad(
      `is not marked as repository credentials: give it the type ${REPOSITORY_CREDENTIALS_TYPE} (or the label ${REPOSITORY_CREDENTIALS_LABEL}=${REPOSITORY_CREDENTIALS_LABEL_VALUE}) and a url key naming the repositories it is for`,
    );
  }
  const value = (key: string): string | undefined => secretText(secret, key, subject);
  // 2. Bound to repositories.
  const urlPrefix = value('url')?.trim();
  if (urlPrefix === undefined || urlPrefix === '') {
    throw bad(
      'has no url key: name the repository (or the prefix of the repositories) these credentials are for',
    );
  }
  // 3. One kind of credentials.
  const token = value('token');
  if (token) return { kind: 'token', token, urlPrefix };
  const username = value('username');
  const password = value('password');
  if (username !== undefined && password !== undefined)
    return { kind: 'basic', username, password, urlPrefix };
  const privateKey = value('sshPrivateKey');
  const knownHosts = value('knownHosts');
  if (privateKey && knownHosts) return { kind: 'ssh', privateKey, knownHosts, urlPrefix };
  throw bad('has none of: token; username and password; sshPrivateKey and knownHosts');
}

/** Reads git credentials from a Secret marked for Capstan and bound to repositories (secret-credentials.ts). */
export async function credentialsFrom(
  cluster: Cluster,
  namespace: string,
  name: string,
): Promise<GitCredentials> {
  const type = await cluster.resourceType('v1', 'Secret');
  const secret = type ? await cluster.get(type, namespace, name) : undefined;
  const subject = `Secret/${namespace}/${name}`;
  if (!secret)
    throw new CapstanError(
      'SOURCE_SECRET_NOT_FOUND',
      `${subject} (spec.source.secretRef) does not exist; create it with the git credentials`,
      { subject },
    );
  return credentialsFromSecret(secret, subject);
}
