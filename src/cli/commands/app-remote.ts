/**
 * `capstan app list|get|history|sync|refresh|rollback|release-hold` through a capstan server the user is
 * logged in to (capstan login): the same printers, so the same output as through the cluster with a
 * kubeconfig. The server checks the user's role in the Application's project.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  REQUEST_ANNOTATIONS,
  type Application,
  type HistoryEntry,
  type RequestKind,
} from '../../contracts/application.ts';
import type { ServerClient } from '../server-client.ts';
import {
  describeApplication,
  forOutput,
  historyDocument,
  historyTable,
  listDocument,
  listTable,
  requestResult,
} from '../app-printer.ts';
import { EXIT, table, UsageError, type OutputFormat } from '../output.ts';
import { parseDuration } from './push.ts';
import {
  nameOf,
  output,
  printNothingToRelease,
  printRequested,
  REQUEST_WORDS,
  say,
  selectionOf,
} from './app-common.ts';
import { shortRevision } from '../../core/revision.ts';

export const REMOTE_COMMANDS = [
  'list',
  'get',
  'history',
  'sync',
  'refresh',
  'rollback',
  'release-hold',
] as const;
export type RemoteCommand = (typeof REMOTE_COMMANDS)[number];
export const isRemoteCommand = (command: string): command is RemoteCommand =>
  (REMOTE_COMMANDS as readonly string[]).includes(command);

export interface RemoteContext {
  readonly client: ServerClient;
  readonly namespace: string;
  readonly allNamespaces: boolean;
  readonly positionals: readonly string[];
  readonly format: OutputFormat | 'wide';
  readonly wait: boolean | undefined;
  readonly timeout: string | undefined;
  /** sync: prune in this sync or not (undefined: as the spec). */
  readonly prune?: boolean;
  /** sync: only say what a sync would do. */
  readonly dryRun?: boolean;
  /** sync: the `--resource` arguments, a selection (selectionOf). */
  readonly resources?: readonly string[];
  /** How a request is followed: app.ts's requestState and rollbackTarget, one rule for both paths. */
  readonly requestState: (
    app: Application | undefined,
    kind: RequestKind,
    id: string,
  ) => { state: string; phase?: string };
  readonly rollbackTarget: (
    app: Application,
    wanted: string | undefined,
  ) => { value: string; entry?: HistoryEntry };
}

export async function runRemote(command: RemoteCommand, ctx: RemoteContext): Promise<number> {
  switch (command) {
    case 'list':
      return list(ctx);
    case 'get': {
      const app = await ctx.client.application(ctx.namespace, nameOf(ctx.positionals, 'get'));
      output(ctx.format, forOutput(app), () =>
        describeApplication(app, { now: Date.now(), wide: ctx.format === 'wide' }),
      );
      return EXIT.ok;
    }
    case 'history': {
      const app = await ctx.client.application(ctx.namespace, nameOf(ctx.positionals, 'history'));
      output(ctx.format, historyDocument(app), () => historyTable(app, { now: Date.now() }));
      return EXIT.ok;
    }
    case 'sync':
      return ctx.dryRun === true ? previewSync(ctx) : request(ctx, 'sync');
    case 'refresh':
      return request(ctx, 'refresh');
    case 'rollback':
      return request(ctx, 'rollback');
    case 'release-hold':
      return request(ctx, 'releaseHold');
  }
}

async function list(ctx: RemoteContext): Promise<number> {
  if (ctx.positionals.length > 0)
    throw new UsageError(`capstan app list takes no arguments: ${ctx.positionals.join(' ')}`);
  const apps = await ctx.client.applications(ctx.allNamespaces ? undefined : ctx.namespace);
  if (apps.length === 0 && (ctx.format === 'table' || ctx.format === 'wide')) {
    say(
      ctx.allNamespaces ? 'No applications found.' : `No applications found in namespace ${ctx.namespace}.`,
    );
    return EXIT.ok;
  }
  output(ctx.format, listDocument(apps), () =>
    listTable(apps, { now: Date.now(), wide: ctx.format === 'wide', allNamespaces: ctx.allNamespaces }),
  );
  return EXIT.ok;
}

/** `capstan app sync --dry-run`: the server's preview, as a table of the one sync result's actions. */
async function previewSync(ctx: RemoteContext): Promise<number> {
  const name = nameOf(ctx.positionals, 'sync');
  const selection = ctx.resources
    ? selectionOf(await ctx.client.application(ctx.namespace, name), ctx.resources)
    : undefined;
  const preview = await ctx.client.previewSync(ctx.namespace, name, {
    ...(ctx.prune === undefined ? {} : { prune: ctx.prune }),
    ...(selection ? { resources: selection } : {}),
  });
  output(ctx.format, preview, () =>
    [
      `Dry run of a sync of application '${name}' to ${shortRevision(preview.revision)}: nothing was changed.`,
      table(
        ['RESOURCE', 'ACTION', 'MESSAGE'],
        preview.entries.map((e) => [e.id, e.action, e.message]),
      ),
    ].join('\n'),
  );
  return preview.entries.some((e) => e.action !== 'unchanged') ? EXIT.differences : EXIT.ok;
}

async function request(ctx: RemoteContext, kind: RequestKind): Promise<number> {
  const word = REQUEST_WORDS[kind];
  const name = nameOf(ctx.positionals, word, { extra: kind === 'rollback' ? 1 : 0 });
  const current = await ctx.client.application(ctx.namespace, name);
  let target: HistoryEntry | string | undefined;
  const body: Record<string, unknown> = {
    resourceVersion: current.metadata.resourceVersion,
    ...(kind === 'sync' && ctx.prune !== undefined ? { prune: ctx.prune } : {}),
    ...(kind === 'sync' && ctx.resources ? { resources: selectionOf(current, ctx.resources) } : {}),
  };
  if (kind === 'rollback') {
    const resolved = ctx.rollbackTarget(current, ctx.positionals[1]);
    body['target'] = resolved.value;
    target = resolved.entry ?? resolved.value;
  }
  if (kind === 'releaseHold' && !current.status?.hold) {
    printNothingToRelease(ctx.format, current);
    return EXIT.ok;
  }
  const { value } = await ctx.client.request(ctx.namespace, name, kind, body);
  const annotation = REQUEST_ANNOTATIONS[kind];
  const shouldWait = ctx.wait ?? (kind === 'sync' || kind === 'rollback');
  if (!shouldWait) {
    printRequested(ctx.format, { name, namespace: ctx.namespace, kind, value });
    return EXIT.ok;
  }
  const timeout = ctx.timeout ?? '5m';
  const deadline = Date.now() + parseDuration(timeout);
  say(
    `• requested ${word} of application '${name}' through the server (${annotation}=${value}); waiting for the agent (up to ${timeout})`,
  );
  for (;;) {
    const app = await ctx.client.application(ctx.namespace, name);
    const state = ctx.requestState(app, kind, value);
    if (state.state !== 'pending') {
      output(ctx.format, forOutput(app), () =>
        requestResult(app, word, { now: Date.now(), ...(target === undefined ? {} : { target }) }),
      );
      return state.phase === 'Failed' ? EXIT.failed : EXIT.ok;
    }
    if (Date.now() > deadline) {
      say(
        `capstan: the agent did not finish the ${word} request '${value}' of application '${name}' within ${timeout}. The request stays.`,
      );
      return EXIT.differences;
    }
    await delay(1000);
  }
}
