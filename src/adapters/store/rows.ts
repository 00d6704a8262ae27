// Reading the Store's rows back into records: one definition for SQLite and PostgreSQL, whose tables
// have the same columns (their drivers hand a row over as an object keyed by column name).
import { CapstanError, messageOf } from '../../core/errors.ts';
import type { AuditEntry, PromotionRecord, RunRecord, TokenRecord, TokenRole } from '../../ports/store.ts';

export type Row = Readonly<Record<string, unknown>>;

/** A TEXT column's value (a column this schema declares NOT NULL, or checked for null before). */
export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  throw new CapstanError(
    'STORE_CORRUPT',
    `column ${column} holds ${value === null ? 'null' : typeof value}, not text`,
  );
}

/** `value` for a LIKE pattern with `\` as its escape character. */
export const escapeLike = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

export function auditEntryOf(row: Row): AuditEntry {
  return {
    id: Number(row['id']),
    time: text(row, 'time'),
    actor: {
      kind: text(row, 'actor_kind') as AuditEntry['actor']['kind'],
      name: text(row, 'actor_name'),
    },
    action: text(row, 'action'),
    target: text(row, 'target'),
    ...(row['project'] === null ? {} : { project: text(row, 'project') }),
    result: text(row, 'result') as AuditEntry['result'],
    ...(row['reason'] === null ? {} : { reason: text(row, 'reason') }),
    ...(row['changes'] === null
      ? {}
      : { changes: JSON.parse(text(row, 'changes')) as NonNullable<AuditEntry['changes']> }),
  };
}

export function tokenOf(row: Row): TokenRecord {
  return {
    id: text(row, 'id'),
    name: text(row, 'name'),
    digest: text(row, 'digest'),
    project: text(row, 'project'),
    role: text(row, 'role') as TokenRole,
    createdBy: text(row, 'created_by'),
    createdAt: text(row, 'created_at'),
    expiresAt: text(row, 'expires_at'),
    ...(row['revoked_at'] === null ? {} : { revokedAt: text(row, 'revoked_at') }),
  };
}

export function parseRun(json: string): RunRecord {
  try {
    return JSON.parse(json) as RunRecord;
  } catch (error) {
    throw new CapstanError('STORE_CORRUPT', `a run record is not JSON: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

export function parsePromotion(json: string): PromotionRecord {
  try {
    return JSON.parse(json) as PromotionRecord;
  } catch (error) {
    throw new CapstanError('STORE_CORRUPT', `a promotion record is not JSON: ${messageOf(error)}`, {
      cause: error,
    });
  }
}
