/**
 * A pull request from a fork runs without secrets (as GitHub Actions runs one): its code and its
 * pipeline file were written by someone who may not push to the repository. So its run has no step
 * that names a Secret, no image step (they push with the Pipeline's registry credentials) and no cache
 * (a save would be restored by later runs of the repository's own branches). Those steps are recorded
 * Skipped, reason SecretsWithheld, with why; the other steps run as usual.
 */
import type { PipelineFile } from '../contracts/pipeline-file.ts';
import type { StepState } from '../core/run-steps.ts';

export const SECRETS_WITHHELD = 'SecretsWithheld';

export interface ForkPlan {
  /** The file as the fork's run runs it: only the steps that need no secret, no caches. */
  readonly file: PipelineFile;
  /** The steps left out, Skipped with the reason. */
  readonly withheld: readonly StepState[];
}

/** The run of a fork's pull request: the steps it may run, and those it may not. */
export function forkPlan(file: PipelineFile): ForkPlan {
  const withheld: StepState[] = [];
  const steps = file.steps.filter((step) => {
    const why =
      step.build !== undefined
        ? 'it builds and pushes an image with the Pipeline’s registry credentials'
        : (step.secrets?.length ?? 0) > 0
          ? `it names the Secret ${(step.secrets ?? []).map((s) => `${s.secret}/${s.key}`).join(', ')}`
          : undefined;
    if (why === undefined) return true;
    withheld.push({
      name: step.name,
      phase: 'Skipped',
      reason: SECRETS_WITHHELD,
      message: `skipped: a pull request from a fork runs without secrets, and ${why}`,
    });
    return false;
  });
  const { caches: _caches, ...rest } = file;
  return {
    file: { ...rest, steps: steps.map(({ caches: _named, ...step }) => step) },
    withheld,
  };
}

/** The Pod's steps with the withheld ones put back in their place (`order`: every step's name). */
export function withWithheld(
  steps: readonly StepState[],
  withheld: readonly StepState[],
  order: readonly string[],
): StepState[] {
  if (withheld.length === 0) return [...steps];
  const all = new Map([...steps, ...withheld].map((s) => [s.name, s]));
  const ordered = order.flatMap((name) => {
    const step = all.get(name);
    return step === undefined ? [] : [step];
  });
  // The Pod's own containers past the steps (the cache save) keep their place at the end.
  return [...ordered, ...steps.filter((s) => !order.includes(s.name))];
}
