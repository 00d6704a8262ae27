/**
 * One parse job answered as a value (the objects, or the error's code, message and subject): what the
 * parse worker posts back, and what the pool gives for a small file it parses in its own thread.
 */
import { CapstanError, messageOf } from '../../core/errors.ts';
import { parseManifests } from '../../core/manifest.ts';
import type { ParseAnswer, ParseJob } from './parse-pool.ts';

export function answerParse(job: ParseJob): ParseAnswer {
  try {
    return { id: job.id, objects: parseManifests(job.text, job.file, job.limits) };
  } catch (error) {
    const known = error instanceof CapstanError;
    return {
      id: job.id,
      error: {
        code: known ? error.code : 'RENDER_PARSE',
        message: known ? error.message : `${job.file}: ${messageOf(error)}`,
        subject: known ? error.subject : job.file,
        retryable: known ? error.retryable : false,
      },
    };
  }
}
