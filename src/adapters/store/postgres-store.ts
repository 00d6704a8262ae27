/**
 * The Store port on PostgreSQL, through the npm `pg` client, for several server replicas sharing one
 * database: sessions, tokens and the audit trail written by one replica are read by the others. Schema
 * versions are applied in order by `migratePostgres`, recorded in `schema_migrations`, under an
 * advisory lock so replicas starting together migrate once; a database newer than this code is refused.
 *
 * The connection string may hold a password: it is never logged nor put in an error (`describeStoreUrl`
 * gives the printable form). Times are ISO 8601 text in columns of the "C" collation, so they compare
 * and sort as the SQLite adapter's do, whatever the database's locale.
 */
import { Pool, type PoolClient } from 'pg';
import { Filters, POSTGRES_PLACEHOLDER } from './filters.ts';
import { CapstanError, messageOf } from '../../core/errors.ts';
import {
  auditEntryOf,
  escapeLike,
  parsePromotion,
  parseRun,
  runUpdateApplies,
  SIGN_ON_COLUMNS,
  PROVIDER_COLUMNS,
  providerValues,
  providerWhere,
  sessionOf,
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
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE audit (
     id BIGSERIAL PRIMARY KEY,
     time TEXT COLLATE "C" NOT NULL,
     actor_kind TEXT NOT NULL,
     actor_name TEXT NOT NULL,
     action TEXT COLLATE "C" NOT NULL,
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
     admin BOOLEAN NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE sessions (
     digest TEXT PRIMARY KEY,
     user_name TEXT NOT NULL,
     groups_json TEXT NOT NULL,
     admin BOOLEAN NOT NULL,
     csrf TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT COLLATE "C" NOT NULL
   );
   CREATE TABLE tokens (
     id TEXT COLLATE "C" PRIMARY KEY,
     name TEXT NOT NULL,
     digest TEXT NOT NULL,
     project TEXT NOT NULL,
     role TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at TEXT COLLATE "C" NOT NULL,
     expires_at TEXT NOT NULL,
     revoked_at TEXT
   );
   CREATE TABLE runs (
     seq BIGSERIAL PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     namespace TEXT NOT NULL,
     pipeline TEXT NOT NULL,
     phase TEXT NOT NULL,
     branch TEXT,
     revision TEXT NOT NULL,
     queued_at TEXT COLLATE "C" NOT NULL,
     finished_at TEXT COLLATE "C",
     record TEXT NOT NULL
   );
   CREATE INDEX runs_by_pipeline ON runs (namespace, pipeline, seq);
   CREATE TABLE run_logs (
     seq BIGSERIAL PRIMARY KEY,
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
  `ALTER TABLE sessions ADD COLUMN sso_refresh_token TEXT,
     ADD COLUMN sso_subject TEXT,
     ADD COLUMN sso_refresh_after TEXT,
     ADD COLUMN sso_expires_at TEXT;`,
  // Promotions (docs/promotions.md): the record as JSON, the columns queries filter on beside it.
  `CREATE TABLE promotions (
     seq BIGSERIAL PRIMARY KEY,
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
  `ALTER TABLE sessions ADD COLUMN sso_refreshing_until TEXT,
     ADD COLUMN oidc_subject TEXT,
     ADD COLUMN oidc_sid TEXT;
   CREATE INDEX sessions_by_oidc_subject ON sessions (oidc_subject);
   CREATE INDEX sessions_by_oidc_sid ON sessions (oidc_sid);
   CREATE TABLE logout_tokens (
     jti TEXT PRIMARY KEY,
     expires_at TEXT COLLATE "C" NOT NULL
   );`,
];

/** The advisory lock the migrations run under (any constant the replicas agree on). */
const MIGRATION_LOCK = 0x43617073; // "Caps"

export interface PostgresStoreOptions {
  /** `postgres://user[:password]@host[:port]/database[?sslmode=…]`; the password may come from PGPASSWORD instead. */
  readonly url: string;
  /** Connections kept open. Default 10. */
  readonly maxConnections?: number;
  /** A connection attempt gives up after this long. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** A statement gives up after this long. Default 15000 ms. */
  readonly statementTimeoutMs?: number;
}

/** The URL without its password, for logs and errors. */
export function describeStoreUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(an address that does not parse)';
  }
}

/** True for the URLs this adapter takes. */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/** Connects and migrates; STORE_UNAVAILABLE when the database cannot be reached, STORE_SCHEMA_NEWER when it is ahead. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const pool = new Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    statement_timeout: options.statementTimeoutMs ?? 15_000,
    application_name: 'capstan-server',
  });
  // An idle connection that breaks (the database restarted) must not end the process; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    await migratePostgres(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof CapstanError) throw error;
    throw unavailable(`open ${describeStoreUrl(options.url)}`, error);
  }
  return new PostgresStore(pool);
}

/** Applies the migrations the database has not seen, in one transaction under the migration lock. */
export async function migratePostgres(pool: Pool): Promise<void> {
  await transaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
    );
    const { rows } = await client.query<{ v: number | null }>(
      'SELECT MAX(version) AS v FROM schema_migrations',
    );
    const current = rows[0]?.v ?? 0;
    if (current > POSTGRES_MIGRATIONS.length)
      throw new CapstanError(
        'STORE_SCHEMA_NEWER',
        `the database has schema version ${current}, newer than this Capstan knows (${POSTGRES_MIGRATIONS.length}): run a newer capstan server`,
      );
    for (let version = current + 1; version <= POSTGRES_MIGRATIONS.length; version++) {
      await client.query(POSTGRES_MIGRATIONS[version - 1] ?? '');
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
        version,
        new Date().toISOString(),
      ]);
    }
  });
}

/** Runs `fn` in a transaction on one connection: committed when it returns, rolled back when it throws. */
async function transaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

function unavailable(what: string, error: unknown): CapstanError {
  return new CapstanError('STORE_UNAVAILABLE', `the store failed to ${what}: ${messageOf(error)}`, {
    retryable: true,
    cause: error,
  });
}

class PostgresStore implements Store {
  readonly promotions: PromotionStore;
  readonly runs: RunStore;
  readonly audit: AuditLog;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly tokens: TokenStore;
  readonly #pool: Pool;
  #closed = false;

  constructor(pool: Pool) {
    this.#pool = pool;
    this.promotions = new PostgresPromotions(pool);
    this.runs = new PostgresRuns(pool);
    this.audit = new PostgresAuditLog(pool);
    this.users = new PostgresUsers(pool);
    this.sessions = new PostgresSessions(pool);
    this.tokens = new PostgresTokens(pool);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/** One part of the store: queries on the pool, their failures turned into STORE_UNAVAILABLE. */
class Table {
  protected readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  protected async rows(what: string, sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>(sql, [...params])).rows;
    } catch (error) {
      throw unavailable(what, error);
    }
  }

  protected async count(what: string, sql: string, params: readonly unknown[]): Promise<number> {
    try {
      return (await this.pool.query(sql, [...params])).rowCount ?? 0;
    } catch (error) {
      throw unavailable(what, error);
    }
  }

  protected async inTransaction<T>(what: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    try {
      return await transaction(this.pool, fn);
    } catch (error) {
      if (error instanceof CapstanError) throw error;
      throw unavailable(what, error);
    }
  }
}

class PostgresAuditLog extends Table implements AuditLog {
  /** With a key: inserted unless the key is there already; then the entry that has it is returned. */
  async append(input: AuditEntryInput): Promise<AuditEntry> {
    const { key, ...entry } = input;
    const rows = await this.rows(
      'write an audit entry',
      `INSERT INTO audit (time, actor_kind, actor_name, action, target, project, result, reason, changes, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
      [
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
      ],
    );
    const inserted = rows[0];
    if (inserted !== undefined) return { ...entry, id: Number(inserted['id']) };
    const [first] = await this.rows('read an audit entry', 'SELECT * FROM audit WHERE dedupe_key = $1', [
      key,
    ]);
    if (first === undefined)
      throw new CapstanError(
        'STORE_CORRUPT',
        `audit entry with key ${String(key)} neither written nor found`,
      );
    return auditEntryOf(first);
  }

  async recordedKeys(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.rows(
      'read audit keys',
      'SELECT dedupe_key FROM audit WHERE dedupe_key = ANY($1::text[])',
      [[...keys]],
    );
    return new Set(rows.map((row) => String(row['dedupe_key'])));
  }

  async query(query: AuditQuery): Promise<AuditEntry[]> {
    const filters = new Filters<unknown>(POSTGRES_PLACEHOLDER);
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
    const limit = filters.next(query.limit);
    const rows = await this.rows(
      'query the audit trail',
      `SELECT * FROM audit ${filters.where} ORDER BY id DESC LIMIT ${limit}`,
      filters.params,
    );
    return rows.map(auditEntryOf);
  }

  prune(before: string): Promise<number> {
    return this.count('prune the audit trail', 'DELETE FROM audit WHERE time < $1', [before]);
  }
}

class PostgresUsers extends Table implements UserStore {
  async get(name: string): Promise<LocalUser | undefined> {
    const [row] = await this.rows('read a user', 'SELECT * FROM users WHERE name = $1', [name]);
    if (!row) return undefined;
    return {
      name: text(row, 'name'),
      passwordHash: text(row, 'password_hash'),
      admin: row['admin'] === true,
      createdAt: text(row, 'created_at'),
    };
  }

  async put(user: LocalUser): Promise<void> {
    await this.rows(
      'write a user',
      `INSERT INTO users (name, password_hash, admin, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, admin = excluded.admin`,
      [user.name, user.passwordHash, user.admin, user.createdAt],
    );
  }

  async create(user: LocalUser): Promise<boolean> {
    const created = await this.count(
      'create a user',
      `INSERT INTO users (name, password_hash, admin, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING`,
      [user.name, user.passwordHash, user.admin, user.createdAt],
    );
    return created > 0;
  }
}

class PostgresSessions extends Table implements SessionStore {
  async create(session: SessionRecord): Promise<void> {
    await this.rows(
      'write a session',
      `INSERT INTO sessions (digest, user_name, groups_json, admin, csrf, created_at, expires_at,
         ${[...SIGN_ON_COLUMNS, ...PROVIDER_COLUMNS].join(', ')})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        session.digest,
        session.user,
        JSON.stringify(session.groups),
        session.admin,
        session.csrf,
        session.createdAt,
        session.expiresAt,
        ...signOnValues(session.signOn),
        ...providerValues(session.provider),
      ],
    );
  }

  async get(digest: string): Promise<SessionRecord | undefined> {
    const [row] = await this.rows('read a session', 'SELECT * FROM sessions WHERE digest = $1', [digest]);
    return row === undefined ? undefined : sessionOf(row, 'user_name');
  }

  async delete(digest: string): Promise<void> {
    await this.rows('delete a session', 'DELETE FROM sessions WHERE digest = $1', [digest]);
  }

  async claimRefresh(digest: string, from: string, to: string): Promise<boolean> {
    const claimed = await this.count(
      'claim a session refresh',
      `UPDATE sessions SET sso_refresh_after = $1, sso_refreshing_until = $1
       WHERE digest = $2 AND sso_refresh_after = $3`,
      [to, digest, from],
    );
    return claimed > 0;
  }

  async releaseRefresh(digest: string, claimedUntil: string, refreshAfter: string): Promise<boolean> {
    const released = await this.count(
      'release a session refresh',
      `UPDATE sessions SET sso_refresh_after = $1, sso_refreshing_until = NULL
       WHERE digest = $2 AND sso_refreshing_until = $3`,
      [refreshAfter, digest, claimedUntil],
    );
    return released > 0;
  }

  async refreshed(digest: string, from: string, change: SessionRefresh): Promise<boolean> {
    const first = 3;
    const changed = await this.count(
      'record a session refresh',
      `UPDATE sessions SET groups_json = $1, admin = $2,
         ${SIGN_ON_COLUMNS.map((c, i) => `${c} = $${i + first}`).join(', ')}
       WHERE digest = $${SIGN_ON_COLUMNS.length + first} AND sso_refresh_token = $${SIGN_ON_COLUMNS.length + first + 1}`,
      [JSON.stringify(change.groups), change.admin, ...signOnValues(change.signOn), digest, from],
    );
    return changed > 0;
  }

  async endSignedOn(match: SessionProviderMatch): Promise<SessionRecord[]> {
    const { where, values } = providerWhere(match, (n) => `$${n}`);
    if (where === undefined) return [];
    const rows = await this.rows(
      'end single sign-on sessions',
      `DELETE FROM sessions WHERE ${where} RETURNING *`,
      values,
    );
    return rows.map((row) => sessionOf(row, 'user_name'));
  }

  async spendLogoutToken(jti: string, expiresAt: string): Promise<boolean> {
    const spent = await this.count(
      'record a logout token',
      'INSERT INTO logout_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING',
      [jti, expiresAt],
    );
    return spent > 0;
  }

  async deleteExpired(now: string): Promise<number> {
    await this.count('delete spent logout tokens', 'DELETE FROM logout_tokens WHERE expires_at <= $1', [now]);
    return this.count('delete expired sessions', 'DELETE FROM sessions WHERE expires_at <= $1', [now]);
  }
}

class PostgresTokens extends Table implements TokenStore {
  async create(token: TokenRecord): Promise<void> {
    await this.rows(
      'write a token',
      `INSERT INTO tokens (id, name, digest, project, role, created_by, created_at, expires_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        token.id,
        token.name,
        token.digest,
        token.project,
        token.role,
        token.createdBy,
        token.createdAt,
        token.expiresAt,
        token.revokedAt ?? null,
      ],
    );
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const [row] = await this.rows('read a token', 'SELECT * FROM tokens WHERE id = $1', [id]);
    return row && tokenOf(row);
  }

  async list(): Promise<TokenRecord[]> {
    return (await this.rows('list tokens', 'SELECT * FROM tokens ORDER BY created_at DESC, id')).map(tokenOf);
  }

  async revoke(id: string, at: string): Promise<boolean> {
    const changed = await this.count(
      'revoke a token',
      'UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2',
      [at, id],
    );
    return changed > 0;
  }
}

const LOG_BATCH = 1000;

/** Runs: the record as JSON, with the columns queries filter on beside it; log lines in their own table. */
class PostgresRuns extends Table implements RunStore {
  async create(record: RunRecord): Promise<void> {
    await this.rows(
      'record a run',
      `INSERT INTO runs (id, namespace, pipeline, phase, branch, revision, queued_at, finished_at, record)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        record.id,
        record.namespace,
        record.pipeline,
        record.phase,
        record.branch ?? null,
        record.revision,
        record.queuedAt,
        record.finishedAt ?? null,
        JSON.stringify(record),
      ],
    );
  }

  /**
   * Read, check the phase, merge and write under a row lock: two replicas (or two writes of one
   * driver on two connections) updating one run neither lose a change nor take it back a phase.
   */
  update(id: string, change: RunUpdate, expect?: readonly RunRecordPhase[]): Promise<RunRecord | undefined> {
    return this.inTransaction('update a run', async (client) => {
      const { rows } = await client.query('SELECT record FROM runs WHERE id = $1 FOR UPDATE', [id]);
      const row = rows[0] as Row | undefined;
      if (row === undefined) return undefined;
      const current = parseRun(text(row, 'record'));
      if (!runUpdateApplies(current, change, expect)) return undefined;
      const next: RunRecord = { ...current, ...change };
      await client.query('UPDATE runs SET phase = $1, finished_at = $2, record = $3 WHERE id = $4', [
        next.phase,
        next.finishedAt ?? null,
        JSON.stringify(next),
        id,
      ]);
      return next;
    });
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const [row] = await this.rows('read a run', 'SELECT record FROM runs WHERE id = $1', [id]);
    return row === undefined ? undefined : parseRun(text(row, 'record'));
  }

  async list(query: RunQuery): Promise<RunRecord[]> {
    const filters = new Filters<unknown>(POSTGRES_PLACEHOLDER);
    filters.add('namespace = ?', query.namespace);
    filters.add('pipeline = ?', query.pipeline);
    filters.add('phase = ?', query.phase);
    filters.add('branch = ?', query.branch);
    filters.add('revision = ?', query.revision);
    filters.add('seq < (SELECT seq FROM runs WHERE id = ?)', query.before);
    const limit = filters.next(Math.min(Math.max(Math.trunc(query.limit), 1), 1000));
    const rows = await this.rows(
      'list runs',
      `SELECT record FROM runs ${filters.where} ORDER BY seq DESC LIMIT ${limit}`,
      filters.params,
    );
    return rows.map((row) => parseRun(text(row, 'record')));
  }

  /** In one transaction, a statement per 1000 lines (PostgreSQL takes at most 65535 parameters). */
  async appendLogs(id: string, lines: readonly Omit<RunLogLine, 'seq'>[]): Promise<void> {
    if (lines.length === 0) return;
    await this.inTransaction('append run logs', async (client) => {
      for (let start = 0; start < lines.length; start += LOG_BATCH) {
        const batch = lines.slice(start, start + LOG_BATCH);
        const values = batch.map((_, i) => `($1, $${i * 3 + 2}, $${i * 3 + 3}, $${i * 3 + 4})`);
        await client.query(`INSERT INTO run_logs (run_id, step, time, line) VALUES ${values.join(', ')}`, [
          id,
          ...batch.flatMap((line) => [line.step, line.time, line.line]),
        ]);
      }
    });
  }

  async logs(
    id: string,
    query: { readonly afterSeq?: number; readonly step?: string; readonly limit: number },
  ): Promise<RunLogLine[]> {
    const filters = new Filters<unknown>(POSTGRES_PLACEHOLDER);
    filters.add('run_id = ?', id);
    filters.add('seq > ?', query.afterSeq ?? 0);
    filters.add('step = ?', query.step);
    const limit = filters.next(Math.min(Math.max(Math.trunc(query.limit), 1), 100_000));
    const rows = await this.rows(
      'read run logs',
      `SELECT seq, step, time, line FROM run_logs ${filters.where} ORDER BY seq LIMIT ${limit}`,
      filters.params,
    );
    return rows.map((row) => ({
      seq: Number(row['seq']),
      step: text(row, 'step'),
      time: text(row, 'time'),
      line: text(row, 'line'),
    }));
  }

  /** The logs go with their run (ON DELETE CASCADE). */
  prune(before: string): Promise<number> {
    return this.count('prune runs', 'DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < $1', [
      before,
    ]);
  }
}

const FINAL_STATES = "('Rejected', 'Verified', 'Failed')";

/** Promotions: the record as JSON, the columns queries filter on beside it; updates conditional on the state. */
class PostgresPromotions extends Table implements PromotionStore {
  async create(record: PromotionRecord): Promise<void> {
    await this.rows(
      'record a promotion',
      `INSERT INTO promotions (id, namespace, environment, state, from_run, from_promotion, record)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        record.id,
        record.namespace,
        record.environment,
        record.state,
        record.fromRun ?? null,
        record.fromPromotion ?? null,
        JSON.stringify(record),
      ],
    );
  }

  /** Read, check the state, merge and write under a row lock: two replicas never both move one promotion. */
  update(id: string, expect: PromotionState, change: PromotionUpdate): Promise<PromotionRecord | undefined> {
    return this.inTransaction('update a promotion', async (client) => {
      const { rows } = await client.query('SELECT record FROM promotions WHERE id = $1 FOR UPDATE', [id]);
      const row = rows[0] as Row | undefined;
      if (row === undefined) return undefined;
      const current = parsePromotion(text(row, 'record'));
      if (current.state !== expect) return undefined;
      // JSON drops a field the change sets to undefined (healthySince cleared).
      const next = parsePromotion(JSON.stringify({ ...current, ...change }));
      await client.query('UPDATE promotions SET state = $1, record = $2 WHERE id = $3', [
        next.state,
        JSON.stringify(next),
        id,
      ]);
      return next;
    });
  }

  async get(id: string): Promise<PromotionRecord | undefined> {
    const [row] = await this.rows('read a promotion', 'SELECT record FROM promotions WHERE id = $1', [id]);
    return row === undefined ? undefined : parsePromotion(text(row, 'record'));
  }

  async list(query: PromotionQuery): Promise<PromotionRecord[]> {
    const filters = new Filters<unknown>(POSTGRES_PLACEHOLDER);
    filters.add('namespace = ?', query.namespace);
    filters.add('environment = ?', query.environment);
    filters.add('state = ?', query.state);
    filters.add('from_run = ?', query.fromRun);
    filters.add('from_promotion = ?', query.fromPromotion);
    filters.add('seq < (SELECT seq FROM promotions WHERE id = ?)', query.before);
    if (query.active === true) filters.always(`state NOT IN ${FINAL_STATES}`);
    if (query.active === false) filters.always(`state IN ${FINAL_STATES}`);
    const limit = filters.next(Math.min(Math.max(Math.trunc(query.limit), 1), 1000));
    const rows = await this.rows(
      'list promotions',
      `SELECT record FROM promotions ${filters.where} ORDER BY seq DESC LIMIT ${limit}`,
      filters.params,
    );
    return rows.map((row) => parsePromotion(text(row, 'record')));
  }
}
