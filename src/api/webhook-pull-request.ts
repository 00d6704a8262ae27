/**
 * From a verified pull (merge) request webhook body to a `PullRequestEvent`: GitHub's and Gitea's
 * `pull_request` (Forgejo's is Gitea's), GitLab's `Merge Request Hook`. Unlike a push, a pull request
 * event starts runs of its head commit, so every field a run needs must be there and well formed:
 * a payload missing one, or with a number or commit of the wrong shape, is refused with a message
 * naming the field (never quoting it). Actions that do not change the code are ignored, not refused.
 */
import { FORK_AUTHOR_PATTERN } from '../contracts/pipeline.ts';
import type { PullRequestEvent, PullRequestProvider } from '../contracts/webhook-event.ts';
import { objectOf, urlsOf, type Json } from './webhook-payload.ts';

export type PullRequestResult =
  | { readonly ok: true; readonly event: PullRequestEvent }
  | { readonly ok: true; readonly ignored: string }
  | { readonly ok: false; readonly message: string };

/** The largest pull request number taken (GitHub's and GitLab's are 32-bit integers). */
export const MAX_PULL_REQUEST_NUMBER = 2_147_483_647;
/** Git refuses longer ref names in practice; a branch name past this is not one. */
const MAX_BRANCH_LENGTH = 255;
const FULL_SHA = /^[0-9a-fA-F]{40}$/;
const AUTHOR = new RegExp(FORK_AUTHOR_PATTERN);

type Action = PullRequestEvent['action'];

/** The pull request event of a body, for a provider that has them. */
export function pullRequestEventOf(
  provider: PullRequestProvider,
  payload: unknown,
  deliveryId: string | undefined,
): PullRequestResult {
  const body = objectOf(payload);
  if (body === undefined) return { ok: false, message: 'the JSON body is not an object' };
  try {
    const event = provider === 'gitlab' ? gitlab(body) : githubLike(provider, body);
    if ('ignored' in event) return { ok: true, ignored: event.ignored };
    return { ok: true, event: deliveryId === undefined ? event : { ...event, deliveryId } };
  } catch (error) {
    if (error instanceof PayloadError) return { ok: false, message: error.message };
    throw error;
  }
}

class PayloadError extends Error {}

const GITHUB_ACTIONS: Readonly<Record<string, Action>> = {
  opened: 'opened',
  synchronize: 'synchronize',
  reopened: 'reopened',
};
/** Gitea and Forgejo say `synchronized` where GitHub says `synchronize`. */
const GITEA_ACTIONS: Readonly<Record<string, Action>> = { ...GITHUB_ACTIONS, synchronized: 'synchronize' };

function githubLike(provider: 'github' | 'gitea', body: Json): PullRequestEvent | { ignored: string } {
  const words = provider === 'gitea' ? GITEA_ACTIONS : GITHUB_ACTIONS;
  const actionWord = textField(body['action'], 'action', 64);
  const action = Object.hasOwn(words, actionWord) ? words[actionWord] : undefined;
  if (action === undefined) return ignoredAction(actionWord);
  const pr = objectOf(body['pull_request']);
  if (pr === undefined) throw new PayloadError('the payload has no pull_request object');
  const head = objectOf(pr['head']);
  const base = objectOf(pr['base']);
  if (head === undefined || base === undefined) {
    throw new PayloadError('pull_request.head and pull_request.base must be objects');
  }
  const number = numberField(pr['number'] ?? body['number'], 'pull_request.number');
  const repository = objectOf(body['repository']) ?? objectOf(base['repo']);
  const repoURLs = urlsOf(
    ['clone_url', 'ssh_url', 'git_url', 'html_url'].map((field) => repository?.[field]),
  );
  if (repoURLs.length === 0) {
    throw new PayloadError('the payload names no repository (repository.clone_url, ssh_url, html_url)');
  }
  return {
    provider,
    repoURLs,
    number,
    action,
    headSha: shaField(head['sha'], 'pull_request.head.sha'),
    ref: `refs/pull/${String(number)}/head`,
    sourceBranch: branchField(head['ref'], 'pull_request.head.ref'),
    targetBranch: branchField(base['ref'], 'pull_request.base.ref'),
    fromFork: !sameRepository(objectOf(head['repo']), objectOf(base['repo']) ?? repository),
    ...authorOf(objectOf(pr['user'])?.['login'], 'pull_request.user.login'),
  };
}

/** GitLab's words: `update` is a push only when `oldrev` (the previous head) is there. */
function gitlabAction(attributes: Json): Action | { ignored: string } {
  const word = textField(attributes['action'], 'object_attributes.action', 64);
  if (word === 'open') return 'opened';
  if (word === 'reopen') return 'reopened';
  if (word === 'update') {
    return typeof attributes['oldrev'] === 'string'
      ? 'synchronize'
      : { ignored: "merge request action 'update' changed no commit (no oldrev); nothing to run" };
  }
  return ignoredAction(word);
}

function gitlab(body: Json): PullRequestEvent | { ignored: string } {
  if (body['object_kind'] !== 'merge_request') {
    throw new PayloadError("object_kind must be 'merge_request' for a Merge Request Hook");
  }
  const attributes = objectOf(body['object_attributes']);
  if (attributes === undefined) throw new PayloadError('the payload has no object_attributes object');
  const action = gitlabAction(attributes);
  if (typeof action !== 'string') return action;
  const number = numberField(attributes['iid'], 'object_attributes.iid');
  const project = objectOf(body['project']) ?? objectOf(attributes['target']);
  const repoURLs = urlsOf(
    ['git_http_url', 'git_ssh_url', 'http_url', 'ssh_url', 'web_url'].map((field) => project?.[field]),
  );
  if (repoURLs.length === 0) {
    throw new PayloadError('the payload names no repository (project.git_http_url, git_ssh_url, web_url)');
  }
  const source = attributes['source_project_id'];
  const target = attributes['target_project_id'];
  return {
    provider: 'gitlab',
    repoURLs,
    number,
    action,
    headSha: shaField(objectOf(attributes['last_commit'])?.['id'], 'object_attributes.last_commit.id'),
    ref: `refs/merge-requests/${String(number)}/head`,
    sourceBranch: branchField(attributes['source_branch'], 'object_attributes.source_branch'),
    targetBranch: branchField(attributes['target_branch'], 'object_attributes.target_branch'),
    fromFork: !(Number.isSafeInteger(source) && source === target),
    ...authorOf(objectOf(body['user'])?.['username'], 'user.username'),
  };
}

/** The same repository when both name it the same way (full_name, else id); unknown is not the same. */
function sameRepository(head: Json | undefined, base: Json | undefined): boolean {
  const name = (repo: Json | undefined) =>
    typeof repo?.['full_name'] === 'string' && repo['full_name'] !== ''
      ? repo['full_name'].toLowerCase()
      : undefined;
  const headName = name(head);
  const baseName = name(base);
  if (headName !== undefined && baseName !== undefined) return headName === baseName;
  const headId = head?.['id'];
  return Number.isSafeInteger(headId) && headId === base?.['id'];
}

/** The author's login when the payload has one; one of another shape is refused, naming the field. */
function authorOf(value: unknown, field: string): { author?: string } {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'string' || !AUTHOR.test(value)) {
    throw new PayloadError(`${field} must be a login (letters, digits, . _ -; at most 100 characters)`);
  }
  return { author: value };
}

function ignoredAction(word: string): { ignored: string } {
  return { ignored: `pull request action '${word.slice(0, 64)}' does not change its code; nothing to run` };
}

function textField(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value === '' || value.length > max) {
    throw new PayloadError(`${field} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

function numberField(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PULL_REQUEST_NUMBER) {
    throw new PayloadError(`${field} must be a whole number from 1 to ${MAX_PULL_REQUEST_NUMBER}`);
  }
  return value;
}

function shaField(value: unknown, field: string): string {
  if (typeof value !== 'string' || !FULL_SHA.test(value)) {
    throw new PayloadError(`${field} must be a full commit id (40 hex digits)`);
  }
  return value.toLowerCase();
}

/** A branch name git would take: no control characters, spaces, `..`, `~^:?*[\`, nor a leading `-`. */
function branchField(value: unknown, field: string): string {
  const name = textField(value, field, MAX_BRANCH_LENGTH);
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u0020\u007f~^:?*[\\]|\.\.|^-|^\/|\/$|@\{/.test(name)) {
    throw new PayloadError(`${field} must be a branch name (git refuses this one)`);
  }
  return name;
}
