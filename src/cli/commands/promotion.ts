/**
 * `capstan env list`, `capstan promote ENV --image REF@sha256:…|--from-run ID` and
 * `capstan promotion list|get|approve|reject` through the capstan server the user is logged in to
 * (docs/promotions.md): the server checks the user's role in the environment's project.
 */
import { parseArgs } from 'node:util';
import type { EnvironmentInfo, PromotionView } from '../../contracts/promotion-api.ts';
import { CapstanError } from '../../core/errors.ts';
import { followPromotion } from '../promotion-follow.ts';
import { readLogin, ServerClient } from '../server-client.ts';
import { EXIT, outputFormat, UsageError } from '../output.ts';
import { output, say } from './app-common.ts';

/** A promotion the server does not know is PROMOTION_NOT_FOUND (not the CLI's default, an Application's). */
const PROMOTION = { notFound: 'PROMOTION_NOT_FOUND' } as const;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  image: { type: 'string' },
  'from-run': { type: 'string' },
  environment: { type: 'string' },
  state: { type: 'string' },
  limit: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
  wait: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const PROMOTION_HELP = `Usage:
  capstan env list [-n NAMESPACE | -A] [-o table|json|yaml]
  capstan promote ENV [-n NAMESPACE] (--image NAME@sha256:DIGEST | --from-run RUN) [--wait] [-o …]
  capstan promotion list [-n NAMESPACE | -A] [--environment ENV] [--state STATE] [--limit N] [-o …]
  capstan promotion get ID [-w|--watch] [-o …]
  capstan promotion approve|reject ID [-o …]

Environments and promotions (docs/promotions.md), through the capstan server you logged in to.
--watch (get) and --wait (promote) follow the promotion until it ends, printing each step as it
happens (-o json|yaml: the final record only); exit 0 when it is Verified, 4 when it is Failed or
Rejected (its reason on stderr).
`;

async function client(): Promise<ServerClient> {
  const login = await readLogin();
  if (login === undefined)
    throw new CapstanError(
      'SERVER_UNAUTHENTICATED',
      'capstan env, promote and promotion talk to a capstan server: log in first (capstan login SERVER)',
    );
  return new ServerClient(login);
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: OPTIONS,
  });
  return { values, positionals, format: outputFormat(values.output, { wideAllowed: false }) };
}

const column = (rows: readonly (readonly string[])[]): string => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('   ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
};
const short = (image: string | undefined): string =>
  image === undefined ? '-' : image.slice(0, image.indexOf('@') + 20);

/** `capstan env list` */
export async function environmentCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(PROMOTION_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'list') throw new UsageError(`unknown command 'capstan env ${sub}': use 'capstan env list'`);
  const { values, positionals, format } = parse(rest);
  if (positionals.length > 0) throw new UsageError('capstan env list takes no arguments');
  if (values.watch === true || values.wait === true)
    throw new UsageError('capstan env list takes no --watch or --wait');
  const namespace = values.namespace ?? 'default';
  const all = (await (await client()).json<{ items: EnvironmentInfo[] }>('GET', '/api/v1/environments'))
    .items;
  const items = values['all-namespaces'] === true ? all : all.filter((e) => e.namespace === namespace);
  if (items.length === 0 && format === 'table') {
    say(`No environments found${values['all-namespaces'] === true ? '' : ` in namespace ${namespace}`}.`);
    return EXIT.ok;
  }
  output(format, { items }, () =>
    column([
      ['NAMESPACE', 'NAME', 'APPLICATION', 'FROM', 'APPROVAL', 'IMAGE', 'PROMOTION'],
      ...items.map((e) => [
        e.namespace,
        e.name,
        e.application,
        fromOf(e),
        e.approvalRequired ? 'Required' : 'None',
        short(e.currentImage),
        e.lastPromotion === undefined
          ? '-'
          : `${e.lastPromotion.state}${e.lastPromotion.reason === undefined ? '' : ` (${e.lastPromotion.reason})`}`,
      ]),
    ]),
  );
  return EXIT.ok;
}

/** Where an environment's promotions come from: the environment before it, a Pipeline, an image policy. */
const fromOf = (e: EnvironmentInfo): string =>
  e.fromEnvironment ??
  (e.fromPipeline !== undefined
    ? `pipeline/${e.fromPipeline}`
    : e.fromImagePolicy !== undefined
      ? `${e.fromImagePolicy.repository}:${e.imagePolicy?.tag ?? '?'} (${e.fromImagePolicy.semver})`
      : '-');

const describe = (p: PromotionView): string =>
  `promotion ${p.id} to ${p.namespace}/${p.environment}: ${p.state}${p.reason === undefined ? '' : ` (${p.reason})`}\n` +
  `  image:     ${p.image}\n` +
  (p.commit === undefined ? '' : `  commit:    ${p.commit}\n`) +
  (p.message === undefined ? '' : `  message:   ${p.message}\n`) +
  p.steps.map((s) => stepLine(s)).join('');

/** `capstan promote ENV --image REF | --from-run ID` */
export async function promoteCommand(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(PROMOTION_HELP);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const { values, positionals, format } = parse(argv);
  const [env, ...extra] = positionals;
  if (env === undefined || extra.length > 0) throw new UsageError('capstan promote needs one ENV');
  if ((values.image === undefined) === (values['from-run'] === undefined))
    throw new UsageError(
      'capstan promote needs exactly one of --image NAME@sha256:DIGEST and --from-run RUN',
    );
  const namespace = values.namespace ?? 'default';
  if (values.watch === true) throw new UsageError('capstan promote follows with --wait, not --watch');
  const body = values.image === undefined ? { fromRun: values['from-run'] } : { image: values.image };
  const server = await client();
  const created = await server.json<PromotionView>(
    'POST',
    `/api/v1/environments/${encodeURIComponent(namespace)}/${encodeURIComponent(env)}/promote`,
    body,
    { notFound: 'ENVIRONMENT_NOT_FOUND' },
  );
  if (values.wait === true) {
    if (format === 'table')
      process.stdout.write(`promotion ${created.id} to ${namespace}/${env} requested: ${created.image}\n`);
    return watch(server, created.id, format, { header: false });
  }
  output(
    format,
    created,
    () => `promotion ${created.id} to ${namespace}/${env} requested: ${created.image}\n`,
  );
  return EXIT.ok;
}

const stepLine = (s: PromotionView['steps'][number]): string =>
  `  ${s.at}  ${s.state.padEnd(18)} ${s.by ?? ''}${s.message === undefined ? '' : `  ${s.message}`}\n`;

/**
 * Follows a promotion until it ends: in a table, its steps as they happen and its end; otherwise the
 * final record. 0 when Verified, 4 (its state, reason and message on stderr) when Failed or Rejected.
 */
async function watch(
  server: ServerClient,
  id: string,
  format: ReturnType<typeof outputFormat>,
  options: { readonly header: boolean },
): Promise<number> {
  let printed = 0;
  let header = options.header;
  const table = format === 'table';
  const final = await followPromotion(server, id, (p) => {
    if (!table) return;
    if (header) process.stdout.write(`promotion ${p.id} to ${p.namespace}/${p.environment}: ${p.image}\n`);
    header = false;
    process.stdout.write(p.steps.slice(printed).map(stepLine).join(''));
    printed = Math.max(printed, p.steps.length);
  });
  const reason = final.reason === undefined ? '' : ` (${final.reason})`;
  if (table)
    process.stdout.write(
      `promotion ${final.id} ${final.state}${reason}${final.commit === undefined ? '' : `, commit ${final.commit}`}\n`,
    );
  else output(format, final, () => '');
  if (final.state === 'Verified') return EXIT.ok;
  process.stderr.write(
    `promotion ${final.id} to ${final.namespace}/${final.environment} ${final.state}${reason}${final.message === undefined ? '' : `: ${final.message}`}\n`,
  );
  return EXIT.failed;
}

/** `capstan promotion list|get|approve|reject` */
export async function promotionCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(PROMOTION_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  const { values, positionals, format } = parse(rest);
  if (values.wait === true)
    throw new UsageError('--wait is for capstan promote; capstan promotion get takes --watch');
  if (values.watch === true && sub !== 'get')
    throw new UsageError(
      `capstan promotion ${sub} takes no --watch: follow it with capstan promotion get ID --watch`,
    );
  const server = await client();
  if (sub === 'list') {
    const query = new URLSearchParams({ limit: values.limit ?? '50' });
    if (values['all-namespaces'] !== true) query.set('namespace', values.namespace ?? 'default');
    if (values.environment !== undefined) query.set('environment', values.environment);
    if (values.state !== undefined) query.set('state', values.state);
    const { items } = await server.json<{ items: PromotionView[] }>(
      'GET',
      `/api/v1/promotions?${query.toString()}`,
    );
    output(format, { items }, () =>
      column([
        ['ID', 'ENVIRONMENT', 'STATE', 'IMAGE', 'BY', 'COMMIT'],
        ...items.map((p) => [
          p.id,
          `${p.namespace}/${p.environment}`,
          `${p.state}${p.reason === undefined ? '' : ` (${p.reason})`}`,
          short(p.image),
          p.approvedBy ?? p.rejectedBy ?? p.requestedBy,
          p.commit?.slice(0, 12) ?? '-',
        ]),
      ]),
    );
    return EXIT.ok;
  }
  if (!['get', 'approve', 'reject'].includes(sub))
    throw new UsageError(`unknown command 'capstan promotion ${sub}': use list, get, approve or reject`);
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0)
    throw new UsageError(`capstan promotion ${sub} needs one promotion ID`);
  const path = `/api/v1/promotions/${encodeURIComponent(id)}`;
  if (sub === 'get' && values.watch === true) return watch(server, id, format, { header: true });
  const promotion =
    sub === 'get'
      ? await server.json<PromotionView>('GET', path, undefined, PROMOTION)
      : await server.json<PromotionView>('POST', `${path}/${sub}`, {}, PROMOTION);
  output(format, promotion, () => describe(promotion));
  return EXIT.ok;
}
