/**
 * `capstan pipeline list|runs|get|logs|run|cancel|rerun|approve|revoke` through the capstan server the user is logged
 * in to (capstan login), as `capstan app`'s remote commands: the server checks the user's role in the
 * pipeline's project (pipelines.read to read, pipelines.run to run, cancel and re-run).
 */
import { parseArgs } from 'node:util';
import { CapstanError } from '../../core/errors.ts';
import { PipelineClient } from '../pipeline-client.ts';
import { readLogin, ServerClient } from '../server-client.ts';
import { describePipeline, describeRun, logLine, pipelineTable, runTable } from '../pipeline-printer.ts';
import { EXIT, outputFormat, UsageError } from '../output.ts';
import { output, say } from './app-common.ts';

export const PIPELINE_REMOTE_COMMANDS = [
  'list',
  'runs',
  'get',
  'logs',
  'run',
  'cancel',
  'rerun',
  'approve',
  'revoke',
] as const;
export type PipelineRemoteCommand = (typeof PIPELINE_REMOTE_COMMANDS)[number];
export const isPipelineRemoteCommand = (command: string): command is PipelineRemoteCommand =>
  (PIPELINE_REMOTE_COMMANDS as readonly string[]).includes(command);

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  follow: { type: 'boolean', short: 'f' },
  step: { type: 'string' },
  branch: { type: 'string' },
  tag: { type: 'string' },
  commit: { type: 'string' },
  phase: { type: 'string' },
  limit: { type: 'string' },
  run: { type: 'string' },
} as const;

/** The options each command takes (besides -n, -o). */
const ALLOWED: Record<PipelineRemoteCommand, readonly string[]> = {
  list: ['all-namespaces'],
  runs: ['all-namespaces', 'phase', 'branch', 'limit'],
  get: ['run'],
  logs: ['follow', 'step'],
  run: ['branch', 'tag', 'commit'],
  cancel: [],
  rerun: [],
  approve: [],
  revoke: [],
};

interface Context {
  readonly pipelines: PipelineClient;
  readonly namespace: string;
  readonly allNamespaces: boolean;
  readonly positionals: readonly string[];
  readonly format: ReturnType<typeof outputFormat>;
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
}

export async function runPipelineRemote(
  command: PipelineRemoteCommand,
  argv: readonly string[],
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: OPTIONS,
  });
  for (const key of Object.keys(values))
    if (!['namespace', 'output', ...ALLOWED[command]].includes(key))
      throw new UsageError(`--${key} is not an option of 'capstan pipeline ${command}'`);
  const login = await readLogin();
  if (login === undefined)
    throw new CapstanError(
      'SERVER_UNAUTHENTICATED',
      'capstan pipeline talks to a capstan server: log in first (capstan login SERVER)',
    );
  const ctx: Context = {
    pipelines: new PipelineClient(new ServerClient(login)),
    namespace: values.namespace ?? 'default',
    allNamespaces: values['all-namespaces'] === true,
    positionals,
    format: outputFormat(values.output, { wideAllowed: command === 'list' || command === 'runs' }),
    values,
  };
  return COMMANDS[command](ctx);
}

const COMMANDS: Record<PipelineRemoteCommand, (ctx: Context) => Promise<number>> = {
  list: list,
  runs: runs,
  get: get,
  logs: logs,
  run: requestRun,
  cancel: async (ctx) => {
    const run = await ctx.pipelines.cancel(argument(ctx, 'cancel', 'RUN'));
    output(ctx.format, run, () => `run ${run.id} ${run.phase} (cancelled by ${run.cancelledBy ?? '-'})\n`);
    return EXIT.ok;
  },
  approve: async (ctx) => {
    const run = await ctx.pipelines.approve(argument(ctx, 'approve', 'RUN'));
    const author = run.pullRequest?.author;
    output(
      ctx.format,
      run,
      () =>
        `run ${run.id} approved by ${run.approvedBy ?? '-'}: ${run.phase}${author === undefined ? '' : `; ${author}'s next pull requests run without waiting (capstan pipeline revoke ${run.pipeline} ${author} -n ${run.namespace})`}
`,
    );
    return EXIT.ok;
  },
  revoke: async (ctx) => {
    const [name, login, ...extra] = ctx.positionals;
    if (name === undefined || login === undefined || extra.length > 0)
      throw new UsageError('usage: capstan pipeline revoke NAME AUTHOR [-n NS]');
    const answer = await ctx.pipelines.revoke(ctx.namespace, name, login);
    output(
      ctx.format,
      answer,
      () => `${answer.revoked}'s pull requests from forks wait for approval again (${ctx.namespace}/${name})
`,
    );
    return EXIT.ok;
  },
  rerun: async (ctx) => {
    const run = await ctx.pipelines.rerun(argument(ctx, 'rerun', 'RUN'));
    output(
      ctx.format,
      { rerunOf: run.id, pipeline: `${run.namespace}/${run.pipeline}`, revision: run.revision },
      () =>
        `re-run of ${run.id} requested: ${run.namespace}/${run.pipeline} at ${run.revision.slice(0, 12)} (capstan pipeline runs ${run.pipeline} -n ${run.namespace})\n`,
    );
    return EXIT.ok;
  },
};

/** The one positional argument of a command. */
function argument(ctx: Context, command: string, what: string): string {
  const [value, ...extra] = ctx.positionals;
  if (value === undefined) throw new UsageError(`capstan pipeline ${command} needs the ${what}`);
  if (extra.length > 0)
    throw new UsageError(`too many arguments for capstan pipeline ${command}: ${extra.join(' ')}`);
  return value;
}

async function list(ctx: Context): Promise<number> {
  if (ctx.positionals.length > 0)
    throw new UsageError(`capstan pipeline list takes no arguments: ${ctx.positionals.join(' ')}`);
  const items = await ctx.pipelines.pipelines(ctx.allNamespaces ? undefined : ctx.namespace);
  if (items.length === 0 && (ctx.format === 'table' || ctx.format === 'wide')) {
    say(ctx.allNamespaces ? 'No pipelines found.' : `No pipelines found in namespace ${ctx.namespace}.`);
    return EXIT.ok;
  }
  output(ctx.format, { items }, () =>
    pipelineTable(items, { now: Date.now(), wide: ctx.format === 'wide', allNamespaces: ctx.allNamespaces }),
  );
  return EXIT.ok;
}

async function runs(ctx: Context): Promise<number> {
  const [pipeline, ...extra] = ctx.positionals;
  if (extra.length > 0) throw new UsageError(`capstan pipeline runs takes one PIPELINE at most`);
  const limit = Number(ctx.values['limit'] ?? '20');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError(
      `--limit must be a whole number from 1 to 1000, not '${String(ctx.values['limit'])}'`,
    );
  const phase = ctx.values['phase'];
  const branch = ctx.values['branch'];
  const items = await ctx.pipelines.runs({
    ...(ctx.allNamespaces ? {} : { namespace: ctx.namespace }),
    ...(pipeline === undefined ? {} : { pipeline }),
    ...(typeof phase === 'string' ? { phase } : {}),
    ...(typeof branch === 'string' ? { branch } : {}),
    limit,
  });
  if (items.length === 0 && (ctx.format === 'table' || ctx.format === 'wide')) {
    say('No runs found.');
    return EXIT.ok;
  }
  output(ctx.format, { items }, () =>
    runTable(items, { now: Date.now(), wide: ctx.format === 'wide', allNamespaces: ctx.allNamespaces }),
  );
  return EXIT.ok;
}

async function get(ctx: Context): Promise<number> {
  const id = ctx.values['run'];
  if (typeof id === 'string') {
    if (ctx.positionals.length > 0) throw new UsageError('give a pipeline NAME or --run ID, not both');
    const run = await ctx.pipelines.run(id);
    output(ctx.format, run, () => describeRun(run, Date.now()));
    return EXIT.ok;
  }
  const pipeline = await ctx.pipelines.pipeline(
    ctx.namespace,
    argument(ctx, 'get', 'pipeline NAME (or --run ID)'),
  );
  output(ctx.format, pipeline, () => describePipeline(pipeline, Date.now()));
  return EXIT.ok;
}

/** The lines so far, or (-f) every line as it comes until the run ends: exit 0 when it succeeded, 4 when not. */
async function logs(ctx: Context): Promise<number> {
  const id = argument(ctx, 'logs', 'RUN');
  const step = ctx.values['step'];
  const stepOption = typeof step === 'string' ? { step } : {};
  if (ctx.values['follow'] !== true) {
    const lines = await ctx.pipelines.logs(id, typeof step === 'string' ? step : undefined);
    output(ctx.format, { lines }, () => lines.map(logLine).join(''));
    return EXIT.ok;
  }
  const lines: unknown[] = [];
  const phase = await ctx.pipelines.follow(id, {
    ...stepOption,
    onLine: (line) => {
      if (ctx.format === 'table' || ctx.format === 'wide') process.stdout.write(logLine(line));
      else lines.push(line);
    },
  });
  if (ctx.format === 'json' || ctx.format === 'yaml') output(ctx.format, { lines, phase }, () => '');
  else say(`run ${id} ${phase}`);
  return phase === 'Succeeded' ? EXIT.ok : EXIT.failed;
}

async function requestRun(ctx: Context): Promise<number> {
  const name = argument(ctx, 'run', 'pipeline NAME');
  const branch = ctx.values['branch'];
  const tag = ctx.values['tag'];
  const commit = ctx.values['commit'];
  if (typeof commit === 'string' && !/^[0-9a-f]{40}$/.test(commit))
    throw new UsageError(`--commit must be a full commit (40 hex digits), not '${commit}'`);
  if (typeof branch === 'string' && typeof tag === 'string')
    throw new UsageError('give --branch or --tag, not both');
  const requested = await ctx.pipelines.requestRun(ctx.namespace, name, {
    ...(typeof branch === 'string' ? { branch } : {}),
    ...(typeof tag === 'string' ? { tag } : {}),
    ...(typeof commit === 'string' ? { commit } : {}),
  });
  const what = requested.revision ?? requested.ref ?? 'the default branch';
  output(
    ctx.format,
    requested,
    () =>
      `run of ${requested.pipeline} requested (${what}) by ${requested.by}: see capstan pipeline runs ${name} -n ${ctx.namespace}\n`,
  );
  return EXIT.ok;
}
