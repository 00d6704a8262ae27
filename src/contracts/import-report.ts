/**
 * What `capstan import argocd|flux` found while converting another tool's objects into Capstan
 * Applications: the Applications, what it left out (a field and why) and what the user must know or do.
 * Pure: objects in, a result out; the CLI reads the files and prints. Shared by import-argocd.ts and
 * import-flux.ts, with the small readers of untyped input (any field may hold anything) both use.
 */
import type { SourceLocation } from '../core/manifest.ts';
import { formatId, idOf, type KubeObject } from '../core/resource.ts';
import { DURATION_PATTERN } from '../core/duration.ts';
import { validateApplication, type Application } from './application.ts';
import type { Project } from './project.ts';

/** The tools whose objects `capstan import` converts. */
export const IMPORT_TOOLS = ['argocd', 'flux'] as const;
export type ImportTool = (typeof IMPORT_TOOLS)[number];

/** One finding about one object: `apps.yaml:12: Application/argocd/web: spec.source.plugin: why`. */
export interface ImportFinding {
  /** `Kind/namespace/name` of the object read. */
  readonly subject: string;
  readonly source: SourceLocation;
  /** The field concerned (`spec.source.plugin`); empty for the whole object. */
  readonly field: string;
  readonly reason: string;
}

export interface ImportResult {
  readonly applications: Application[];
  /** Projects (from Argo CD AppProjects). */
  readonly projects: Project[];
  /** What was not converted: the Applications differ from the originals there (exit code 5). */
  readonly leftOut: ImportFinding[];
  /** Converted, with something to know or do (a Secret to prepare, a cluster to register). */
  readonly notes: ImportFinding[];
}

export interface ImportOptions {
  /** The namespace of every Application made. Default: the destination namespace, else the object's own. */
  readonly namespace?: string;
}

/** `file:line: subject: field: reason`, one line. */
export function formatFinding(finding: ImportFinding): string {
  const field = finding.field === '' ? '' : `${finding.field}: `;
  return `${finding.source.file}:${finding.source.line}: ${finding.subject}: ${field}${finding.reason}`;
}

/** Findings of one object, collected as it is converted. */
export class ObjectFindings {
  readonly subject: string;
  readonly source: SourceLocation;
  private readonly into: { leftOut: ImportFinding[]; notes: ImportFinding[] };

  constructor(
    object: KubeObject,
    source: SourceLocation,
    into: { leftOut: ImportFinding[]; notes: ImportFinding[] },
  ) {
    this.subject = formatId(idOf(object));
    this.source = source;
    this.into = into;
  }

  leftOut(field: readonly (string | number)[], reason: string): void {
    this.into.leftOut.push(this.finding(field, reason));
  }

  note(field: readonly (string | number)[], reason: string): void {
    this.into.notes.push(this.finding(field, reason));
  }

  /** Each key of `value` not in `known` is left out, with `reason` (default: unknown to the importer). */
  unknownKeys(
    value: Readonly<Record<string, unknown>>,
    known: readonly string[],
    at: readonly (string | number)[],
  ): void {
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.leftOut([...at, key], 'not a field this importer knows; not converted');
    }
  }

  private finding(field: readonly (string | number)[], reason: string): ImportFinding {
    return { subject: this.subject, source: this.source, field: fieldPath(field), reason };
  }
}

/** `['spec', 'sources', 0, 'path']` → `spec.sources[0].path`. */
export function fieldPath(parts: readonly (string | number)[]): string {
  return parts.reduce<string>(
    (path, part) => (typeof part === 'number' ? `${path}[${part}]` : path === '' ? part : `${path}.${part}`),
    '',
  );
}

/** True for a plain http:// repository URL, which converts with insecureHttp set and a note. */
export function insecureHttp(
  url: string,
  at: readonly (string | number)[],
  findings: ObjectFindings,
): boolean {
  const insecure = url.toLowerCase().startsWith('http://');
  if (insecure) findings.note(at, 'a plain http URL: converted with insecureHttp set; prefer https');
  return insecure;
}

/** The Application as Capstan validates it; one that does not pass is left out with the errors. */
export function checked(application: Application, findings: ObjectFindings): Application | undefined {
  const validation = validateApplication(application);
  if (validation.ok) return validation.value;
  findings.leftOut(
    [],
    `the converted Application is not valid (${validation.errors.join('; ')}); not converted`,
  );
  return undefined;
}

// ── Readers of untyped input ────────────────────────────────────────────────────────────────────

export type Fields = Readonly<Record<string, unknown>>;

/** An object (a YAML map), or undefined. */
export function fieldsOf(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

/** A field that must be a string when present; another type is left out with the field named. */
export function stringField(
  fields: Fields,
  key: string,
  at: readonly (string | number)[],
  findings: ObjectFindings,
): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  findings.leftOut([...at, key], `expected a string, found ${describe(value)}`);
  return undefined;
}

/** A field that must be a boolean when present. */
export function booleanField(
  fields: Fields,
  key: string,
  at: readonly (string | number)[],
  findings: ObjectFindings,
): boolean | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  findings.leftOut([...at, key], `expected true or false, found ${describe(value)}`);
  return undefined;
}

/** A field that must be a map when present. */
export function mapField(
  fields: Fields,
  key: string,
  at: readonly (string | number)[],
  findings: ObjectFindings,
): Fields | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  const map = fieldsOf(value);
  if (!map) findings.leftOut([...at, key], `expected a map of fields, found ${describe(value)}`);
  return map;
}

/** A field that must be a list when present. */
export function listField(
  fields: Fields,
  key: string,
  at: readonly (string | number)[],
  findings: ObjectFindings,
): readonly unknown[] | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value as readonly unknown[];
  findings.leftOut([...at, key], `expected a list, found ${describe(value)}`);
  return undefined;
}

/** A duration Capstan accepts (30s, 5m, 1h30m), or undefined with the field left out. */
export function durationField(
  fields: Fields,
  key: string,
  at: readonly (string | number)[],
  findings: ObjectFindings,
): string | undefined {
  const value = stringField(fields, key, at, findings);
  if (value === undefined) return undefined;
  if (new RegExp(DURATION_PATTERN).test(value)) return value;
  findings.leftOut([...at, key], `'${value}' is not a duration Capstan reads (such as 30s, 5m or 1h30m)`);
  return undefined;
}

/** A folder inside the repository as Capstan writes it: no leading `./`, `.` for the root. */
export function repositoryPath(path: string): string {
  const trimmed = path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '.' : trimmed;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}
