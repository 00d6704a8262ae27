/**
 * The Store port on embedded SQLite, through Node's built-in `node:sqlite` (no native build). One file
 * (or `:memory:`), WAL journal, schema versions applied in order by `migrate` and recorded in
 * `schema_migrations`, so an older database is brought up to date at open and a newer one is refused.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { CapstanError, messageOf } from '../../core/errors.ts';
import { Filters, SQLITE_PLACEHOLDER } from './filters.ts';
import {
  auditEntryOf,
  escapeLike,
  parsePromotion,
  parseRun,
  PROVIDER_COLUMNS,
  providerValues,
  providerWhere,
  sessionOf,
  runUpdateApplies,
  SIGN_ON_COLUMNS,
  signOnValues,
  text,
  tokenOf,
  type Row,
} from './rows.ts';
import type {
  AuditEntry,
  AuditEntryInput,
  AuditLog,
  AuditQuery,
  LocalUser,
  PromotionQuery,
  PromotionRecord,
  PromotionState,
  PromotionStore,
  PromotionUpdate,
  RunLogLine,
  RunQuery,
  RunRecord,
  RunRecordPhase,
  RunStore,
  RunUpdate,
  SessionProviderMatch,
  SessionRecord,
  SessionRefresh,
  SessionStore,
  Store,
  TokenRecord,
  TokenStore,
  UserStore,
} from '../../ports/store.ts';

/** Schema versions, in order; an entry is never edited once released, a change is a new entry. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     time TEXT NOT NULL,
     actor_kind TEXT NOT NULL,
     actor_name TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     project TEXT,
     result TEXT NOT NULL,
     reason TEXT,
     changes TEXT
   );
   CREATE INDEX audit_time ON audit (time);
   CREATE INDEX audit_target ON audit (target);
   CREATE TABLE users (
     name TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     admin INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE sessions (
     digest TEXT PRIMARY KEY,
     user TEXT NOT NULL,
     groups_json TEXT NOT NULL,
     admin INTEGER NOT NULL,
     csrf TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL
   );
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     digest TEXT NOT NULL,
     project TEXT NOT NULL,
     role TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     revoked_at TEXT
   );`,
  // Pipeline runs and their logs (docs/pipelines.md): records, not cluster objects.
  `CREATE TABLE runs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     namespace TEXT NOT NULL,
     pipeline TEXT NOT NULL,
     phase TEXT NOT NULL,
     branch TEXT,
     revision TEXT NOT NULL,
     queued_at TEXT NOT NULL,
     finished_at TEXT,
     record TEXT NOT NULL
   );
   CREATE INDEX runs_by_pipeline ON runs (namespace, pipeline, seq);
   CREATE TABLE run_logs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     step TEXT NOT NULL,
     time TEXT NOT NULL,
     line TEXT NOT NULL
   );
   CREATE INDEX run_logs_by_run ON run_logs (run_id, seq);`,
  // An audit entry that several server replicas see (the agent's syncs) is written once, by its key.
  `ALTER TABLE audit ADD COLUMN dedupe_key TEXT;
   CREATE UNIQUE INDEX audit_dedupe_key ON audit (dedupe_key);`,
  // A single sign-on session's refresh token (sealed) and when to use it.
  `ALTER TABLE sessions ADD COLUMN sso_refresh_token TEXT;
   ALTER TABLE sessions ADD COLUMN sso_subject TEXT;
   ALTER TABLE sessions ADD COLUMN sso_refresh_after TEXT;
   ALTER TABLE sessions ADD COLUMN sso_expires_at TEXT;`,
  // Promotions (docs/promotions.md): the record as JSON, the columns queries filter on beside it.
  `CREATE TABLE promotions (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     namespace TEXT NOT NULL,
     environment TEXT NOT NULL,
     state TEXT NOT NULL,
     from_run TEXT,
     from_promotion TEXT,
     record TEXT NOT NULL
   );
   CREATE INDEX promotions_by_environment ON promotions (namespace, environment, seq);`,
  // A refresh running (every replica waits for its groups); the provider's sub and sid of a single
  // sign-on session, and the back-channel logout tokens spent (their jti, against replays).
  `ALTER TABLE sessions ADD COLUMN sso_refreshing_until TEXT;
   ALTER TABLE sessions ADD COLUMN oidc_subject TEXT;
   ALTER TABLE sessions ADD COLUMN oidc_sid TEXT;
   CREATE INDEX sessions_by_oidc_subject ON sessions (oidc_subject);
   CREATE INDEX sessions_by_oidc_sid ON sessions (oidc_sid);
   CREATE TABLE logout_tokens (
     jti TEXT PRIMARY KEY,
     expires_at TEXT NOT NULL
   );`,
];

export interface SqliteStoreOptions {
  /** A file path (its folder is created), or `:memory:`. */
  readonly path: string;
}

/** Opens (and migrates) the database; STORE_UNAVAILABLE when it cannot be opened or is newer than this code. */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  let db: DatabaseSync;
  try {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    db = new DatabaseSync(options.path);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
    migrate(db);
  } catch (error) {
    if (error instanceof CapstanError) throw error;
    throw unavailable(`open ${options.path}`, error);
  }
  return new SqliteStore(db);
}

/** Applies the migrations the database has not seen, each in a transaction with its version row. */
export function migrate(db: DatabaseSync): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  const current = row.v ?? 0;
  if (current > MIGRATIONS.length)
    throw new CapstanError(
      'STORE_SCHEMA_NEWER',
      `the database has schema version ${current}, newer than this Capstan knows (${MIGRATIONS.length}): run a newer capstan server`,
    );
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[version - 1] ?? '');
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
        version,
        new Date().toISOString(),
      );
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
}

function unavailable(what: string, error: unknown): CapstanError {
  return new CapstanError('STORE_UNAVAILABLE', `the store failed to ${what}: ${messageOf(error)}`, {
    retryable: true,
    cause: error,
  });
}

class SqliteStore implements Store {
  readonly promotions: PromotionStore;
  readonly runs: RunStore;
  readonly audit: AuditLog;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly tokens: TokenStore;
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const run = <T>(what: string, fn: () => T): Promise<T> => {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(unavailable(what, error));
      }
    };
    this.promotions = new SqlitePromotions(db, run);
    this.runs = new SqliteRuns(db, run);
    this.audit = new SqliteAuditLog(db, run);
    this.users = new SqliteUsers(db, run);
    this.sessions = new SqliteSessions(db, run);
    this.tokens = new SqliteTokens(db, run);
  }

  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}

type Runner = <T>(what: string, fn: () => T) => Promise<T>;

/** One part of the store: the database and the runner that turns its errors into STORE_UNAVAILABLE. */
class Table {
  protected readonly db: DatabaseSync;
  protected readonly run: Runner;

  constructor(db: DatabaseSync, run: Runner) {
    this.db = db;
    this.run = run;
  }
}

class SqliteAuditLog extends Table implements AuditLog {
  append(input: AuditEntryInput): Promise<AuditEntry> {
    return this.run('write an audit entry', () => {
      const { key, ...entry } = input;
      if (key !== undefined) {
        const row = this.db.prepare('SELECT * FROM audit WHERE dedupe_key = ?').get(key) as Row | undefined;
        if (row) return auditEntryOf(row);
      }
      const result = this.db
        .prepare(
          `INSERT INTO audit (time, actor_kind, actor_name, action, target, project, result, reason, changes, dedupe_key)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          entry.time,
          entry.actor.kind,
          entry.actor.name,
          entry.action,
          entry.target,
          entry.project ?? null,
          entry.result,
          entry.reason ?? null,
          entry.changes === undefined ? null : JSON.stringify(entry.changes),
          key ?? null,
        );
      return { ...entry, id: Number(result.lastInsertRowid) };
    });
  }

  recordedKeys(keys: readonly string[]): Promise<Set<string>> {
    return this.run('read audit keys', () => {
      const found = new Set<string>();
      for (let i = 0; i < keys.length; i += 500) {
        const part = keys.slice(i, i + 500);
        const sql = `SELECT dedupe_key FROM audit WHERE dedupe_key IN (${part.map(() => '?').join(', ')})`;
        for (const row of this.db.prepare(sql).all(...part) as { dedupe_key: string }[])
          found.add(row.dedupe_key);
      }
      return found;
    });
  }

  query(query: AuditQuery): Promise<AuditEntry[]> {
    return this.run('query the audit trail', () => {
      const filters = new Filters<SQLInputValue>(SQLITE_PLACEHOLDER);
      filters.add('actor_name = ?', query.actor);
      if (query.action?.endsWith('.') === true)
        filters.add("action LIKE ? ESCAPE '\\'", `${escapeLike(query.action)}%`);
      else filters.add('action = ?', query.action);
      filters.add('target = ?', query.target);
      filters.add('project = ?', query.project);
      filters.add('result = ?', query.result);
      filters.add('time >= ?', query.since);
      filters.add('time <= ?', query.until);
      filters.add('id < ?', query.beforeId);
      const sql = `SELECT * FROM audit ${filters.where} ORDER BY id DESC LIMIT ${filters.next(query.limit)}`;
      return (this.db.prepare(sql).all(...filters.params) as Row[]).map(auditEntryOf);
    });
  }

  prune(before: string): Promise<number> {
    return this.run('prune the audit trail', () =>
      Number(this.db.prepare('DELETE FROM audit WHERE time < ?').run(before).changes),
    );
  }
}

class SqliteUsers extends Table implements UserStore {
  get(name: string): Promise<LocalUser | undefined> {
    return this.run('read a user', () => {
      const row = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as Row | undefined;
      if (!row) return undefined;
      return {
        name: text(row, 'name'),
        passwordHash: text(row, 'password_hash'),
        admin: row['admin'] === 1,
        createdAt: text(row, 'created_at'),
      };
    });
  }

  put(user: LocalUser): Promise<void> {
    return this.run('write a user', () => {
      this.db
        .prepare(
          `INSERT INTO users (name, password_hash, admin, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, admin = excluded.admin`,
        )
        .run(user.name, user.passwordHash, user.admin ? 1 : 0, user.createdAt);
    });
  }

  create(user: LocalUser): Promise<boolean> {
    return this.run('create a user', () => {
      const result = this.db
        .prepare(
          `INSERT INTO users (name, password_hash, admin, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (name) DO NOTHING`,
        )
        .run(user.name, user.passwordHash, user.admin ? 1 : 0, user.createdAt);
      return Number(result.changes) > 0;
    });
  }
}

class SqliteSessions extends Table implements SessionStore {
  create(session: SessionRecord): Promise<void> {
    return this.run('write a session', () => {
      this.db
        .prepare(
          `INSERT INTO sessions (digest, user, groups_json, admin, csrf, created_at, expires_at,
             ${[...SIGN_ON_COLUMNS, ...PROVIDER_COLUMNS].join(', ')})
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          session.digest,
          session.user,
          JSON.stringify(session.groups),
          session.admin ? 1 : 0,
          session.csrf,
          session.createdAt,
          session.expiresAt,
          ...signOnValues(session.signOn),
          ...providerValues(session.provider),
        );
    });
  }

  get(digest: string): Promise<SessionRecord | undefined> {
    return this.run('read a session', () => {
      const row = this.db.prepare('SELECT * FROM sessions WHERE digest = ?').get(digest) as Row | undefined;
      return row === undefined ? undefined : sessionOf(row, 'user');
    });
  }

  delete(digest: string): Promise<void> {
    return this.run('delete a session', () => {
      this.db.prepare('DELETE FROM sessions WHERE digest = ?').run(digest);
    });
  }

  claimRefresh(digest: string, from: string, to: string): Promise<boolean> {
    return this.run('claim a session refresh', () => {
      const result = this.db
        .prepare(
          `UPDATE sessions SET sso_refresh_after = ?, sso_refreshing_until = ?
           WHERE digest = ? AND sso_refresh_after = ?`,
        )
        .run(to, to, digest, from);
      return Number(result.changes) > 0;
    });
  }

  releaseRefresh(digest: string, claimedUntil: string, refreshAfter: string): Promise<boolean> {
    return this.run('release a session refresh', () => {
      const result = this.db
        .prepare(
          `UPDATE sessions SET sso_refresh_after = ?, sso_refreshing_until = NULL
           WHERE digest = ? AND sso_refreshing_until = ?`,
        )
        .run(refreshAfter, digest, claimedUntil);
      return Number(result.changes) > 0;
    });
  }

  endSignedOn(match: SessionProviderMatch): Promise<SessionRecord[]> {
    return this.run('end single sign-on sessions', () => {
      const { where, values } = providerWhere(match, () => '?');
      if (where === undefined) return [];
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const rows = this.db.prepare(`SELECT * FROM sessions WHERE ${where}`).all(...values) as Row[];
        this.db.prepare(`DELETE FROM sessions WHERE ${where}`).run(...values);
        this.db.exec('COMMIT');
        return rows.map((row) => sessionOf(row, 'user'));
      } catch (error) {
        this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  spendLogoutToken(jti: string, expiresAt: string): Promise<boolean> {
    return this.run('record a logout token', () => {
      const result = this.db
        .prepare('INSERT INTO logout_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING')
        .run(jti, expiresAt);
      return Number(result.changes) > 0;
    });
  }

  refreshed(digest: string, from: string, change: SessionRefresh): Promise<boolean> {
    return this.run('record a session refresh', () => {
      const result = this.db
        .prepare(
          `UPDATE sessions SET groups_json = ?, admin = ?,
             ${SIGN_ON_COLUMNS.map((c) => `${c} = ?`).join(', ')}
           WHERE digest = ? AND sso_refresh_token = ?`,
        )
        .run(
          JSON.stringify(change.groups),
          change.admin ? 1 : 0,
          ...signOnValues(change.signOn),
          digest,
          from,
        );
      return Number(result.changes) > 0;
    });
  }

  deleteExpired(now: string): Promise<number> {
    return this.run('delete expired sessions', () => {
      this.db.prepare('DELETE FROM logout_tokens WHERE expires_at <= ?').run(now);
      return Number(this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now).changes);
    });
  }
}

class SqliteTokens extends Table implements TokenStore {
  create(token: TokenRecord): Promise<void> {
    return this.run('write a token', () => {
      this.db
        .prepare(
          `INSERT INTO tokens (id, name, digest, project, role, created_by, created_at, expires_at, revoked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          token.id,
          token.name,
          token.digest,
          token.project,
          token.role,
          token.createdBy,
          token.createdAt,
          token.expiresAt,
          token.revokedAt ?? null,
        );
    });
  }

  get(id: string): Promise<TokenRecord | undefined> {
    return this.run('read a token', () => {
      const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as Row | undefined;
      return row && tokenOf(row);
    });
  }

  list(): Promise<TokenRecord[]> {
    return this.run('list tokens', () =>
      (this.db.prepare('SELECT * FROM tokens ORDER BY created_at DESC, id').all() as Row[]).map(tokenOf),
    );
  }

  revoke(id: string, at: string): Promise<boolean> {
    return this.run('revoke a token', () => {
      const result = this.db
        .prepare('UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?')
        .run(at, id);
      return Number(result.changes) > 0;
    });
  }
}

/** Runs: the record as JSON, with the columns queries filter on beside it; log lines in their own table. */
class SqliteRuns extends Table implements RunStore {
  create(record: RunRecord): Promise<void> {
    return this.run('record a run', () => {
      this.db
        .prepare(
          `INSERT INTO runs (id, namespace, pipeline, phase, branch, revision, queued_at, finished_at, record)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.id,
          record.namespace,
          record.pipeline,
          record.phase,
          record.branch ?? null,
          record.revision,
          record.queuedAt,
          record.finishedAt ?? null,
          JSON.stringify(record),
        );
    });
  }

  /** Read, check the phase, merge and write in one synchronous step: nothing runs in between. */
  update(id: string, change: RunUpdate, expect?: readonly RunRecordPhase[]): Promise<RunRecord | undefined> {
    return this.run('update a run', () => {
      const current = this.#read(id);
      if (current === undefined || !runUpdateApplies(current, change, expect)) return undefined;
      const next: RunRecord = { ...current, ...change };
      this.db
        .prepare('UPDATE runs SET phase = ?, finished_at = ?, record = ? WHERE id = ?')
        .run(next.phase, next.finishedAt ?? null, JSON.stringify(next), id);
      return next;
    });
  }

  get(id: string): Promise<RunRecord | undefined> {
    return this.run('read a run', () => this.#read(id));
  }

  list(query: RunQuery): Promise<RunRecord[]> {
    return this.run('list runs', () => {
      const filters = new Filters<SQLInputValue>(SQLITE_PLACEHOLDER);
      filters.add('namespace = ?', query.namespace);
      filters.add('pipeline = ?', query.pipeline);
      filters.add('phase = ?', query.phase);
      filters.add('branch = ?', query.branch);
      filters.add('revision = ?', query.revision);
      filters.add('seq < (SELECT seq FROM runs WHERE id = ?)', query.before);
      const limit = Math.min(Math.max(Math.trunc(query.limit), 1), 1000);
      const rows = this.db
        .prepare(`SELECT record FROM runs ${filters.where} ORDER BY seq DESC LIMIT ${filters.next(limit)}`)
        .all(...filters.params) as Row[];
      return rows.map((row) => parseRun(text(row, 'record')));
    });
  }

  appendLogs(id: string, lines: readonly Omit<RunLogLine, 'seq'>[]): Promise<void> {
    return this.run('append run logs', () => {
      const insert = this.db.prepare('INSERT INTO run_logs (run_id, step, time, line) VALUES (?, ?, ?, ?)');
      this.db.exec('BEGIN');
      try {
        for (const line of lines) insert.run(id, line.step, line.time, line.line);
        this.db.exec('COMMIT');
      } catch (error) {
        this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  logs(
    id: string,
    query: { readonly afterSeq?: number; readonly step?: string; readonly limit: number },
  ): Promise<RunLogLine[]> {
    return this.run('read run logs', () => {
      const limit = Math.min(Math.max(Math.trunc(query.limit), 1), 100_000);
      const rows = this.db
        .prepare(
          `SELECT seq, step, time, line FROM run_logs WHERE run_id = ? AND seq > ?
           ${query.step === undefined ? '' : 'AND step = ?'} ORDER BY seq LIMIT ?`,
        )
        .all(
          ...([
            id,
            query.afterSeq ?? 0,
            ...(query.step === undefined ? [] : [query.step]),
            limit,
          ] as SQLInputValue[]),
        ) as Row[];
      return rows.map((row) => ({
        seq: Number(row['seq']),
        step: text(row, 'step'),
        time: text(row, 'time'),
        line: text(row, 'line'),
      }));
    });
  }

  prune(before: string): Promise<number> {
    return this.run('prune runs', () => {
      const old = 'SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?';
      this.db.prepare(`DELETE FROM run_logs WHERE run_id IN (${old})`).run(before);
      return Number(
        this.db.prepare('DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?').run(before)
          .changes,
      );
    });
  }

  #read(id: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT record FROM runs WHERE id = ?').get(id) as Row | undefined;
    return row === undefined ? undefined : parseRun(text(row, 'record'));
  }
}

const FINAL_STATES = "('Rejected', 'Verified', 'Failed')";

/** Promotions: the record as JSON, with the columns queries filter on beside it. */
class SqlitePromotions extends Table implements PromotionStore {
  create(record: PromotionRecord): Promise<void> {
    return this.run('record a promotion', () => {
      this.db
        .prepare(
          `INSERT INTO promotions (id, namespace, environment, state, from_run, from_promotion, record)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.id,
          record.namespace,
          record.environment,
          record.state,
          record.fromRun ?? null,
          record.fromPromotion ?? null,
          JSON.stringify(record),
        );
    });
  }

  update(id: string, expect: PromotionState, change: PromotionUpdate): Promise<PromotionRecord | undefined> {
    return this.run('update a promotion', () => {
      const current = this.#read(id);
      if (current?.state !== expect) return undefined;
      // JSON drops a field the change sets to undefined (healthySince cleared).
      const next = parsePromotion(JSON.stringify({ ...current, ...change }));
      const result = this.db
        .prepare('UPDATE promotions SET state = ?, record = ? WHERE id = ? AND state = ?')
        .run(next.state, JSON.stringify(next), id, expect);
      return Number(result.changes) === 1 ? next : undefined;
    });
  }

  get(id: string): Promise<PromotionRecord | undefined> {
    return this.run('read a promotion', () => this.#read(id));
  }

  list(query: PromotionQuery): Promise<PromotionRecord[]> {
    return this.run('list promotions', () => {
      const filters = new Filters<SQLInputValue>(SQLITE_PLACEHOLDER);
      filters.add('namespace = ?', query.namespace);
      filters.add('environment = ?', query.environment);
      filters.add('state = ?', query.state);
      filters.add('from_run = ?', query.fromRun);
      filters.add('from_promotion = ?', query.fromPromotion);
      if (query.active === true) filters.always(`state NOT IN ${FINAL_STATES}`);
      if (query.active === false) filters.always(`state IN ${FINAL_STATES}`);
      filters.add('seq < (SELECT seq FROM promotions WHERE id = ?)', query.before);
      const limit = Math.min(Math.max(Math.trunc(query.limit), 1), 1000);
      const rows = this.db
        .prepare(
          `SELECT record FROM promotions ${filters.where} ORDER BY seq DESC LIMIT ${filters.next(limit)}`,
        )
        .all(...filters.params) as Row[];
      return rows.map((row) => parsePromotion(text(row, 'record')));
    });
  }

  #read(id: string): PromotionRecord | undefined {
    const row = this.db.prepare('SELECT record FROM promotions WHERE id = ?').get(id) as Row | undefined;
    return row === undefined ? undefined : parsePromotion(text(row, 'record'));
  }
}
