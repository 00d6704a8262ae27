import { parseArgs } from 'node:util';
import type { AuditEntryInfo } from '../../contracts/server-api.ts';
import { readLogin, ServerClient } from '../server-client.ts';
import { EXIT, parseOutput, print, table, UsageError } from '../output.ts';

export const AUDIT_HELP = `Usage: capstan audit [filters] [-o table|json|yaml]

The audit trail of the capstan server you are logged in to (capstan login): who did what, when, to
what, and how it ended; newest first. A global admin sees every entry; a project's admins its own
(give --project).

Filters:
  --actor NAME         a user, or token:<id>
  --action ACTION      an action (application.sync, login, token.create) or a prefix ending in . (application.)
  --target TARGET      Application/namespace/name, User/name, Token/id
  --project NAME
  --result RESULT      success, failure or denied
  --since TIME         ISO 8601 (2026-01-31T00:00:00Z)
  --until TIME
  --limit N            entries (default 100; up to 1000; --all for every page)
  --all                follow every page
  -o, --output FMT     table, json or yaml
`;

const FILTERS = ['actor', 'action', 'target', 'project', 'result', 'since', 'until'] as const;

export async function audit(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      actor: { type: 'string' },
      action: { type: 'string' },
      target: { type: 'string' },
      project: { type: 'string' },
      result: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(AUDIT_HELP);
    return EXIT.ok;
  }
  const format = parseOutput(values.output);
  const stored = await readLogin();
  if (!stored)
    throw new UsageError('capstan audit reads the server’s audit trail: log in first (capstan login SERVER)');
  const client = new ServerClient(stored);
  const query: Record<string, string> = { limit: values.limit ?? '100' };
  for (const key of FILTERS) {
    const value = values[key];
    if (value !== undefined) query[key] = value;
  }
  const entries: AuditEntryInfo[] = [];
  for (;;) {
    const page = await client.audit(query);
    entries.push(...page.items);
    if (values.all !== true || page.next === undefined) break;
    query['cursor'] = page.next;
  }
  print(format, entries, () =>
    table(
      ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'RESULT', 'DETAILS'],
      entries.map((e) => [
        e.time,
        e.actor.name,
        e.action,
        e.target,
        e.result,
        [
          e.reason,
          e.changes === undefined
            ? undefined
            : Object.entries(e.changes)
                .map(([k, v]) => `${k}=${String(v)}`)
                .join(' '),
        ]
          .filter((x) => x !== undefined && x !== '')
          .join('; ')
          .slice(0, 120),
      ]),
    ),
  );
  return EXIT.ok;
}
