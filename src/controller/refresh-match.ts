import type { ResolvedSpec } from '../contracts/application.ts';
import { normalizeRepoUrl } from '../core/repo-url.ts';

/** A push that a webhook reported (the shape of the API's RefreshEvent, which the controller may not import). */
export interface PushEvent {
  /** Normalised repository URLs (normalizeRepoUrl). */
  readonly repoURLs: readonly string[];
  readonly ref?: string;
  /** Undefined: unknown, every path may have changed. */
  readonly changedPaths?: readonly string[];
}

const SHA = /^[0-9a-f]{40}$/i;

/**
 * Whether a push may change what an Application renders: same repository, a ref it follows, and a
 * changed path inside its folder. Paths are a hint (a Kustomize base or Helm values outside the folder
 * are not seen): polling at the interval remains the guarantee.
 */
export function pushAffects(spec: ResolvedSpec, event: PushEvent): boolean {
  let repo: string;
  try {
    repo = normalizeRepoUrl(spec.source.repoURL);
  } catch {
    return false;
  }
  if (!event.repoURLs.includes(repo)) return false;
  const target = spec.source.targetRevision;
  if (SHA.test(target)) return false; // pinned: a push changes nothing
  if (event.ref !== undefined) {
    if (event.ref.startsWith('refs/heads/')) {
      const branch = event.ref.slice('refs/heads/'.length);
      if (!(target === branch || target === '' || target === 'HEAD')) return false;
    } else if (!event.ref.startsWith('refs/tags/')) {
      return false;
    }
  }
  if (event.changedPaths === undefined) return true;
  const folder = spec.source.path.replace(/^\.\/?/, '').replace(/\/+$/, '');
  if (folder === '') return event.changedPaths.length > 0;
  return event.changedPaths.some((p) => p === folder || p.startsWith(`${folder}/`));
}
