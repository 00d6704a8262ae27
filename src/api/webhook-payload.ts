/**
 * From a verified webhook body to refresh events: a bounded JSON parse, then, per provider, the
 * repository's URL forms, the ref, the new commit and the changed paths. Every read is bounded (depth,
 * commits, paths, string lengths); anything the payload does not say for sure becomes "unknown"
 * (an absent field), never a guess that could skip an Application.
 */
import { normalizeRepoUrl } from '../core/repo-url.ts';
import { MAX_CHANGED_PATHS, type RefreshEvent, type WebhookProvider } from '../contracts/webhook-event.ts';

/** Deeper JSON is refused before it is parsed: provider payloads nest less than 10 levels. */
export const MAX_JSON_DEPTH = 64;
/** Longer URLs are ignored, longer paths make the path list unknown. */
const MAX_URL_LENGTH = 2048;
const MAX_PATH_LENGTH = 4096;
/** At most this many URL forms are kept per repository. */
const MAX_URLS = 16;
/** More commits than this are not read: the path list is unknown. */
const MAX_COMMITS = 2048;
/** A Bitbucket push with more ref changes than this becomes one event for any ref. */
const MAX_REF_CHANGES = 20;
/**
 * A commit list this long may have been cut by the provider, when the payload does not give the
 * total. GitLab sends at most 20 commits (with `total_commits_count`); Gitea caps at its
 * FeedMaxCommitNum, 5 by default (with `total_commits` since 1.18). GitHub's documentation caps
 * webhook payloads at 2048 commits and its timeline events at 20, with no total in either; the lower
 * bound is used, as a full refresh costs a few renders and a missed one costs a deployment.
 */
const TRUNCATED_AT: Readonly<Record<'github' | 'gitlab' | 'gitea', number>> = {
  github: 20,
  gitlab: 20,
  gitea: 5,
};

export type ParseResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string };

/**
 * Parses JSON after checking its nesting depth on the bytes (so a crafted `[[[[…` costs one pass
 * and no recursion). The message of a failure names the position, never the content.
 */
export function parseJsonBounded(bytes: Buffer, maxDepth: number = MAX_JSON_DEPTH): ParseResult {
  if (!depthWithin(bytes, maxDepth)) {
    return { ok: false, message: `the JSON body nests deeper than ${maxDepth} levels` };
  }
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch (error) {
    const position = /at position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    return {
      ok: false,
      message:
        position === undefined
          ? 'the body is not valid JSON'
          : `the body is not valid JSON (error at byte ${position})`,
    };
  }
}

/** One pass over the bytes, counting `{` and `[` outside strings. */
function depthWithin(bytes: Buffer, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const byte of bytes) {
    if (inString) {
      if (escaped) escaped = false;
      else if (byte === 0x5c) escaped = true;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x7b || byte === 0x5b) {
      depth += 1;
      if (depth > maxDepth) return false;
    } else if (byte === 0x7d || byte === 0x5d) {
      depth -= 1;
    }
  }
  return true;
}

/** The JSON document of a GitHub delivery sent as `application/x-www-form-urlencoded` (`payload=`). */
export function formPayload(bytes: Buffer): Buffer | undefined {
  const payload = new URLSearchParams(bytes.toString('utf8')).get('payload');
  return payload === null ? undefined : Buffer.from(payload, 'utf8');
}

export type EventsResult =
  | { readonly ok: true; readonly events: readonly RefreshEvent[] }
  | { readonly ok: false; readonly message: string };

/** The refresh events of a push delivery (one per ref; several only for Bitbucket). */
export function refreshEventsOf(
  provider: WebhookProvider,
  payload: unknown,
  deliveryId: string | undefined,
): EventsResult {
  const body = objectOf(payload);
  if (body === undefined) return { ok: false, message: 'the JSON body is not an object' };
  const result = EXTRACTORS[provider](body);
  if (!result.ok) return result;
  const withId = (event: Omit<RefreshEvent, 'deliveryId'>): RefreshEvent =>
    deliveryId === undefined ? event : { ...event, deliveryId };
  return { ok: true, events: result.events.map(withId) };
}

type Extracted =
  | { readonly ok: true; readonly events: readonly Omit<RefreshEvent, 'deliveryId'>[] }
  | { readonly ok: false; readonly message: string };

export type Json = Readonly<Record<string, unknown>>;

const EXTRACTORS: Readonly<Record<WebhookProvider, (body: Json) => Extracted>> = {
  github: (body) => githubLike('github', body),
  gitea: (body) => githubLike('gitea', body),
  gitlab,
  bitbucket,
  generic,
};

/** GitHub, and Gitea/Forgejo, whose push payload follows GitHub's. */
function githubLike(provider: 'github' | 'gitea', body: Json): Extracted {
  const repository = objectOf(body['repository']);
  const repoURLs = urlsOf([
    repository?.['clone_url'],
    repository?.['ssh_url'],
    repository?.['git_url'],
    repository?.['html_url'],
  ]);
  if (repoURLs.length === 0) {
    return {
      ok: false,
      message: 'the payload names no repository (repository.clone_url, ssh_url, html_url)',
    };
  }
  const after = shaOf(body['after']);
  const total = provider === 'gitea' ? countOf(body['total_commits']) : undefined;
  const rewritten =
    body['created'] === true ||
    body['deleted'] === true ||
    body['forced'] === true ||
    isZeroSha(body['before']);
  const changedPaths =
    rewritten || after === undefined
      ? undefined
      : changedPathsOf(body['commits'], total, TRUNCATED_AT[provider]);
  return { ok: true, events: [event(provider, repoURLs, stringOf(body['ref']), after, changedPaths)] };
}

function gitlab(body: Json): Extracted {
  const project = objectOf(body['project']);
  const repository = objectOf(body['repository']);
  const repoURLs = urlsOf([
    project?.['git_http_url'],
    project?.['git_ssh_url'],
    project?.['http_url'],
    project?.['ssh_url'],
    project?.['web_url'],
    repository?.['git_http_url'],
    repository?.['git_ssh_url'],
    repository?.['homepage'],
    repository?.['url'],
  ]);
  if (repoURLs.length === 0) {
    return {
      ok: false,
      message: 'the payload names no repository (project.git_http_url, git_ssh_url, web_url)',
    };
  }
  const after = shaOf(body['after']);
  const changedPaths =
    isZeroSha(body['before']) || after === undefined
      ? undefined
      : changedPathsOf(body['commits'], countOf(body['total_commits_count']), TRUNCATED_AT.gitlab);
  return { ok: true, events: [event('gitlab', repoURLs, stringOf(body['ref']), after, changedPaths)] };
}

/** Bitbucket Cloud (`repo:push`: push.changes[].new/old) and Data Center (`repo:refs_changed`: changes[]). */
function bitbucket(body: Json): Extracted {
  const repository = objectOf(body['repository']);
  const links = objectOf(repository?.['links']);
  const clone = arrayOf(links?.['clone'])?.slice(0, MAX_URLS) ?? [];
  const repoURLs = urlsOf([objectOf(links?.['html'])?.['href'], ...clone.map((c) => objectOf(c)?.['href'])]);
  if (repoURLs.length === 0) {
    return { ok: false, message: 'the payload names no repository (repository.links.html or links.clone)' };
  }
  const cloudChanges = arrayOf(objectOf(body['push'])?.['changes']);
  const changes = cloudChanges ?? arrayOf(body['changes']) ?? [];
  if (changes.length === 0 || changes.length > MAX_REF_CHANGES) {
    return { ok: true, events: [event('bitbucket', repoURLs, undefined, undefined, undefined)] };
  }
  const refs = changes.map((change) =>
    cloudChanges === undefined ? dataCenterChange(objectOf(change)) : cloudChange(objectOf(change)),
  );
  return {
    ok: true,
    events: refs.map((ref) => event('bitbucket', repoURLs, ref.ref, ref.after, undefined)),
  };
}

interface RefChange {
  readonly ref: string | undefined;
  readonly after: string | undefined;
}

function cloudChange(change: Json | undefined): RefChange {
  const next = objectOf(change?.['new']);
  const side = next ?? objectOf(change?.['old']);
  const name = stringOf(side?.['name']);
  const type = side?.['type'];
  const prefix = type === 'branch' ? 'refs/heads/' : type === 'tag' ? 'refs/tags/' : undefined;
  return {
    ref: name === undefined || prefix === undefined ? undefined : `${prefix}${name}`,
    after: shaOf(objectOf(next?.['target'])?.['hash']),
  };
}

function dataCenterChange(change: Json | undefined): RefChange {
  const ref = stringOf(change?.['refId']) ?? stringOf(objectOf(change?.['ref'])?.['id']);
  return { ref, after: change?.['type'] === 'DELETE' ? undefined : shaOf(change?.['toHash']) };
}

/** Capstan's own form: `{repoURL, ref?, revision?, paths?}`, checked field by field. */
function generic(body: Json): Extracted {
  const repoURL = body['repoURL'];
  if (typeof repoURL !== 'string' || repoURL.trim() === '' || repoURL.length > MAX_URL_LENGTH) {
    return { ok: false, message: `repoURL must be a repository URL of at most ${MAX_URL_LENGTH} characters` };
  }
  for (const field of ['ref', 'revision'] as const) {
    const value = body[field];
    if (value !== undefined && (typeof value !== 'string' || value === '' || value.length > 1024)) {
      return { ok: false, message: `${field} must be a non-empty string of at most 1024 characters` };
    }
  }
  const paths = body['paths'];
  let changedPaths: readonly string[] | undefined;
  if (paths !== undefined) {
    const list = arrayOf(paths);
    if (
      list?.every((path) => typeof path === 'string' && path !== '' && path.length <= MAX_PATH_LENGTH) !==
      true
    ) {
      return {
        ok: false,
        message: `paths must be a list of non-empty strings of at most ${MAX_PATH_LENGTH} characters`,
      };
    }
    // Past the cap, the list is "unknown": every Application of the repository is refreshed.
    changedPaths = pathsUnion([list]);
  }
  const ref = stringOf(body['ref']);
  const revision = stringOf(body['revision']);
  return { ok: true, events: [event('generic', [normalizeRepoUrl(repoURL)], ref, revision, changedPaths)] };
}

function event(
  provider: WebhookProvider,
  repoURLs: readonly string[],
  ref: string | undefined,
  after: string | undefined,
  changedPaths: readonly string[] | undefined,
): Omit<RefreshEvent, 'deliveryId'> {
  return {
    provider,
    repoURLs,
    ...(ref === undefined ? {} : { ref }),
    ...(after === undefined ? {} : { after }),
    ...(changedPaths === undefined ? {} : { changedPaths }),
  };
}

/**
 * The union of added, modified and removed paths over the commits, or undefined when it cannot be
 * known for sure: no commits, a list that may be cut (`total` larger, or `truncatedAt` reached without
 * a total), a commit without file lists, an odd entry, or more than MAX_CHANGED_PATHS paths.
 */
function changedPathsOf(
  commits: unknown,
  total: number | undefined,
  truncatedAt: number,
): readonly string[] | undefined {
  const list = arrayOf(commits);
  if (list === undefined || list.length === 0 || list.length > MAX_COMMITS) return undefined;
  if (total === undefined ? list.length >= truncatedAt : total > list.length) return undefined;
  const lists: unknown[][] = [];
  for (const item of list) {
    const commit = objectOf(item);
    for (const key of ['added', 'modified', 'removed'] as const) {
      const files = arrayOf(commit?.[key]);
      if (files === undefined) return undefined;
      lists.push(files);
    }
  }
  return pathsUnion(lists);
}

/** The paths of the lists without duplicates, or undefined on a bad entry or past the cap. */
function pathsUnion(lists: readonly (readonly unknown[])[]): readonly string[] | undefined {
  const paths = new Set<string>();
  for (const files of lists) {
    for (const file of files) {
      if (typeof file !== 'string' || file === '' || file.length > MAX_PATH_LENGTH) return undefined;
      paths.add(file);
      if (paths.size > MAX_CHANGED_PATHS) return undefined;
    }
  }
  return [...paths];
}

/** The normal forms of the URL strings among `values`, without duplicates. */
export function urlsOf(values: readonly unknown[]): readonly string[] {
  const urls = new Set<string>();
  for (const value of values) {
    if (typeof value !== 'string' || value === '' || value.length > MAX_URL_LENGTH) continue;
    const normal = normalizeRepoUrl(value);
    if (normal !== '') urls.add(normal);
    if (urls.size >= MAX_URLS) break;
  }
  return [...urls];
}

export function objectOf(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function arrayOf(value: unknown): unknown[] | undefined {
  return Array.isArray(value) ? value : undefined;
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value.length <= 1024 ? value : undefined;
}

function countOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

const SHA = /^[0-9a-fA-F]{7,64}$/;

/** A commit id, or undefined when absent, malformed, or all zeros (a deleted ref). */
function shaOf(value: unknown): string | undefined {
  return typeof value === 'string' && SHA.test(value) && !isZeroSha(value) ? value : undefined;
}

function isZeroSha(value: unknown): boolean {
  return typeof value === 'string' && /^0+$/.test(value);
}
