/**
 * The worker thread of parse-pool.ts: parses manifests (core/manifest.ts) off the agent's event loop,
 * one job at a time, and answers with the objects or the error's code, message and subject.
 */
import { parentPort } from 'node:worker_threads';
import { CapstanError, messageOf } from '../../core/errors.ts';
import { parseManifests } from '../../core/manifest.ts';
import type { ParseAnswer, ParseJob } from './parse-pool.ts';

parentPort?.on('message', (job: ParseJob) => {
  parentPort?.postMessage(answer(job));
});

function answer(job: ParseJob): ParseAnswer {
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
