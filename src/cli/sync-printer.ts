import { formatId } from '../core/resource.ts';
import type { SyncEntry, SyncResult } from '../core/sync-result.ts';
import type { PlanFailure } from '../engine/plan.ts';
import { table } from './output.ts';
import { shortRevision } from '../core/revision.ts';

const COLOURS = { red: 31, green: 32, yellow: 33, cyan: 36, grey: 90 } as const;
type Colour = keyof typeof COLOURS;

/** How a printer writes: in colour (ANSI, for a terminal) or plain. Default: plain. */
export interface PrintStyle {
  readonly colour?: boolean;
}

export function paint(text: string, colour: Colour, style: PrintStyle): string {
  return style.colour === true ? `\u001b[${COLOURS[colour]}m${text}\u001b[0m` : text;
}

const ACTION_COLOUR: Record<SyncEntry['action'], Colour> = {
  created: 'green',
  configured: 'yellow',
  unchanged: 'grey',
  pruned: 'red',
  skipped: 'cyan',
  failed: 'red',
};

/** One progress line per resource, as the sync goes: `configured  Deployment/web/api  changed spec.replicas`. */
export function progressLine(entry: SyncEntry, style: PrintStyle = {}): string {
  const action = (entry.dryRun === true ? `${entry.action} (dry run)` : entry.action).padEnd(11);
  const hook = entry.hook ? ` [${entry.hook} hook]` : '';
  const message = entry.message ? `  ${entry.message}` : '';
  return `  ${paint(action, ACTION_COLOUR[entry.action], style)} ${formatId(entry.id)}${hook}${message}`;
}

/** The summary table printed at the end of a sync. */
export function resultTable(result: SyncResult, style: PrintStyle = {}): string {
  const rows = result.entries.map((e) => [
    formatId(e.id),
    e.action + (e.hook ? ` (${e.hook})` : ''),
    e.health?.status ?? '-',
    [e.message, e.health && e.health.status !== 'Healthy' && e.health.message ? e.health.message : '']
      .filter(Boolean)
      .join('; '),
  ]);
  const head = rows.length > 0 ? table(['RESOURCE', 'ACTION', 'HEALTH', 'MESSAGE'], rows) + '\n' : '';
  const verdict =
    result.phase === 'Succeeded'
      ? paint(
          `${result.dryRun ? 'Dry run of' : 'Synced'} application '${result.application}'`,
          'green',
          style,
        )
      : paint(`Sync of application '${result.application}' failed`, 'red', style);
  const revision = result.revision ? ` at ${shortRevision(result.revision)}` : '';
  const seconds = ((Date.parse(result.finishedAt) - Date.parse(result.startedAt)) / 1000).toFixed(1);
  return `${head}${verdict}${revision}: ${result.message} (${seconds} s)\n`;
}

/** Colours a unified diff for a terminal: additions green, removals red, hunks cyan. */
export function colourDiff(unified: string, style: PrintStyle = {}): string {
  if (style.colour !== true) return unified;
  return unified
    .split('\n')
    .map((line) => {
      if (line.startsWith('+++') || line.startsWith('---')) return paint(line, 'grey', style);
      if (line.startsWith('+')) return paint(line, 'green', style);
      if (line.startsWith('-')) return paint(line, 'red', style);
      if (line.startsWith('@@')) return paint(line, 'cyan', style);
      return line;
    })
    .join('\n');
}

/** One line for an object a sync would delete and re-create: which immutable fields changed. */
export function replaceNote(failure: PlanFailure): string {
  const fields = failure.fields ?? [];
  const what =
    fields.length === 0
      ? 'an immutable field changed'
      : `immutable field${fields.length > 1 ? 's' : ''} ${fields.join(', ')} changed`;
  return `would be replaced: ${what} (a sync with --replace, or the sync option Replace=true, deletes and re-creates it)`;
}
