/**
 * How `capstan pipeline` shows Pipelines and runs: kubectl-style tables (`-o wide`: more columns), a
 * description of one Pipeline or run, and log lines `[step] text`. The documents of `-o json|yaml`
 * are the API's answers as they are.
 */
import type { PipelineInfo, RunView } from '../contracts/server-api.ts';
import type { RunLogLine } from '../ports/store.ts';
import { age, elapsed, shortRevision } from './app-printer.ts';
import { table } from './output.ts';

const NONE = '-';
const cell = (text: string | undefined): string =>
  text === undefined || text === '' ? NONE : text.replace(/\s+/g, ' ');

export interface TableOptions {
  readonly now: number;
  readonly wide: boolean;
  readonly allNamespaces: boolean;
}

export function pipelineTable(pipelines: readonly PipelineInfo[], options: TableOptions): string {
  const headers = [
    ...(options.allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    'PROJECT',
    'LAST RUN',
    'PHASE',
    'REVISION',
    'AGE',
    ...(options.wide ? ['REPOSITORY', 'FILE', 'POLL'] : []),
  ];
  const rows = pipelines.map((p) => [
    ...(options.allNamespaces ? [p.namespace] : []),
    p.name,
    p.project,
    cell(p.lastRun?.id),
    p.suspend ? `${p.lastRun?.phase ?? NONE} (suspended)` : cell(p.lastRun?.phase),
    shortRevision(p.lastRun?.revision),
    age(p.lastRun?.queuedAt, options.now),
    ...(options.wide ? [p.repoURL, p.file, cell(p.pollInterval)] : []),
  ]);
  return table(headers, rows);
}

export function runTable(runs: readonly RunView[], options: TableOptions): string {
  const headers = [
    ...(options.allNamespaces ? ['NAMESPACE'] : []),
    'RUN',
    'PIPELINE',
    'PHASE',
    'TRIGGER',
    'REF',
    'REVISION',
    'AGE',
    'DURATION',
    ...(options.wide ? ['BY', 'REASON', 'MESSAGE'] : []),
  ];
  const rows = runs.map((r) => [
    ...(options.allNamespaces ? [r.namespace] : []),
    r.id,
    r.pipeline,
    r.phase,
    r.trigger,
    refOf(r),
    shortRevision(r.revision),
    age(r.queuedAt, options.now),
    elapsed(r.startedAt, r.finishedAt),
    ...(options.wide ? [r.triggeredBy, cell(r.reason), cell(r.commitMessage)] : []),
  ]);
  return table(headers, rows);
}

const refOf = (run: RunView): string => (run.tag === undefined ? cell(run.branch) : `tag ${run.tag}`);

export function describePipeline(pipeline: PipelineInfo, now: number): string {
  const lines = [
    `Name:             ${pipeline.name}`,
    `Namespace:        ${pipeline.namespace}`,
    `Project:          ${pipeline.project}`,
    `Repository:       ${pipeline.repoURL}`,
    `File:             ${pipeline.file}`,
    `Service account:  ${pipeline.serviceAccountName}`,
    `Poll:             ${pipeline.pollInterval ?? 'webhooks only'}`,
    `Suspended:        ${pipeline.suspend ? 'yes: no new runs start' : 'no'}`,
  ];
  const run = pipeline.lastRun;
  lines.push(
    run === undefined
      ? 'Last run:         none'
      : `Last run:         ${run.id} ${run.phase} (${run.trigger} of ${shortRevision(run.revision)}, ${age(run.queuedAt, now)} ago)`,
  );
  return `${lines.join('\n')}\n`;
}

export function describeRun(run: RunView, now: number): string {
  const lines = [
    `Run:         ${run.id}`,
    `Pipeline:    ${run.namespace}/${run.pipeline} (project ${run.project})`,
    `Phase:       ${run.phase}${run.reason === undefined ? '' : ` (${run.reason})`}`,
    `Commit:      ${run.revision} ${refOf(run)}`,
    `Author:      ${cell(run.author)}`,
    `Message:     ${cell(run.commitMessage)}`,
    `Trigger:     ${run.trigger} by ${run.triggeredBy}${run.rerunOf === undefined ? '' : `, re-run of ${run.rerunOf}`}`,
    `Queued:      ${run.queuedAt} (${age(run.queuedAt, now)} ago)`,
    `Duration:    ${elapsed(run.startedAt, run.finishedAt)}`,
    ...(run.statusMessage === undefined ? [] : [`Status:      ${run.statusMessage}`]),
    ...(run.cancelledBy === undefined ? [] : [`Cancelled by: ${run.cancelledBy}`]),
    'Steps:',
    table(
      ['  STEP', 'PHASE', 'EXIT', 'DURATION', 'REASON'],
      run.steps.map((s) => [
        `  ${s.name}`,
        s.phase,
        s.exitCode === undefined ? NONE : String(s.exitCode),
        elapsed(s.startedAt, s.finishedAt),
        cell(s.reason),
      ]),
    ).trimEnd(),
    ...(run.images.length === 0
      ? []
      : [
          'Images:',
          ...run.images.map((i) => `  ${i.step}: ${i.reference} (tags: ${i.tags.join(', ') || NONE})`),
        ]),
  ];
  return `${lines.join('\n')}\n`;
}

/** A log line as the terminal shows it: `[step] text`. */
export const logLine = (line: RunLogLine): string => `[${line.step}] ${line.line}\n`;
