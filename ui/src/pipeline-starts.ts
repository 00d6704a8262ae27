// What may start a Pipeline's runs, as its resource tells (pure: tested under Node). The pipeline file's
// own triggers (which branches, tags and paths) are read by the driver at each commit, not here.
import type { PipelineInfo } from './types.ts';

export function startsOf(pipeline: Pick<PipelineInfo, 'suspend' | 'pollInterval'>): string[] {
  if (pipeline.suspend) return ['nothing: suspended'];
  return [
    'webhooks',
    ...(pipeline.pollInterval === undefined ? [] : [`polls every ${pipeline.pollInterval}`]),
    'by hand',
  ];
}
