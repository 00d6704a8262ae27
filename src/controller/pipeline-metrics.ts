// The pipeline metrics (runs and steps: counts by result, durations, queue time) on the agent's and the
// server's metrics registry.
import type { PipelineMetrics } from '../pipelines/pipeline-controller.ts';
import type { RunRecord } from '../ports/store.ts';
import type { Registry } from './metrics.ts';

const RUN_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600];
const QUEUE_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 1800];

/** Registers the pipeline metrics (runs and steps: counts by result, durations, queue time). */
export function pipelineMetrics(registry: Registry): PipelineMetrics {
  const runs = registry.counter<{ result: string }>({
    name: 'capstan_pipeline_runs_total',
    help: 'Pipeline runs ended, by result (Succeeded, Failed, Cancelled).',
    labelNames: ['result'],
  });
  const runDuration = registry.histogram<{ result: string }>({
    name: 'capstan_pipeline_run_duration_seconds',
    help: 'Time from a run’s start to its end, by result.',
    labelNames: ['result'],
    buckets: RUN_BUCKETS,
  });
  const queueTime = registry.histogram({
    name: 'capstan_pipeline_run_queue_seconds',
    help: 'Time a run waited in the queue before it started.',
    buckets: QUEUE_BUCKETS,
  });
  const steps = registry.counter<{ result: string }>({
    name: 'capstan_pipeline_steps_total',
    help: 'Steps of ended runs, by result (Succeeded, Failed, Skipped, Pending).',
    labelNames: ['result'],
  });
  const stepDuration = registry.histogram<{ result: string }>({
    name: 'capstan_pipeline_step_duration_seconds',
    help: 'Time a step ran, by result.',
    labelNames: ['result'],
    buckets: RUN_BUCKETS,
  });
  for (const result of ['Succeeded', 'Failed', 'Cancelled']) runs.inc({ result }, 0);
  return {
    runStarted: (run: RunRecord) => {
      const waited = seconds(run.queuedAt, run.startedAt);
      if (waited !== undefined) queueTime.observe(waited);
    },
    runFinished: (run: RunRecord) => {
      runs.inc({ result: run.phase });
      const took = seconds(run.startedAt, run.finishedAt);
      if (took !== undefined) runDuration.observe({ result: run.phase }, took);
      for (const step of run.steps) {
        steps.inc({ result: step.phase });
        const ran = seconds(step.startedAt, step.finishedAt);
        if (ran !== undefined) stepDuration.observe({ result: step.phase }, ran);
      }
    },
  };
}

function seconds(from: string | undefined, to: string | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}
