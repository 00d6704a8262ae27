import type { LogLine } from '../ports/logger.ts';

/** The Logger of the agent and the server: a JSON line on stdout per log line, with its time. */
export function jsonLog(line: LogLine): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
}
