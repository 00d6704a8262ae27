/**
 * Image policies (docs/promotions.md, "Following an image repository"): of a repository's tags, the
 * newest whose version lies in a semver range, as Flux's ImagePolicy chooses. Tags may be filtered by
 * a regular expression first, and the version read from a part of them (`filterTags.extract`, Flux's
 * syntax: `$name`, `${name}`, `$1`). Pre-releases count only where the range names one (npm's rule,
 * src/core/semver.ts). Pure: the tags come in as a list.
 */
import { CapstanError } from './errors.ts';
import {
  compareVersions,
  formatVersion,
  parseRange,
  parseVersion,
  satisfies,
  type SemVer,
} from './semver.ts';

/** `host[:port]/path`: the registry host is required (it holds a `.` or a `:`, or is `localhost`). */
export const IMAGE_REPOSITORY_PATTERN =
  '^(localhost|[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*(:[0-9]+)?)/[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$';
const REPOSITORY = new RegExp(IMAGE_REPOSITORY_PATTERN);
/** A tag, as the OCI distribution specification allows. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export interface ImageRepository {
  /** `host[:port]`. */
  readonly registry: string;
  /** The repository inside it: `team/hello`. */
  readonly path: string;
}

export interface TagPolicy {
  readonly semver: string;
  readonly filterTags?: { readonly pattern: string; readonly extract?: string } | undefined;
}

export interface ChosenTag {
  readonly tag: string;
  /** The version read from it, canonical (`1.3.0`). */
  readonly version: string;
}

/** The registry and the path of `host[:port]/path`; PROMOTION_CONFIG_INVALID for anything else. */
export function parseImageRepository(text: string, field: string): ImageRepository {
  const slash = text.indexOf('/');
  const host = slash < 0 ? '' : text.slice(0, slash);
  if (!REPOSITORY.test(text) || !(host.includes('.') || host.includes(':') || host === 'localhost'))
    throw new CapstanError(
      'PROMOTION_CONFIG_INVALID',
      `${field}: '${text.slice(0, 200)}' is not an image repository with its registry host (host[:port]/path, no tag, no digest)`,
    );
  return { registry: host, path: text.slice(slash + 1) };
}

/** The policy checked: the range parsed, the filter compiled; PROMOTION_CONFIG_INVALID naming the field. */
export function compilePolicy(
  policy: TagPolicy,
  field: string,
): { readonly pick: (tags: readonly string[]) => ChosenTag | undefined } {
  const range = parseRange(policy.semver);
  if (range === undefined)
    throw new CapstanError(
      'PROMOTION_CONFIG_INVALID',
      `${field}.semver: '${policy.semver.slice(0, 256)}' is not a semver range (such as '>=1.2.0 <2.0.0', '^1.4', '1.x')`,
    );
  const filter = policy.filterTags;
  let pattern: RegExp | undefined;
  if (filter !== undefined) {
    try {
      // Go's named groups (?P<name>…) as Flux writes them are JavaScript's (?<name>…).
      pattern = new RegExp(filter.pattern.replaceAll('(?P<', '(?<'));
    } catch (error) {
      throw new CapstanError(
        'PROMOTION_CONFIG_INVALID',
        `${field}.filterTags.pattern: '${filter.pattern.slice(0, 256)}' is not a regular expression (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }
  const versionOf = (tag: string): SemVer | undefined => {
    if (pattern === undefined) return parseVersion(tag);
    const match = pattern.exec(tag);
    if (match === null) return undefined;
    return parseVersion(filter?.extract === undefined ? tag : expand(filter.extract, match));
  };
  return {
    pick: (tags) => {
      let best: { tag: string; version: SemVer } | undefined;
      for (const tag of tags) {
        if (!TAG.test(tag)) continue;
        const version = versionOf(tag);
        if (version === undefined || !satisfies(version, range)) continue;
        const order = best === undefined ? 1 : compareVersions(version, best.version);
        // Equal versions (`v1.3.0` and `1.3.0`, build metadata): the greater tag, so the choice is stable.
        if (order > 0 || (order === 0 && best !== undefined && tag > best.tag)) best = { tag, version };
      }
      return best === undefined ? undefined : { tag: best.tag, version: formatVersion(best.version) };
    },
  };
}

/** `$name`, `${name}` and `$1` of a template, from a match (Go's Regexp.Expand, as Flux uses it). */
function expand(template: string, match: RegExpExecArray): string {
  return template.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_, braced: string | undefined, bare: string | undefined) => {
      const key = braced ?? bare ?? '';
      return (/^\d+$/.test(key) ? match[Number(key)] : match.groups?.[key]) ?? '';
    },
  );
}

/** Why no tag was chosen, for the Environment's status. */
export function noTagMatches(field: string, policy: TagPolicy, tags: readonly string[]): string {
  const filtered = policy.filterTags === undefined ? '' : ` and ${field}.filterTags`;
  const sample = tags.slice(0, 5).join(', ');
  return `${field}.semver: none of the repository's ${String(tags.length)} tags matches '${policy.semver}'${filtered}${tags.length === 0 ? '' : ` (${sample}${tags.length > 5 ? ', …' : ''})`}`;
}
