import { parseArgs } from 'node:util';
import { checkoutRevision } from '../../adapters/git/checkout.ts';
import type { GitCredentials } from '../../ports/source.ts';
import { EXIT, UsageError } from '../output.ts';
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

Options: -n, --namespace NS (default: default), -o table|json|yaml (list, runs: also wide).
Exit codes: 0 done, 2 usage, 4 refused or failed (the server's reason on stderr).

  checkout   (inside a run Pod) fetch one commit of a repository into the workspace

checkout options:
  --repo URL         the repository
  --revision SHA     the full commit
  --dest DIR         an empty folder (the run's workspace)
  --allow-http       accept an http:// repository (the dev cluster's git server)
  Credentials, when the repository needs them, come from CAPSTAN_GIT_USERNAME and
  CAPSTAN_GIT_PASSWORD (the run Pod sets them from the Pipeline's credentials Secret).
`;

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
  return EXIT.ok;
}

function credentialsFromEnv(): { credentials?: GitCredentials } {
  const username = process.env['CAPSTAN_GIT_USERNAME'] ?? '';
  const password = process.env['CAPSTAN_GIT_PASSWORD'] ?? '';
  if (password === '') return {};
  return { credentials: { kind: 'basic', username: username === '' ? 'git' : username, password } };
}
