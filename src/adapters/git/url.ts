/**
 * Repository URLs: which ones git may be given, their normal form (one cache per repository), and
 * their redaction for messages. Only https, ssh (ssh:// and scp-like user@host:path) and, where allowed,
 * http; never local paths, file://, git://, or git's `<transport>::<address>` forms such as ext::.
 */
import { createHash } from 'node:crypto';
import { CapstanError } from '../../core/errors.ts';
import { trimRepoPath } from '../../core/repo-url.ts';

export type RepoProtocol = 'https' | 'http' | 'ssh';

export interface RepoUrl {
  /** The URL as given to git (validated, unchanged). */
  readonly url: string;
  readonly protocol: RepoProtocol;
  /** Lower-case scheme and host, no credentials, default port, trailing `/` or `.git`: one per repository. */
  readonly normalised: string;
  /** For messages, logs and error subjects: credentials removed. */
  readonly display: string;
  /** sha256 (hex) of the normal form: the name of the repository's cache. */
  readonly cacheKey: string;
}

export interface RepoUrlOptions {
  /** Accept http:// (loopback test servers). Default false. */
  readonly allowInsecureHttp?: boolean;
}

const MAX_URL_LENGTH = 2048;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** git's `<transport>::<address>` (ext::, fd::, and remote helpers). */
const TRANSPORT = /^[A-Za-z][A-Za-z0-9+.-]*::/;
/** user@host:path, where no `/` comes before the `:` (git's rule for the scp-like syntax). */
const SCP_LIKE = /^(?:([^@/:]+)@)?([^@/:[\]]+|\[[0-9A-Fa-f:.]+\]):(.*)$/;
const HOST = /^(?:[A-Za-z0-9_]|\[)[A-Za-z0-9_.:[\]-]*$/;

/** Validates a repository URL before anything runs; throws SOURCE_BAD_URL saying what to change. */
export function parseRepoUrl(raw: string, options: RepoUrlOptions = {}): RepoUrl {
  const display = redactUrl(raw);
  const bad = (why: string): CapstanError =>
    new CapstanError('SOURCE_BAD_URL', `repository URL '${display}' ${why}`, { subject: display });

  if (raw === '') throw bad('is empty: give an https://, ssh:// or user@host:path URL');
  if (raw.length > MAX_URL_LENGTH) throw bad(`is longer than ${MAX_URL_LENGTH} characters`);
  if (raw.startsWith('-')) throw bad("begins with '-', which git would read as an option: it is refused");
  if (/[\s\p{Cc}]/u.test(raw)) throw bad('contains white space or control characters');
  if (TRANSPORT.test(raw)) {
    throw bad(
      "uses git's <transport>::<address> form (such as ext::), which can run commands: it is refused",
    );
  }

  const scheme = SCHEME.exec(raw)?.[1]?.toLowerCase();
  if (scheme !== undefined) return parseSchemeUrl(raw, scheme, options, bad);

  const scp = SCP_LIKE.exec(raw);
  if (scp) return parseScpLike(raw, scp[1], scp[2] ?? '', scp[3] ?? '', bad);
  throw bad(
    'is not a remote repository: use https://host/path, ssh://user@host/path or user@host:path (local paths are refused)',
  );
}

function parseSchemeUrl(
  raw: string,
  scheme: string,
  options: RepoUrlOptions,
  bad: (why: string) => CapstanError,
): RepoUrl {
  if (scheme === 'http' && options.allowInsecureHttp !== true) {
    throw bad('uses plain http, which is refused: use https (http is allowed only with allowInsecureHttp)');
  }
  if (scheme !== 'https' && scheme !== 'http' && scheme !== 'ssh') {
    throw bad(`uses the ${scheme}:// scheme, which is refused: use https://, ssh:// or user@host:path`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad('cannot be parsed');
  }
  if (url.hostname === '' || !HOST.test(url.hostname)) throw bad('has no valid host name');
  if (url.password !== '') {
    throw bad("contains a password: give credentials in the source's credentials, never in the URL");
  }
  if (scheme !== 'ssh' && url.username !== '') {
    throw bad(
      "contains a user name or token: give credentials in the source's credentials, never in the URL",
    );
  }
  if (url.username.startsWith('-')) throw bad("has a user name beginning with '-': it is refused");
  const path = trimRepoPath(url.pathname);
  if (path === '') throw bad('names no repository path');
  const user = url.username === '' ? '' : `${url.username}@`;
  const port = url.port === '' ? '' : `:${url.port}`;
  const normalised = `${scheme}://${scheme === 'ssh' ? user : ''}${url.hostname.toLowerCase()}${port}${path}`;
  return { url: raw, protocol: scheme, normalised, display: redactUrl(raw), cacheKey: sha256(normalised) };
}

function parseScpLike(
  raw: string,
  user: string | undefined,
  host: string,
  path: string,
  bad: (why: string) => CapstanError,
): RepoUrl {
  if (!HOST.test(host)) throw bad('has no valid host name');
  if (user === undefined && path.includes('@')) throw bad('is ambiguous: write user@host:path or ssh://');
  if (user?.startsWith('-') === true) throw bad("has a user name beginning with '-': it is refused");
  if (path.startsWith('-')) throw bad("has a path beginning with '-': it is refused");
  const trimmed = trimRepoPath(path.startsWith('/') ? path : `/${path}`);
  if (trimmed === '') throw bad('names no repository path');
  const normalised = `ssh://${user === undefined ? '' : `${user}@`}${host.toLowerCase()}${trimmed}`;
  return { url: raw, protocol: 'ssh', normalised, display: redactUrl(raw), cacheKey: sha256(normalised) };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Matches `scheme://userinfo@` anywhere in a text. */
const USERINFO = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^\s/@'"]*)@/g;

/**
 * Removes credentials from every URL in a text: all user info of http(s) URLs (a user name can be a
 * token), and `user:password` of other schemes (an ssh user name alone is kept).
 */
export function redactText(text: string): string {
  return text.replace(USERINFO, (_match: string, scheme: string, userinfo: string) => {
    const lower = scheme.toLowerCase();
    if (lower === 'http://' || lower === 'https://' || userinfo.includes(':')) return scheme;
    return `${scheme}${userinfo}@`;
  });
}

/** `user:password@host:path` (scp-like, with a password git would not even accept). */
const SCP_PASSWORD = /^([^@/:\s]+):[^@/\s]*@/;

/** A URL without credentials, for messages and subjects. */
export function redactUrl(raw: string): string {
  return SCHEME.test(raw) ? redactText(raw) : raw.replace(SCP_PASSWORD, '$1@');
}
