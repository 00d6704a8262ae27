// Printers of `capstan app`: pure functions from Applications (and the time now) to text, kubectl style.
import { formatId, withoutManagedFields, type ResourceId } from '../core/resource.ts';
import {
  APPLICATION_DEFAULTS as DEFAULTS,
  APPLICATION_GROUP,
  APPLICATION_SINGULAR,
  resolveSpec,
  type Application,
  type Condition,
  type HistoryEntry,
  type Operation,
  type ResourceStatus,
} from '../contracts/application.ts';
import { table } from './output.ts';
import { colourDiff, type PrintStyle } from './sync-printer.ts';
import { shortRevision as shortSourceRevision } from '../core/revision.ts';

const NONE = '-';

/** `application.capstan.dev/web`, as kubectl names an object in its messages. */
export function objectRef(name: string): string {
  return `${APPLICATION_SINGULAR}.${APPLICATION_GROUP}/${name}`;
}

/**
 * A duration as kubectl prints ages (k8s.io/apimachinery HumanDuration): `45s`, `5m30s`, `3h20m`, `30h`,
 * `3d5h`, `120d`, `2y30d`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

/** The age of a timestamp at `now`, or `-` when there is none. */
export function age(timestamp: string | undefined, now: number): string {
  if (timestamp === undefined) return NONE;
  const at = Date.parse(timestamp);
  return Number.isNaN(at) ? NONE : humanDuration(now - at);
}

/** How long something took: `850ms`, `3.4s`, `2m5s`. */
export function elapsed(startedAt: string | undefined, finishedAt: string | undefined): string {
  if (startedAt === undefined || finishedAt === undefined) return NONE;
  const ms = Date.parse(finishedAt) - Date.parse(startedAt);
  if (Number.isNaN(ms) || ms < 0) return NONE;
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}`;
}

/** A commit SHA cut to 12 characters (a chart's version with 12 of its digest), as the tables show it. */
export function shortRevision(revision: string | undefined): string {
  return revision === undefined || revision === '' ? NONE : shortSourceRevision(revision);
}

const cell = (text: string | undefined): string =>
  text === undefined || text === '' ? NONE : text.replace(/\s+/g, ' ');

function condition(app: Application, type: string): Condition | undefined {
  return app.status?.conditions?.find((c) => c.type === type);
}

/** The application as `-o json|yaml` print it: without managedFields, as kubectl shows objects. */
export function forOutput(app: Application): Application {
  return withoutManagedFields(app);
}

/** A kubectl-style List of applications for `-o json|yaml`. */
export function listDocument(apps: readonly Application[]): unknown {
  return { apiVersion: 'v1', kind: 'List', items: apps.map(forOutput) };
}

// ── list ───────────────────────────────────────────────────────────────────────────────────────

export interface ListOptions {
  readonly now: number;
  readonly wide?: boolean;
  /** Adds a NAMESPACE column first (`-A`). */
  readonly allNamespaces?: boolean;
}

/** NAME, SYNC, HEALTH, REVISION, AGE; wide adds REPO, PATH, MESSAGE (the Ready condition's). */
export function listTable(apps: readonly Application[], options: ListOptions): string {
  const wide = options.wide === true;
  const headers = [
    ...(options.allNamespaces === true ? ['NAMESPACE'] : []),
    'NAME',
    'SYNC',
    'HEALTH',
    'REVISION',
    'AGE',
    ...(wide ? ['REPO', 'PATH', 'MESSAGE'] : []),
  ];
  const rows = apps.map((app) => [
    ...(options.allNamespaces === true ? [app.metadata.namespace ?? NONE] : []),
    app.metadata.name,
    cell(app.status?.sync?.status),
    cell(app.status?.health?.status),
    shortRevision(app.status?.sync?.revision),
    age(app.metadata.creationTimestamp, options.now),
    ...(wide
      ? [
          cell(app.spec.source.repoURL),
          cell(app.spec.source.path),
          cell(condition(app, 'Ready')?.message ?? app.status?.health?.message),
        ]
      : []),
  ]);
  return table(headers, rows);
}

// ── get ────────────────────────────────────────────────────────────────────────────────────────

/** `automated (prune, self-heal); CreateNamespace=true; every 3m; retry 5 times (5s, x2, up to 3m)` */
export function syncPolicyText(app: Application): string {
  const spec = resolveSpec(app);
  const automated = spec.automated;
  const flags = automated
    ? [
        automated.prune ? 'prune' : '',
        automated.selfHeal ? 'self-heal' : '',
        automated.allowEmpty ? 'allow-empty' : '',
      ].filter(Boolean)
    : [];
  const mode = automated
    ? `automated${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`
    : 'manual (sync on request)';
  const options = app.spec.syncPolicy?.syncOptions ?? [];
  const backoff = app.spec.syncPolicy?.retry?.backoff;
  const retry =
    spec.retry.limit === 0
      ? 'no retries'
      : `retry ${spec.retry.limit} times (${backoff?.duration ?? DEFAULTS.retry.backoff.duration}, ` +
        `x${spec.retry.factor}, up to ${backoff?.maxDuration ?? DEFAULTS.retry.backoff.maxDuration})`;
  return [mode, ...options, `every ${app.spec.interval ?? DEFAULTS.interval}`, retry].join('; ');
}

/** The hold after a rollback, in one line: whether automated sync follows the source or holds. */
export function holdLine(app: Application, now: number): string {
  const hold = app.status?.hold;
  if (!hold)
    return `Hold: none (automated sync follows ${app.spec.source.targetRevision ?? DEFAULTS.targetRevision})`;
  const from = hold.fromRevision ? ` (rolled back from ${shortRevision(hold.fromRevision)})` : '';
  const since = hold.since ? `, for ${age(hold.since, now)}` : '';
  const reason = hold.reason ? `: ${hold.reason}` : '';
  return (
    `Hold: active on ${shortRevision(hold.revision)}${from}${since}${reason}; ` +
    `automated sync waits for a newer commit, or: capstan app release-hold ${app.metadata.name}`
  );
}

/** `sync Succeeded at 0123456789ab, 2m ago, took 3.4s: 3 created, 1 configured` */
export function operationText(operation: Operation | undefined, now: number): string {
  if (!operation) return 'none';
  const at = operation.revision ? ` at ${shortRevision(operation.revision)}` : '';
  const when = operation.startedAt ? `, started ${age(operation.startedAt, now)} ago` : '';
  const took =
    operation.finishedAt === undefined ? '' : `, took ${elapsed(operation.startedAt, operation.finishedAt)}`;
  const message = operation.message ? `: ${operation.message}` : '';
  return `${operation.type} ${operation.phase}${at}${when}${took}${message}`;
}

/** RESOURCE, SYNC, HEALTH, MESSAGE (wide: VERSION too). */
export function resourcesTable(
  resources: readonly ResourceStatus[],
  options: { wide?: boolean } = {},
): string {
  const wide = options.wide === true;
  const rows = resources.map((r) => [
    formatId({ group: r.group, kind: r.kind, namespace: r.namespace ?? '', name: r.name }),
    ...(wide ? [r.group === '' ? (r.version ?? NONE) : `${r.group}/${r.version ?? NONE}`] : []),
    cell(r.syncStatus),
    cell(r.health?.status),
    cell([r.message, r.health?.message].filter(Boolean).join('; ')),
  ]);
  return table(['RESOURCE', ...(wide ? ['VERSION'] : []), 'SYNC', 'HEALTH', 'MESSAGE'], rows);
}

function conditionsTable(app: Application, now: number): string {
  const generation = app.metadata.generation;
  const rows = (app.status?.conditions ?? []).map((c) => [
    c.type,
    c.status,
    c.reason,
    age(c.lastTransitionTime, now),
    cell(c.message) +
      (generation !== undefined && c.observedGeneration !== undefined && c.observedGeneration < generation
        ? ` (for generation ${c.observedGeneration}, now ${generation})`
        : ''),
  ]);
  return table(['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'], rows);
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n') + '\n';

/** A human summary of one Application: source, destination, policy, state, conditions, resources. */
export function describeApplication(app: Application, options: { now: number; wide?: boolean }): string {
  const { now } = options;
  const wide = options.wide === true;
  const spec = resolveSpec(app);
  const revision = (r: string | undefined) => (wide ? (r ?? NONE) : shortRevision(r));
  const source = app.spec.source;
  const status = app.status;
  const fields: [string, string][] = [
    ['Name', app.metadata.name],
    ['Namespace', app.metadata.namespace ?? NONE],
    [
      'Created',
      app.metadata.creationTimestamp
        ? `${app.metadata.creationTimestamp} (${age(app.metadata.creationTimestamp, now)} ago)`
        : NONE,
    ],
    ['Source', source.repoURL],
    ['  Revision', spec.source.targetRevision],
    spec.source.chart === undefined ? ['  Path', spec.source.path] : ['  Chart', spec.source.chart],
    ['  Type', source.type ?? 'detected'],
    ['Destination', `${spec.destination.cluster}, namespace ${spec.destination.namespace}`],
    ['Sync policy', syncPolicyText(app)],
  ];
  if (spec.suspend) fields.push(['Suspended', 'yes: nothing is fetched, applied or pruned']);
  if (spec.dependsOn.length > 0)
    fields.push(['Depends on', spec.dependsOn.map((d) => `${d.namespace}/${d.name}`).join(', ')]);
  if (app.metadata.deletionTimestamp)
    fields.push([
      'Deleting',
      `since ${app.metadata.deletionTimestamp}; waiting for finalizers: ${(app.metadata.finalizers ?? []).join(', ') || NONE}`,
    ]);
  const sync = status?.sync;
  fields.push([
    'Sync',
    sync
      ? `${sync.status}${sync.revision ? ` at ${revision(sync.revision)}` : ''}${wide && sync.digest ? ` (digest ${sync.digest})` : ''}`
      : unreportedSync(status?.conditions ?? []),
  ]);
  fields.push([
    'Health',
    status?.health
      ? `${status.health.status}${status.health.message ? `: ${status.health.message}` : ''}`
      : NONE,
  ]);
  fields.push(['Last operation', operationText(status?.operation, now)]);
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  const lines = fields.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`);
  const parts = [lines.join('\n') + '\n', holdLine(app, now) + '\n'];
  const conditions = status?.conditions ?? [];
  parts.push(
    conditions.length > 0 ? `Conditions:\n${indent(conditionsTable(app, now))}` : 'Conditions: none\n',
  );
  const resources = status?.resources ?? [];
  parts.push(
    resources.length > 0
      ? `Resources (${resources.length}):\n${indent(resourcesTable(resources, { wide }))}`
      : 'Resources: none\n',
  );
  return parts.join('\n');
}

// ── history ────────────────────────────────────────────────────────────────────────────────────

/** ID, REVISION, RESULT, STARTED, DURATION, AUTHOR, MESSAGE, oldest first; then the hold line. */
export function historyTable(app: Application, options: { now: number; wide?: boolean }): string {
  const history = [...(app.status?.history ?? [])].sort((a, b) => a.id - b.id);
  const body =
    history.length === 0
      ? `No syncs recorded for application '${app.metadata.name}' yet.\n`
      : table(
          ['ID', 'REVISION', 'RESULT', 'STARTED', 'DURATION', 'AUTHOR', 'MESSAGE'],
          history.map((e) => [
            String(e.id),
            options.wide === true ? e.revision : shortRevision(e.revision),
            e.result,
            e.startedAt.replace(/\.\d+(?=Z$)/, ''),
            elapsed(e.startedAt, e.finishedAt),
            cell(e.author),
            cell(e.message),
          ]),
        );
  return `${body}\n${holdLine(app, options.now)}\n`;
}

/** The history as `-o json|yaml` print it. */
export function historyDocument(app: Application): unknown {
  return {
    name: app.metadata.name,
    namespace: app.metadata.namespace,
    hold: app.status?.hold ?? null,
    history: [...(app.status?.history ?? [])].sort((a, b) => a.id - b.id),
  };
}

// ── requests ───────────────────────────────────────────────────────────────────────────────────

/** What `sync`, `rollback` and `refresh` print once the agent has handled the request. */
export function requestResult(
  app: Application,
  what: 'sync' | 'rollback' | 'refresh' | 'release-hold',
  options: { now: number; target?: HistoryEntry | string },
): string {
  const name = app.metadata.name;
  const operation = app.status?.operation;
  const resources = app.status?.resources ?? [];
  const head =
    (what === 'sync' || what === 'rollback') && resources.length > 0 ? resourcesTable(resources) + '\n' : '';
  const failed = operation?.phase === 'Failed';
  const at = operation?.revision ? ` at ${shortRevision(operation.revision)}` : '';
  const message = operation?.message ? `: ${operation.message}` : '';
  const took =
    operation?.finishedAt === undefined ? '' : ` (${elapsed(operation.startedAt, operation.finishedAt)})`;
  let verdict: string;
  switch (what) {
    case 'sync': {
      // A sync of a selection (its history entry names the resources): the application's status follows.
      const selected = app.status?.history?.at(-1)?.resources;
      const what = selected ? `${selected.length} selected resource(s) of application '${name}'` : undefined;
      const status = app.status?.sync?.status ?? 'Unknown';
      verdict = failed
        ? `Sync of ${what ?? `application '${name}'`} failed${at}${message}${took}`
        : what
          ? `Synced ${what}${at}${message}${took}; the application is ${status}`
          : `Synced application '${name}'${at}${message}${took}`;
      break;
    }
    case 'rollback': {
      const target = options.target;
      const to =
        target === undefined
          ? at
          : typeof target === 'string'
            ? ` to ${shortRevision(target)}`
            : ` to ${shortRevision(target.revision)} (history ${target.id})`;
      verdict = failed
        ? `Rollback of application '${name}'${to} failed${message}${took}`
        : `Rolled back application '${name}'${to}${message}${took}`;
      break;
    }
    case 'refresh': {
      const sync = app.status?.sync;
      verdict = failed
        ? `Refresh of application '${name}' failed${message}`
        : `Refreshed application '${name}': ${sync ? `${sync.status}${sync.revision ? ` at ${shortRevision(sync.revision)}` : ''}` : 'sync status not reported'}`;
      break;
    }
    case 'release-hold':
      verdict = app.status?.hold
        ? `Application '${name}' still holds on ${shortRevision(app.status.hold.revision)}`
        : `Released the hold of application '${name}': automated sync follows ${app.spec.source.targetRevision ?? DEFAULTS.targetRevision} again`;
      break;
  }
  const hold = what === 'rollback' || what === 'release-hold' ? `${holdLine(app, options.now)}\n` : '';
  return `${head}${verdict}\n${hold}`;
}

// ── diff ───────────────────────────────────────────────────────────────────────────────────────

export interface DiffInput {
  readonly application: string;
  readonly revision?: string | undefined;
  /** Changed objects only (not the unchanged ones). */
  readonly changes: readonly {
    readonly id: ResourceId;
    readonly action: string;
    readonly deferred?: string | undefined;
    readonly unified: string;
  }[];
  /** Owned objects no longer in the desired state. */
  readonly leftBehind: readonly ResourceId[];
  readonly namespacesToCreate: readonly string[];
  /** Whether a sync prunes what was left behind (automated.prune). */
  readonly prune: boolean;
}

/** True when a sync would change something. */
export function hasDifferences(diff: DiffInput): boolean {
  return diff.changes.length + diff.leftBehind.length + diff.namespacesToCreate.length > 0;
}

/** The diff as `capstan diff` prints it: unified diffs, then a RESOURCE/CHANGE summary. */
export function diffText(diff: DiffInput, style: PrintStyle = {}): string {
  const parts = diff.changes.map((c) => colourDiff(c.unified, style));
  for (const ns of diff.namespacesToCreate)
    parts.push(`Namespace/${ns}: would be created (CreateNamespace)\n`);
  for (const id of diff.leftBehind)
    parts.push(
      `${formatId(id)}: no longer in the desired state (${diff.prune ? 'pruned by the next sync, if still owned' : 'left in place: automated prune is off'})\n`,
    );
  if (parts.length === 0) return 'No differences.\n';
  const summary = table(
    ['RESOURCE', 'CHANGE'],
    [
      ...diff.namespacesToCreate.map((ns) => [`Namespace/${ns}`, 'create']),
      ...diff.changes.map((c) => [formatId(c.id), c.action]),
      ...diff.leftBehind.map((id) => [formatId(id), diff.prune ? 'prune' : 'left behind']),
    ],
  );
  return `${parts.join('\n')}\n${summary}`;
}

/** The diff as `-o json|yaml` print it (the shape of `capstan diff -o json`). */
export function diffDocument(diff: DiffInput): unknown {
  return {
    application: diff.application,
    ...(diff.revision === undefined ? {} : { revision: diff.revision }),
    changes: diff.changes.map((c) => ({
      resource: formatId(c.id),
      action: c.action,
      ...(c.deferred ? { note: c.deferred } : {}),
      diff: c.unified,
    })),
    leftBehind: diff.leftBehind.map((id) => formatId(id)),
    namespacesToCreate: diff.namespacesToCreate,
  };
}

/**
 * What to say when the agent reported no sync status, consistent with its conditions: a stalled or not
 * ready Application was looked at (and why it was not compared is in its condition); only without any
 * condition may the agent not be running.
 */
export function unreportedSync(
  conditions: readonly { type: string; status: string; reason?: string }[],
): string {
  const on = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  const stalled = on('Stalled');
  if (stalled) return `not compared: the agent stalled it (${stalled.reason ?? 'Stalled'}; see Conditions)`;
  if (on('Reconciling')) return 'not reported yet: the agent is reconciling it';
  const notReady = conditions.find((c) => c.type === 'Ready' && c.status === 'False');
  if (notReady) return `not compared: not ready (${notReady.reason ?? 'NotReady'}; see Conditions)`;
  return conditions.length > 0 ? 'not reported yet' : 'not reported yet (is the agent running?)';
}
