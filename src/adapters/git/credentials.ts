/**
 * Handing credentials to git without putting them in argv or URLs: basic and token credentials become
 * an `Authorization` header passed through GIT_CONFIG_* environment variables; an ssh key and its
 * known_hosts go to 0600 files in a private folder, named in GIT_SSH_COMMAND, removed afterwards.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { GitCredentials } from '../../ports/source.ts';
import { repoHost } from './hosts.ts';
import { redactUrl, type RepoUrl } from './url.ts';

/** The user name under which a token is sent (GitHub, GitLab, Gitea and Bitbucket accept it). */
export const TOKEN_USERNAME = 'x-access-token';

export interface GitAuth {
  /** Environment entries that carry the credentials to git. */
  readonly env: Readonly<Record<string, string>>;
  /** Strings that must never appear in a message (removed by redactSecrets). */
  readonly secrets: readonly string[];
  /** Removes the files written for the credentials, if any. */
  dispose(): Promise<void>;
}

const NONE: GitAuth = { env: {}, secrets: [], dispose: () => Promise.resolve() };

/** Prepares credentials for one git operation; call dispose() when it has ended. */
export async function prepareAuth(
  credentials: GitCredentials | undefined,
  repo: RepoUrl,
  tmpRoot: string,
): Promise<GitAuth> {
  if (credentials === undefined) return NONE;
  const bad = (why: string) =>
    new CapstanError('SOURCE_BAD_CREDENTIALS', `the credentials for ${repo.display} ${why}`, {
      subject: repo.display,
    });
  // 1. Only to the repositories they are bound to, and never in clear over the network.
  if (credentials.urlPrefix !== undefined && !coversRepository(credentials.urlPrefix, repo)) {
    throw bad(
      `are bound to repositories under ${redactUrl(credentials.urlPrefix)}, and this one is not: use credentials bound to it`,
    );
  }
  if (repo.protocol === 'http' && !isLoopback(repoHost(repo))) {
    throw bad(
      'would be sent over plain http, in clear: use https (credentials go over http only to loopback)',
    );
  }
  switch (credentials.kind) {
    case 'basic':
    case 'token': {
      if (repo.protocol === 'ssh')
        throw bad(`are ${credentials.kind} credentials, but the URL uses ssh: give an ssh key`);
      const [username, password] =
        credentials.kind === 'token'
          ? [TOKEN_USERNAME, credentials.token]
          : [credentials.username, credentials.password];
      if (/\p{Cc}/u.test(username + password)) throw bad('contain control characters');
      if (username.includes(':'))
        throw bad("have a user name with ':', which basic authentication cannot carry");
      if (password === '')
        throw bad(credentials.kind === 'token' ? 'have an empty token' : 'have an empty password');
      return basicAuth(username, password);
    }
    case 'ssh': {
      if (repo.protocol !== 'ssh') throw bad('are an ssh key, but the URL does not use ssh: use an ssh URL');
      if (credentials.privateKey.trim() === '') throw bad('have an empty private key');
      if (credentials.knownHosts.trim() === '') {
        throw bad("have no known_hosts: give the server's host key, so that it can be verified");
      }
      return sshAuth(credentials.privateKey, credentials.knownHosts, tmpRoot);
    }
  }
}

function basicAuth(username: string, password: string): GitAuth {
  const encoded = Buffer.from(`${username}:${password}`).toString('base64');
  return {
    env: {
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${encoded}`,
    },
    secrets: [password, encoded],
    dispose: () => Promise.resolve(),
  };
}

async function sshAuth(privateKey: string, knownHosts: string, tmpRoot: string): Promise<GitAuth> {
  // mkdtemp makes the folder 0700; the files are created 0600 and must not exist before.
  const dir = await mkdtemp(join(tmpRoot, 'ssh-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const key = join(dir, 'key');
    const hosts = join(dir, 'known_hosts');
    await writeFile(key, withNewline(privateKey), { mode: 0o600, flag: 'wx' });
    await writeFile(hosts, withNewline(knownHosts), { mode: 0o600, flag: 'wx' });
    const command = [
      'ssh',
      '-F',
      '/dev/null',
      '-i',
      shellQuote(key),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${shellQuote(hosts)}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
    ].join(' ');
    return { env: { GIT_SSH_COMMAND: command, GIT_SSH_VARIANT: 'ssh' }, secrets: [], dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** ssh refuses a key file whose last line has no newline. */
function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** Single-quotes a path for the shell that git runs GIT_SSH_COMMAND with. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Replaces every given secret in a text with `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) if (secret.length > 0) result = result.replaceAll(secret, '***');
  return result;
}

/** True when the prefix (a repository URL, or a folder of repositories) covers the repository. */
export function coversRepository(prefix: string, repo: RepoUrl): boolean {
  const bound = normalisePrefix(prefix);
  return repo.normalised === bound || repo.normalised.startsWith(`${bound}/`);
}

/** A prefix in the normal form of RepoUrl.normalised: scp-like as ssh://, scheme and host lower case, no trailing `/` or `.git`. */
function normalisePrefix(prefix: string): string {
  const text = prefix.trim();
  const scp = /^([^@/:]+@)?([^@/:[\]]+):(?!\/\/)(.*)$/.exec(text);
  const url = scp ? `ssh://${scp[1] ?? ''}${scp[2] ?? ''}/${(scp[3] ?? '').replace(/^\//, '')}` : text;
  const head = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)(.*)$/i.exec(url);
  const joined = head ? `${(head[1] ?? '').toLowerCase()}${head[2] ?? ''}` : url;
  return joined
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
}

/** Loopback: traffic that never leaves the machine. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || /^127\./.test(host) || host === '::1';
}
