import { parseArgs } from 'node:util';
import { restoreCaches, saveCaches } from '../../adapters/cache/volume-cache.ts';
import { checkoutRevision } from '../../adapters/git/checkout.ts';
import type { CacheDefinition, CacheOwner } from '../../core/pipeline-cache.ts';
import type { GitCredentials } from '../../ports/source.ts';
import { EXIT, UsageError } from '../output.ts';
import { ATTEST_HELP, attestNormalize } from './pipeline-attest.ts';
import { isPipelineRemoteCommand, PIPELINE_REMOTE_COMMANDS, runPipelineRemote } from './pipeline-remote.ts';

export const PIPELINE_HELP = `Usage: capstan pipeline <command> [options]

Pipelines: a push to an application's code is verified, tested and built (docs/pipelines.md).

Commands (through the capstan server you are logged in to: capstan login):
  list                 the Pipelines: NAME, PROJECT, LAST RUN, PHASE, REVISION, AGE
                       (-o wide: REPOSITORY, FILE, POLL; -A every namespace)
  runs [PIPELINE]      runs, newest first: RUN, PIPELINE, PHASE, TRIGGER, REF, REVISION, AGE,
                       DURATION (-o wide: BY, REASON, MESSAGE); --phase P, --branch B, --limit N (20)
  get NAME             one Pipeline and its last run; get --run ID: one run, its steps and images
  logs RUN [-f]        a run's log lines ([step] text); -f follows them until the run ends
                       (exit 0 when it succeeded, 4 when not); --step NAME: that step's only
  run NAME             run by hand: --branch B (default: the default branch's head) or --tag T, --commit SHA
  cancel RUN           cancel a queued or running run (its Pod goes at once)
  rerun RUN            run a run's commit again
  approve RUN          approve a run of a pull request from a fork that waits (WaitingForApproval):
                       it runs without secrets, and its author's next pull requests do not wait
  revoke NAME AUTHOR   revoke an author's approval for the Pipeline NAME: their next runs wait again

Options: -n, --namespace NS (default: default), -o table|json|yaml (list, runs: also wide).
Exit codes: 0 done, 2 usage, 4 refused or failed (the server's reason on stderr).

  checkout   (inside a run Pod) fetch one commit of a repository into the workspace
  cache save (inside a run Pod) save the run's caches (--workspace DIR and the cache options)

checkout options:
  --repo URL         the repository
  --revision SHA     the full commit
  --dest DIR         an empty folder (the run's workspace)
  --allow-http       accept an http:// repository (the dev cluster's git server)
  Credentials, when the repository needs them, come from CAPSTAN_GIT_USERNAME and
  CAPSTAN_GIT_PASSWORD (the run Pod sets them from the Pipeline's credentials Secret).
  --cache-dir DIR --cache-owner JSON --caches JSON
                     after the checkout, restore these caches from the cache volume at DIR

${ATTEST_HELP}`;

export async function pipeline(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `capstan pipeline runs --help`: every command's help is this one.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(PIPELINE_HELP);
    return EXIT.ok;
  }
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(PIPELINE_HELP);
      return command === undefined ? EXIT.usage : EXIT.ok;
    case 'checkout':
      return checkout(rest);
    case 'cache':
      if (rest[0] !== 'save') throw new UsageError('usage: capstan pipeline cache save --workspace DIR …');
      return cacheSave(rest.slice(1));
    case 'attest-normalize':
      return attestNormalize(rest);
    default:
      if (isPipelineRemoteCommand(command)) return runPipelineRemote(command, rest);
      throw new UsageError(
        `unknown pipeline command '${command}' (expected ${[...PIPELINE_REMOTE_COMMANDS, 'checkout'].join(', ')})`,
      );
  }
}

async function checkout(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      repo: { type: 'string' },
      revision: { type: 'string' },
      dest: { type: 'string' },
      'allow-http': { type: 'boolean' },
      ...CACHE_OPTIONS,
    },
  });
  const { repo, revision, dest } = values;
  if (repo === undefined || revision === undefined || dest === undefined)
    throw new UsageError('capstan pipeline checkout needs --repo, --revision and --dest');
  const commit = await checkoutRevision({
    repoURL: repo,
    revision,
    dest,
    allowInsecureHttp: values['allow-http'] === true,
    ...credentialsFromEnv(),
  });
  process.stdout.write(`checked out ${commit}\n`);
  const caches = cacheOptions(values, dest);
  if (caches !== undefined) await restoreCaches(caches);
  return EXIT.ok;
}

const CACHE_OPTIONS = {
  'cache-dir': { type: 'string' },
  'cache-owner': { type: 'string' },
  caches: { type: 'string' },
} as const;

async function cacheSave(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: { workspace: { type: 'string' }, ...CACHE_OPTIONS },
  });
  const caches = values.workspace === undefined ? undefined : cacheOptions(values, values.workspace);
  if (caches === undefined)
    throw new UsageError(
      'capstan pipeline cache save needs --workspace, --cache-dir, --cache-owner and --caches',
    );
  await saveCaches(caches);
  return EXIT.ok;
}

/** The cache options, checked; undefined when none is given. */
function cacheOptions(
  values: { 'cache-dir'?: string; 'cache-owner'?: string; caches?: string },
  workspace: string,
): Parameters<typeof saveCaches>[0] | undefined {
  const { 'cache-dir': dir, 'cache-owner': ownerText, caches: cachesText } = values;
  if (dir === undefined && ownerText === undefined && cachesText === undefined) return undefined;
  if (dir === undefined || ownerText === undefined || cachesText === undefined)
    throw new UsageError('--cache-dir, --cache-owner and --caches go together');
  const owner = jsonOption(ownerText, '--cache-owner') as Partial<CacheOwner>;
  const caches = jsonOption(cachesText, '--caches') as { name?: unknown; key?: unknown; paths?: unknown }[];
  const text = (value: unknown) => typeof value === 'string' && value !== '';
  const safePath = (value: unknown) =>
    text(value) && !(value as string).split('/').includes('..') && !(value as string).startsWith('/');
  if (!text(owner.project) || !text(owner.namespace) || !text(owner.pipeline))
    throw new UsageError('--cache-owner must be {"project","namespace","pipeline"}');
  if (
    !Array.isArray(caches) ||
    !caches.every(
      (c) =>
        typeof c.name === 'string' &&
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c.name) &&
        safePath(c.key) &&
        Array.isArray(c.paths) &&
        c.paths.every(safePath),
    )
  )
    throw new UsageError('--caches must be a list of {name, key, paths} with paths inside the workspace');
  return {
    dir,
    workspace,
    owner: owner as CacheOwner,
    caches: caches as CacheDefinition[],
    log: (line) => process.stdout.write(`${line}\n`),
  };
}

function jsonOption(text: string, flag: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`${flag} is not JSON`);
  }
}

function credentialsFromEnv(): { credentials?: GitCredentials } {
  const username = process.env['CAPSTAN_GIT_USERNAME'] ?? '';
  const password = process.env['CAPSTAN_GIT_PASSWORD'] ?? '';
  if (password === '') return {};
  return { credentials: { kind: 'basic', username: username === '' ? 'git' : username, password } };
}
