/**
 * What a target revision asks for: the remote's default branch (empty or HEAD), a full commit SHA, or a
 * name — a branch, a tag, a full ref (`refs/…`) or a semver range over tags. Refused before anything
 * runs: a revision beginning with `-` (git would read it as an option) or holding control characters.
 */
import { CapstanError } from '../../core/errors.ts';
import { parseRange, type SemverRange } from '../../core/semver.ts';

export type TargetRevision =
  | { readonly kind: 'head' }
  | { readonly kind: 'sha'; readonly sha: string }
  /** A branch, tag or full ref; `range` is set when the name also reads as a semver range. */
  | { readonly kind: 'name'; readonly name: string; readonly range: SemverRange | undefined };

const MAX_REVISION_LENGTH = 256;
const FULL_SHA = /^[0-9a-fA-F]{40}$/;

/** Classifies a target revision; throws SOURCE_BAD_REVISION for one that may not reach git. */
export function parseTargetRevision(text: string, subject: string): TargetRevision {
  const revision = text.trim();
  checkRevisionText(revision, subject);
  if (revision === '' || revision === 'HEAD') return { kind: 'head' };
  if (FULL_SHA.test(revision)) return { kind: 'sha', sha: revision.toLowerCase() };
  return { kind: 'name', name: revision, range: parseRange(revision) };
}

/** The commit SHA of a resolved revision, checked; throws SOURCE_BAD_REVISION. */
export function checkedSha(sha: string, subject: string): string {
  if (!FULL_SHA.test(sha)) {
    throw new CapstanError(
      'SOURCE_BAD_REVISION',
      `'${printable(sha)}' is not a full 40-hex commit SHA: pass the revision that resolve() returned`,
      { subject },
    );
  }
  return sha.toLowerCase();
}

/** A full branch or tag ref that may be fetched by name (`refs/heads/main`, `refs/tags/v1.2.3`). */
export function isFetchableRef(ref: string): boolean {
  return (
    /^refs\/(heads|tags)\/[^\s\p{Cc}:~^?*[\\]+$/u.test(ref) &&
    !ref.includes('..') &&
    !ref.includes('@{') &&
    !ref.endsWith('.lock') &&
    !ref.endsWith('/')
  );
}

/** Throws SOURCE_BAD_REVISION for a revision beginning with `-`, too long, or with control characters. */
export function checkRevisionText(revision: string, subject: string): void {
  const bad = (why: string) =>
    new CapstanError('SOURCE_BAD_REVISION', `target revision '${printable(revision)}' ${why}`, { subject });
  if (revision.startsWith('-'))
    throw bad("begins with '-', which git would read as an option: it is refused");
  if (revision.length > MAX_REVISION_LENGTH) throw bad(`is longer than ${MAX_REVISION_LENGTH} characters`);
  if (/\p{Cc}/u.test(revision)) throw bad('contains control characters');
}

function printable(text: string): string {
  const shown = text.replace(/\p{Cc}/gu, '?');
  return shown.length > 80 ? `${shown.slice(0, 80)}…` : shown;
}
