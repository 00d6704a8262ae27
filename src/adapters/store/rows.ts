// Reading the Store's rows back into records: one definition for SQLite and PostgreSQL, whose tables
// have the same columns (their drivers hand a row over as an object keyed by column name).
import { CapstanError, messageOf } from '../../core/errors.ts';
import { runPhaseMayMove } from '../../core/run-phase.ts';
import type {
  AuditEntry,
  PromotionRecord,
  RunRecord,
  SessionProvider,
  SessionProviderMatch,
  SessionRecord,
  RunRecordPhase,
  RunUpdate,
  SessionSignOn,
  TokenRecord,
  TokenRole,
} from '../../ports/store.ts';

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

/** Whether an update of a run applies: its phase as the caller read it (`expect`), and never backwards. */
export function runUpdateApplies(
  current: RunRecord,
  change: RunUpdate,
  expect: readonly RunRecordPhase[] | undefined,
): boolean {
  if (expect !== undefined && !expect.includes(current.phase)) return false;
  return change.phase === undefined || runPhaseMayMove(current.phase, change.phase);
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

/**
 * The columns of a session's single sign-on state (migration 4 in SQLite, 3 in PostgreSQL; the
 * refresh's mark, 6 and 5), then of the provider's names for it (6 and 5).
 */
export const SIGN_ON_COLUMNS = [
  'sso_refresh_token',
  'sso_subject',
  'sso_refresh_after',
  'sso_expires_at',
  'sso_refreshing_until',
] as const;
export const PROVIDER_COLUMNS = ['oidc_subject', 'oidc_sid'] as const;

/** The values of SIGN_ON_COLUMNS, in order (nulls without a sign-on). */
export const signOnValues = (signOn: SessionSignOn | undefined): (string | null)[] =>
  signOn === undefined
    ? [null, null, null, null, null]
    : [
        signOn.refreshToken,
        signOn.subject,
        signOn.refreshAfter,
        signOn.idTokenExpiresAt,
        signOn.refreshingUntil ?? null,
      ];

/** The values of PROVIDER_COLUMNS, in order. */
export const providerValues = (provider: SessionProvider | undefined): (string | null)[] => [
  provider?.subject ?? null,
  provider?.sid ?? null,
];

/** A session row's single sign-on state, as an object field to spread (none when the columns are null). */
export function signOnOf(row: Row): { signOn?: SessionSignOn; provider?: SessionProvider } {
  const provider = optionalText(row, 'oidc_subject');
  const sid = optionalText(row, 'oidc_sid');
  const named =
    provider === undefined ? {} : { provider: { subject: provider, ...(sid === undefined ? {} : { sid }) } };
  if (row['sso_refresh_token'] === null || row['sso_refresh_token'] === undefined) return named;
  const refreshing = optionalText(row, 'sso_refreshing_until');
  return {
    signOn: {
      refreshToken: text(row, 'sso_refresh_token'),
      subject: text(row, 'sso_subject'),
      refreshAfter: text(row, 'sso_refresh_after'),
      idTokenExpiresAt: text(row, 'sso_expires_at'),
      ...(refreshing === undefined ? {} : { refreshingUntil: refreshing }),
    },
    ...named,
  };
}

/** A session row as a record (`user` is `user_name` in PostgreSQL, where `user` is a keyword). */
export function sessionOf(row: Row, userColumn: 'user' | 'user_name'): SessionRecord {
  return {
    digest: text(row, 'digest'),
    user: text(row, userColumn),
    groups: JSON.parse(text(row, 'groups_json')) as string[],
    admin: row['admin'] === 1 || row['admin'] === true,
    csrf: text(row, 'csrf'),
    createdAt: text(row, 'created_at'),
    expiresAt: text(row, 'expires_at'),
    ...signOnOf(row),
  };
}

/** The WHERE clause of the sessions a back-channel logout names; undefined when it names none. */
export function providerWhere(
  match: SessionProviderMatch,
  placeholder: (n: number) => string,
): { where: string | undefined; values: string[] } {
  const clauses: string[] = [];
  const values: string[] = [];
  for (const [column, value] of [
    ['oidc_subject', match.subject],
    ['oidc_sid', match.sid],
  ] as const)
    if (value !== undefined) {
      values.push(value);
      clauses.push(`${column} = ${placeholder(values.length)}`);
    }
  return { where: clauses.length === 0 ? undefined : clauses.join(' AND '), values };
}

const optionalText = (row: Row, column: string): string | undefined => {
  const value = row[column];
  return typeof value === 'string' ? value : undefined;
};

export function parsePromotion(json: string): PromotionRecord {
  try {
    return JSON.parse(json) as PromotionRecord;
  } catch (error) {
    throw new CapstanError('STORE_CORRUPT', `a promotion record is not JSON: ${messageOf(error)}`, {
      cause: error,
    });
  }
}
