/**
 * The worker thread of parse-pool.ts: parses manifests (core/manifest.ts) off the agent's event loop,
 * one job at a time, and answers with the objects or the error's code, message and subject.
 */
import { parentPort } from 'node:worker_threads';
import { answerParse } from './parse-answer.ts';
import type { ParseJob } from './parse-pool.ts';

parentPort?.on('message', (job: ParseJob) => {
  parentPort?.postMessage(answerParse(job));
});
