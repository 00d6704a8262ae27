/**
 * The references a remote advertises (`git ls-remote` output), and the choice of one for a target
 * revision: an exact ref, a tag, a branch, or the highest tag in a semver range. Annotated tags count
 * as the commit they point to (the peeled `^{}` lines).
 */
import { maxSatisfying, parseVersion, type SemVer, type SemverRange } from '../../core/semver.ts';
import type { ResolvedRevision } from '../../ports/source.ts';

export interface RemoteRefs {
  /** Ref name → commit SHA (peeled for annotated tags). */
  readonly refs: ReadonlyMap<string, string>;
  /** Symbolic refs shown by `--symref`: `HEAD` → `refs/heads/main`. */
  readonly symrefs: ReadonlyMap<string, string>;
}

const LINE = /^([0-9a-f]{40}|[0-9a-f]{64})\t(\S+)$/;
const SYMREF = /^ref: (\S+)\t(\S+)$/;
const PEELED = '^{}';

/** Parses `git ls-remote [--symref]` output; lines it does not know are ignored. */
export function parseLsRemote(output: string): RemoteRefs {
  const refs = new Map<string, string>();
  const peeled = new Map<string, string>();
  const symrefs = new Map<string, string>();
  for (const line of output.split('\n')) {
    const symref = SYMREF.exec(line);
    if (symref) {
      symrefs.set(symref[2] ?? '', symref[1] ?? '');
      continue;
    }
    const match = LINE.exec(line);
    if (!match) continue;
    const [sha, name] = [match[1] ?? '', match[2] ?? ''];
    if (name.endsWith(PEELED)) peeled.set(name.slice(0, -PEELED.length), sha);
    else refs.set(name, sha);
  }
  for (const [name, sha] of peeled) refs.set(name, sha);
  return { refs, symrefs };
}

/** The remote's default branch: HEAD, with the branch it points to when the server says. */
export function pickHead(remote: RemoteRefs): ResolvedRevision | undefined {
  const sha = remote.refs.get('HEAD');
  if (sha === undefined) return undefined;
  return { sha, ref: remote.symrefs.get('HEAD') ?? 'HEAD' };
}

/**
 * The ref a name stands for, in git's order: the full ref itself (`refs/…`), then `refs/tags/<name>`,
 * then `refs/heads/<name>`; failing those, the highest tag in the range when the name is one.
 */
export function pickNamed(
  remote: RemoteRefs,
  name: string,
  range: SemverRange | undefined,
): ResolvedRevision | undefined {
  const candidates = name.startsWith('refs/') ? [name] : [`refs/tags/${name}`, `refs/heads/${name}`];
  for (const ref of candidates) {
    const sha = remote.refs.get(ref);
    if (sha !== undefined) return { sha, ref };
  }
  return range === undefined ? undefined : pickInRange(remote, range);
}

interface VersionTag {
  readonly ref: string;
  readonly sha: string;
  readonly version: SemVer;
}

/**
 * The highest version tag (`v1.2.3` or `1.2.3`, directly under refs/tags) in the range; pre-releases
 * only where the range names one. Between equal versions (`v1.2.0` and `1.2.0`) the first ref name in
 * sorted order wins, so that the choice is stable.
 */
export function pickInRange(remote: RemoteRefs, range: SemverRange): ResolvedRevision | undefined {
  const tags: VersionTag[] = [];
  for (const [ref, sha] of [...remote.refs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!ref.startsWith('refs/tags/')) continue;
    const version = parseVersion(ref.slice('refs/tags/'.length));
    if (version !== undefined) tags.push({ ref, sha, version });
  }
  const best = maxSatisfying(tags, range);
  return best === undefined ? undefined : { sha: best.sha, ref: best.ref };
}
