// The server's tidy of its Store: audit entries past the retention and expired sessions go, at start
// and daily (docs/server.md, "audit retention").
import { messageOf } from '../core/errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { Store } from '../ports/store.ts';

const DAY_MS = 86_400_000;

/** One tidy at `now`: deletes audit entries older than `retentionDays` and sessions expired; says how many. */
export async function tidyStore(
  store: Pick<Store, 'audit' | 'sessions'>,
  retentionDays: number,
  now: Date,
): Promise<{ auditEntries: number; sessions: number }> {
  const auditEntries = await store.audit.prune(
    new Date(now.getTime() - retentionDays * DAY_MS).toISOString(),
  );
  const sessions = await store.sessions.deleteExpired(now.toISOString());
  return { auditEntries, sessions };
}

/** Tidies now, then daily; logs what went, and a failing store as a warning. Returns the daily timer. */
export function keepTidy(store: Store, retentionDays: number, log: Logger): NodeJS.Timeout {
  const tidy = async () => {
    try {
      const { auditEntries, sessions } = await tidyStore(store, retentionDays, new Date());
      if (auditEntries + sessions > 0) log({ level: 'info', msg: 'store tidied', auditEntries, sessions });
    } catch (error) {
      log({ level: 'warn', msg: 'store tidy failed', error: messageOf(error) });
    }
  };
  void tidy();
  const timer = setInterval(() => void tidy(), DAY_MS);
  timer.unref();
  return timer;
}
