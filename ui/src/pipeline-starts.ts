// What may start a Pipeline's runs (pure: tested under Node): as its resource tells (webhooks, polls, by
// hand, suspended), and as its pipeline file's triggers tell (GET …/triggers: the branches, tags and path
// filters of pushes and pull requests, and whether people may start runs) at a branch's head.
import type { PipelineInfo, PipelineTriggers } from './types.ts';

export function startsOf(pipeline: Pick<PipelineInfo, 'suspend' | 'pollInterval'>): string[] {
  if (pipeline.suspend) return ['nothing: suspended'];
  return [
    'webhooks',
    ...(pipeline.pollInterval === undefined ? [] : [`polls every ${pipeline.pollInterval}`]),
    'by hand',
  ];
}

/** One trigger of the file, in words: what starts a run, and its path filters. */
export interface TriggerLine {
  readonly label: 'Pushes' | 'Pull requests' | 'By hand';
  readonly value: string;
}

/** A list of patterns in words; an empty list matches nothing. */
const named = (items: readonly string[]): string =>
  items.length === 0 ? 'none (an empty list)' : items.join(', ');

function pathFilters(trigger: { paths?: readonly string[]; ignorePaths?: readonly string[] }): string[] {
  return [
    ...(trigger.paths === undefined ? [] : [`only when a changed file matches ${named(trigger.paths)}`]),
    ...(trigger.ignorePaths === undefined || trigger.ignorePaths.length === 0
      ? []
      : [`not when every changed file matches ${named(trigger.ignorePaths)}`]),
  ];
}

/** Pushes in words: a list of branches or tags set (even empty) means only those. */
function pushes(push: NonNullable<PipelineTriggers['push']>): string {
  const refs =
    push.branches === undefined && push.tags === undefined
      ? ['to any branch (no tag)']
      : [
          ...(push.branches === undefined ? [] : [`to branches ${named(push.branches)}`]),
          ...(push.tags === undefined ? [] : [`of tags ${named(push.tags)}`]),
        ];
  return [...refs, ...pathFilters(push)].join('; ');
}

/** The file's triggers in words, as the driver applies them (src/core/pipeline-trigger.ts). */
export function triggerLines(triggers: PipelineTriggers): TriggerLine[] {
  const { push, pullRequest } = triggers;
  const pulls =
    pullRequest === undefined
      ? 'none'
      : [
          pullRequest.branches === undefined ? 'to any branch' : `to branches ${named(pullRequest.branches)}`,
          ...pathFilters(pullRequest),
        ].join('; ');
  return [
    { label: 'Pushes', value: push === undefined ? 'none' : pushes(push) },
    { label: 'Pull requests', value: pulls },
    {
      label: 'By hand',
      value: triggers.manual === false ? 'not allowed (triggers.manual: false)' : 'allowed',
    },
  ];
}
