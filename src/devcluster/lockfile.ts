import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { pidAlive, processStartTime } from './processes.ts';

/** Who holds a lock file: the process, what it was doing, and since when. */
export interface LockHolder {
  readonly pid: number;
  readonly what?: string;
  readonly since?: string;
  /** The holder's start time (processStartTime): a reused pid is not the holder. */
  readonly startTime?: number;
}

/** True while the process a lock file names runs: alive, and the same process when its start is known. */
function holds(holder: LockHolder): boolean {
  if (!pidAlive(holder.pid)) return false;
  return holder.startTime === undefined || processStartTime(holder.pid) === holder.startTime;
}

/**
 * Takes the lock file at `path` (its folder must exist) for this process, saying `what` it is for;
 * a lock whose process is gone is taken over. Returns the release, or the live holder when another
 * process has it.
 */
export function takeLock(path: string, what: string): { release: () => void } | { heldBy: LockHolder } {
  const take = () => {
    const fd = openSync(path, 'wx');
    try {
      const startTime = processStartTime(process.pid);
      writeSync(fd, JSON.stringify({ pid: process.pid, what, since: new Date().toISOString(), startTime }));
    } finally {
      closeSync(fd);
    }
  };
  try {
    take();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const holder = readHolder(path);
    if (holder && holds(holder)) return { heldBy: holder };
    // A stale lock of a process that is gone: remove it (synchronously, before taking it).
    rmSync(path, { force: true });
    take();
  }
  return {
    release: () => {
      if (readHolder(path)?.pid === process.pid) rmSync(path, { force: true });
    },
  };
}

/** The holder a lock file names: JSON, or a bare process id (the older form). */
export function readHolder(path: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
  if (/^\d+$/.test(text)) return { pid: Number(text) };
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    return typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0
      ? {
          pid: parsed.pid,
          ...(typeof parsed.what === 'string' ? { what: parsed.what } : {}),
          ...(typeof parsed.since === 'string' ? { since: parsed.since } : {}),
          ...(typeof parsed.startTime === 'number' ? { startTime: parsed.startTime } : {}),
        }
      : undefined;
  } catch {
    return undefined;
  }
}
