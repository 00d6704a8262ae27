/**
 * One name per repository, whatever the form of its URL: `https://github.com/Org/Repo.git`,
 * `git@github.com:Org/Repo.git`, `ssh://git@github.com/Org/Repo` and `https://github.com/org/repo`
 * all become `github.com/org/repo`. Webhooks carry several URL forms of a repository and
 * Applications name it in one; both sides are normalised with this function and compared.
 *
 * The normal form is `host[:port]/path`: no scheme, no user info (a user name or token), no default
 * port, no query or fragment, no trailing `/` or `.git`; the host lower-cased and the path kept as it
 * is, except on hosts known to compare paths case-insensitively, where it is lower-cased too.
 * Pure: no I/O, no validation of what git would accept (see the git adapter for that).
 */

/** Hosts whose repository paths are case-insensitive (`Org/Repo` and `org/repo` are one repository). */
export const CASE_INSENSITIVE_HOSTS: readonly string[] = ['github.com', 'gitlab.com', 'bitbucket.org'];

export interface NormalizeRepoUrlOptions {
  /** Hosts (lower case, without port) whose paths are lower-cased. Default `CASE_INSENSITIVE_HOSTS`. */
  readonly caseInsensitiveHosts?: readonly string[];
}

/** The default port of each scheme, dropped from the normal form. */
const DEFAULT_PORTS: Readonly<Record<string, string>> = {
  https: '443',
  http: '80',
  ssh: '22',
  'git+ssh': '22',
  'ssh+git': '22',
  git: '9418',
};

/** `scheme://[userinfo@]host[:port][/path][?query][#fragment]`; the host may be an IPv6 literal. */
const SCHEME_URL =
  /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:[^@/?#]*@)?(\[[0-9A-Fa-f:.]+\]|[^/?#:[\]]*)(?::(\d*))?([^?#]*)/;
/** git's scp-like syntax `[user@]host:path`, where no `/` comes before the `:`. */
const SCP_LIKE = /^(?:[^@/:]+@)?([^@/:[\]]+|\[[0-9A-Fa-f:.]+\]):(?!\/\/)([^?#]*)/;

/**
 * The normal form of a repository URL (see the file comment). A text that is not a URL of any known
 * form comes back trimmed and otherwise unchanged, so that it still equals only itself.
 */
export function normalizeRepoUrl(url: string, options: NormalizeRepoUrlOptions = {}): string {
  const text = url.trim();
  const parts = splitRepoUrl(text);
  if (parts === undefined) return text;
  const host = parts.host.toLowerCase().replace(/\.$/, '');
  const port = parts.port === '' || parts.port === DEFAULT_PORTS[parts.scheme] ? '' : `:${parts.port}`;
  const path = trimRepoPath(parts.path);
  const insensitive = (options.caseInsensitiveHosts ?? CASE_INSENSITIVE_HOSTS).includes(host);
  return `${host}${port}${insensitive ? path.toLowerCase() : path}`;
}

/** True when two URLs name the same repository (their normal forms are equal). */
export function sameRepo(a: string, b: string, options: NormalizeRepoUrlOptions = {}): boolean {
  return normalizeRepoUrl(a, options) === normalizeRepoUrl(b, options);
}

interface RepoUrlParts {
  readonly scheme: string;
  readonly host: string;
  readonly port: string;
  readonly path: string;
}

function splitRepoUrl(text: string): RepoUrlParts | undefined {
  const scheme = SCHEME_URL.exec(text);
  if (scheme) {
    const host = scheme[2] ?? '';
    if (host === '') return undefined;
    return {
      scheme: (scheme[1] ?? '').toLowerCase(),
      host,
      port: scheme[3] ?? '',
      path: scheme[4] ?? '',
    };
  }
  const scp = SCP_LIKE.exec(text);
  if (scp) {
    const path = scp[2] ?? '';
    return { scheme: 'ssh', host: scp[1] ?? '', port: '', path: path.startsWith('/') ? path : `/${path}` };
  }
  return undefined;
}

/**
 * The path of a repository in its normal form, for every consumer (webhook matching here, the git
 * adapter's one cache per repository): `//org//repo.git/` → `/org/repo`. Repeated slashes are one, as
 * every common git host reads them.
 */
export function trimRepoPath(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  const withoutGit = collapsed.replace(/\.git$/, '').replace(/\/+$/, '');
  return withoutGit === '' ? '' : withoutGit.startsWith('/') ? withoutGit : `/${withoutGit}`;
}
