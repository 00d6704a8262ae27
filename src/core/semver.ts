/**
 * Semantic versions (semver.org 2.0.0) and the npm range syntax over them, for picking a tag by range
 * (`>=1.2 <2`, `^1.4`, `~1.2.0`, `1.x`, `*`, `1.2.3 - 2`, `^1 || ^2`). Pure code, no dependencies.
 *
 * Ranges follow npm's rules: a pre-release version (`2.0.0-rc.1`) matches a range only when one of the
 * comparators of the same alternative names a pre-release of the same major.minor.patch
 * (`>=2.0.0-rc.0`), so `^2` never picks a release candidate.
 */

export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Dot-separated identifiers after `-`; numeric ones as numbers. Empty for a release. */
  readonly prerelease: readonly (string | number)[];
  /** Identifiers after `+`; ignored when comparing. */
  readonly build: readonly string[];
}

type Operator = '<' | '<=' | '>' | '>=' | '=';

interface Comparator {
  readonly operator: Operator;
  readonly version: SemVer;
}

/** A parsed range: alternatives (`||`), each a set of comparators that must all hold. */
export interface SemverRange {
  readonly text: string;
  readonly alternatives: readonly (readonly Comparator[])[];
}

const NUMBER = '0|[1-9]\\d*';
const IDENTIFIER = `(?:${NUMBER}|\\d*[a-zA-Z-][a-zA-Z0-9-]*)`;
const PRERELEASE = `(?:-(${IDENTIFIER}(?:\\.${IDENTIFIER})*))`;
const BUILD = '(?:\\+([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))';
const VERSION = new RegExp(`^[vV]?(${NUMBER})\\.(${NUMBER})\\.(${NUMBER})${PRERELEASE}?${BUILD}?$`);
/** A version in a range, where parts may be missing or wildcards (`1`, `1.2`, `1.x`, `*`). */
const PARTIAL = new RegExp(
  `^[vV]?(${NUMBER}|[xX*])(?:\\.(${NUMBER}|[xX*])(?:\\.(${NUMBER}|[xX*])${PRERELEASE}?${BUILD}?)?)?$`,
);
const COMPARATOR = /^(<=|>=|<|>|=|~>|~|\^)?(.*)$/;
/** Numbers above this are refused, so that comparisons stay exact. */
const MAX_PART = Number.MAX_SAFE_INTEGER;
const MAX_RANGE_LENGTH = 256;

/** Parses `1.2.3`, `v1.2.3`, `1.2.3-rc.1+build.5`; undefined when the text is not a full version. */
export function parseVersion(text: string): SemVer | undefined {
  const match = VERSION.exec(text);
  if (!match) return undefined;
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (major > MAX_PART || minor > MAX_PART || patch > MAX_PART) return undefined;
  return { major, minor, patch, prerelease: identifiers(match[4]), build: match[5]?.split('.') ?? [] };
}

/** The canonical text of a version, without a `v`: `1.2.3-rc.1+build.5`. */
export function formatVersion(version: SemVer): string {
  const pre = version.prerelease.length > 0 ? `-${version.prerelease.join('.')}` : '';
  const build = version.build.length > 0 ? `+${version.build.join('.')}` : '';
  return `${version.major}.${version.minor}.${version.patch}${pre}${build}`;
}

/** Orders versions by precedence (semver.org §11); build metadata does not count. */
export function compareVersions(a: SemVer, b: SemVer): number {
  return (
    a.major - b.major ||
    a.minor - b.minor ||
    a.patch - b.patch ||
    comparePrerelease(a.prerelease, b.prerelease)
  );
}

/**
 * Parses a range; undefined when the text is not one. Accepts comparators (`<`, `<=`, `>`, `>=`, `=`),
 * tilde (`~1.2.3`), caret (`^1.2.3`), x-ranges (`1.x`, `1.2.*`, `1`, `*`, empty), hyphen ranges
 * (`1.2.3 - 2.3`), a `v` before any version, space-separated intersections and `||` unions.
 */
export function parseRange(text: string): SemverRange | undefined {
  if (text.length > MAX_RANGE_LENGTH) return undefined;
  const alternatives: Comparator[][] = [];
  for (const alternative of text.split('||')) {
    const comparators = parseAlternative(alternative.trim());
    if (comparators === undefined) return undefined;
    alternatives.push(comparators);
  }
  return { text, alternatives };
}

/** Whether a version lies in a range (pre-releases only where the range names one, see above). */
export function satisfies(version: SemVer, range: SemverRange): boolean {
  return range.alternatives.some((comparators) => satisfiesAll(version, comparators));
}

/** The highest of the candidates whose version satisfies the range; undefined when none does. */
export function maxSatisfying<T extends { readonly version: SemVer }>(
  candidates: readonly T[],
  range: SemverRange,
): T | undefined {
  let best: T | undefined;
  for (const candidate of candidates) {
    if (!satisfies(candidate.version, range)) continue;
    if (best === undefined || compareVersions(candidate.version, best.version) > 0) best = candidate;
  }
  return best;
}

// --- parsing steps ---------------------------------------------------------------------------------

function identifiers(text: string | undefined): (string | number)[] {
  if (text === undefined) return [];
  return text.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** One alternative: a hyphen range, or comparators separated by spaces (`>= 1.2` allowed). */
function parseAlternative(text: string): Comparator[] | undefined {
  const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(text);
  if (hyphen) return hyphenRange(hyphen[1] ?? '', hyphen[2] ?? '');
  const tokens = text
    .replace(/(<=|>=|<|>|=|~>|~|\^)\s+/g, '$1')
    .split(/\s+/)
    .filter((token) => token !== '');
  if (tokens.length === 0) return [];
  const comparators: Comparator[] = [];
  for (const token of tokens) {
    const expanded = expandComparator(token);
    if (expanded === undefined) return undefined;
    comparators.push(...expanded);
  }
  return comparators;
}

/** A partial version: missing or wildcard parts are undefined (and so are all after them). */
interface Partial {
  readonly major: number | undefined;
  readonly minor: number | undefined;
  readonly patch: number | undefined;
  readonly prerelease: readonly (string | number)[];
}

function parsePartial(text: string): Partial | undefined {
  const match = PARTIAL.exec(text);
  if (!match) return undefined;
  const part = (value: string | undefined) =>
    value === undefined || /^[xX*]$/.test(value) ? undefined : Number(value);
  const major = part(match[1]);
  const minor = major === undefined ? undefined : part(match[2]);
  const patch = minor === undefined ? undefined : part(match[3]);
  if ([major, minor, patch].some((n) => n !== undefined && n > MAX_PART)) return undefined;
  return { major, minor, patch, prerelease: patch === undefined ? [] : identifiers(match[4]) };
}

function version(
  major: number,
  minor: number,
  patch: number,
  prerelease: readonly (string | number)[] = [],
): SemVer {
  return { major, minor, patch, prerelease, build: [] };
}

/** The lowest version of a partial: `1.2` → 1.2.0, `*` → 0.0.0. */
function lowest(p: Partial): SemVer {
  return version(p.major ?? 0, p.minor ?? 0, p.patch ?? 0, p.prerelease);
}

/** The first version past a partial that has a wildcard: `1` → 2.0.0-0, `1.2` → 1.3.0-0. */
function pastEnd(p: Partial): SemVer | undefined {
  if (p.major === undefined) return undefined;
  if (p.minor === undefined) return version(p.major + 1, 0, 0, [0]);
  if (p.patch === undefined) return version(p.major, p.minor + 1, 0, [0]);
  return undefined;
}

const gte = (v: SemVer): Comparator => ({ operator: '>=', version: v });
const lt = (v: SemVer): Comparator => ({ operator: '<', version: v });

function expandComparator(token: string): Comparator[] | undefined {
  const match = COMPARATOR.exec(token);
  const operator = match?.[1] ?? '';
  const p = parsePartial(match?.[2] ?? '');
  if (p === undefined) return undefined;
  switch (operator) {
    case '~':
    case '~>':
      return tilde(p);
    case '^':
      return caret(p);
    case '':
    case '=':
      return xRange(p);
    default:
      return primitive(operator as Operator, p);
  }
}

/** `1.2.3` → =1.2.3; `1.2` → >=1.2.0 <1.3.0-0; `1` → >=1.0.0 <2.0.0-0; `*` → any. */
function xRange(p: Partial): Comparator[] {
  if (p.major === undefined) return [];
  const end = pastEnd(p);
  if (end === undefined) return [{ operator: '=', version: lowest(p) }];
  return [gte(lowest(p)), lt(end)];
}

/** `~1.2.3` → >=1.2.3 <1.3.0-0; `~1.2` → >=1.2.0 <1.3.0-0; `~1` → >=1.0.0 <2.0.0-0. */
function tilde(p: Partial): Comparator[] {
  if (p.major === undefined) return [];
  if (p.minor === undefined) return [gte(lowest(p)), lt(version(p.major + 1, 0, 0, [0]))];
  return [gte(lowest(p)), lt(version(p.major, p.minor + 1, 0, [0]))];
}

/** Allows changes that do not modify the left-most non-zero part: `^1.2.3` → <2, `^0.2.3` → <0.3, `^0.0.3` → <0.0.4. */
function caret(p: Partial): Comparator[] {
  if (p.major === undefined) return [];
  const from = gte(lowest(p));
  if (p.major > 0 || p.minor === undefined) return [from, lt(version(p.major + 1, 0, 0, [0]))];
  if (p.minor > 0 || p.patch === undefined) return [from, lt(version(0, p.minor + 1, 0, [0]))];
  return [from, lt(version(0, 0, p.patch + 1, [0]))];
}

/** `>1.2` → >=1.3.0; `<=1.2` → <1.3.0-0; `<1.2` → <1.2.0-0; `>=1.2` → >=1.2.0; `<*` matches nothing. */
function primitive(operator: Operator, p: Partial): Comparator[] {
  if (p.major === undefined) {
    return operator === '<' || operator === '>' ? [lt(version(0, 0, 0, [0]))] : [];
  }
  const end = pastEnd(p);
  if (end === undefined) return [{ operator, version: lowest(p) }];
  switch (operator) {
    case '>':
      return [gte(end)];
    case '<=':
      return [lt(end)];
    case '<':
      return [lt(lowest({ ...p, prerelease: [0] }))];
    default:
      return [gte(lowest(p))];
  }
}

/** `1.2.3 - 2.3.4` → >=1.2.3 <=2.3.4; a partial upper end includes all it covers (`- 2.3` → <2.4.0-0). */
function hyphenRange(fromText: string, toText: string): Comparator[] | undefined {
  const from = parsePartial(fromText);
  const to = parsePartial(toText);
  if (from === undefined || to === undefined) return undefined;
  const comparators: Comparator[] = from.major === undefined ? [] : [gte(lowest(from))];
  if (to.major === undefined) return comparators;
  const end = pastEnd(to);
  comparators.push(end === undefined ? { operator: '<=', version: lowest(to) } : lt(end));
  return comparators;
}

// --- matching --------------------------------------------------------------------------------------

function holds(version: SemVer, comparator: Comparator): boolean {
  const order = compareVersions(version, comparator.version);
  switch (comparator.operator) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    case '=':
      return order === 0;
  }
}

function satisfiesAll(version: SemVer, comparators: readonly Comparator[]): boolean {
  if (!comparators.every((comparator) => holds(version, comparator))) return false;
  if (version.prerelease.length === 0) return true;
  // A pre-release matches only where a comparator names a pre-release of the same major.minor.patch.
  return comparators.some(
    ({ version: c }) =>
      c.prerelease.length > 0 &&
      c.major === version.major &&
      c.minor === version.minor &&
      c.patch === version.patch,
  );
}

function comparePrerelease(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  // A release ranks above any of its pre-releases.
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    // Numeric identifiers rank below alphanumeric ones; alphanumeric ones compare in ASCII order.
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}
