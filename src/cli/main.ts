import { CapstanError, messageOf, type ErrorCode } from '../core/errors.ts';
import { EXIT } from './output.ts';

const HELP = `Usage: capstan <command> [options]

GitOps delivery for Kubernetes: Git is the single source of truth for what runs.

Commands:
  render        render the desired state (plain YAML, Kustomize, Helm) from a folder or a git repository
  diff          show what a sync would change in the cluster (exit 1 when there are differences)
  sync          make the cluster equal to the desired state (server-side apply, prune what it owns)
  app           Applications the agent keeps in sync: create, list, get, diff, sync, rollback, delete, wait
  cluster       destination clusters of the agent: add (a kubeconfig, stored in a Secret), list, remove
  agent         run the agent: keep every Application equal to its source (in a cluster, or locally)
  server        run the API server: /api/v1 with login, roles per project and an audit trail
  login         log in to a capstan server (then app commands and audit go through it); logout
  audit         the server's audit trail: who did what, when, to what (filters, -o json|yaml)
  pipeline      pipelines: a push verified, tested and built (checkout, inside a run Pod)
  env           environments: list them with their current image and latest promotion
  promote       promote an image (by digest) or a run's image to an environment
  promotion     promotions: list, get, approve, reject
  demo          the local demo: control plane, git server, agent and sample applications (up, down)
  dev-cluster   a real local Kubernetes control plane for development and tests
  import        convert Argo CD Applications or Flux Kustomizations and HelmReleases into Applications

Run 'capstan <command> --help' for a command's options.
Exit codes: 0 success, 1 differences found, 2 usage error, 3 missing prerequisite, 4 failure,
5 import left something out.
`;

const PREREQUISITE_CODES = new Set<ErrorCode>([
  'GO_TOOLCHAIN_MISSING',
  'BINARIES_MISSING',
  'EXEC_NOT_FOUND',
  'RENDER_TOOL_MISSING',
]);

/**
 * Runs the CLI and returns the exit code. Errors become one clear line on stderr. Each command's module
 * is loaded when it is asked for: a run Pod's `capstan pipeline checkout` starts without loading the
 * server, the agent and their dependencies (about 2 s less on a quiet 2-core machine, more under load).
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case 'dev-cluster':
        return await (await import('./commands/dev-cluster.ts')).devCluster(rest);
      case 'app':
        return await (await import('./commands/app.ts')).app(rest);
      case 'cluster':
        return await (await import('./commands/cluster.ts')).cluster(rest);
      case 'agent':
        return await (await import('./commands/agent.ts')).agent(rest);
      case 'server':
        return await (await import('./commands/server.ts')).server(rest);
      case 'login':
        return await (await import('./commands/login.ts')).login(rest);
      case 'logout':
        return await (await import('./commands/login.ts')).logout(rest);
      case 'audit':
        return await (await import('./commands/audit.ts')).audit(rest);
      case 'demo':
        return await (await import('./commands/demo.ts')).demo(rest);
      case 'dev-git-server':
        return await (await import('./commands/dev-git-server.ts')).devGitServer(rest);
      case 'pipeline':
        return await (await import('./commands/pipeline.ts')).pipeline(rest);
      case 'env':
        return await (await import('./commands/promotion.ts')).environmentCommand(rest);
      case 'promote':
        return await (await import('./commands/promotion.ts')).promoteCommand(rest);
      case 'promotion':
        return await (await import('./commands/promotion.ts')).promotionCommand(rest);
      case 'import':
        return await (await import('./commands/import.ts')).importCommand(rest);
      case 'render':
      case 'diff':
      case 'sync':
        return await (await import('./commands/push.ts')).push(command, rest);
      default:
        process.stderr.write(`capstan: unknown command '${command}'\n\n${HELP}`);
        return EXIT.usage;
    }
  } catch (error) {
    return report(error);
  }
}

function report(error: unknown): number {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(
      `capstan: ${messageOf(error)}\nRun 'capstan ${process.argv[2] ?? ''} --help' for the options.\n`,
    );
    return EXIT.usage;
  }
  if (error instanceof CapstanError) {
    process.stderr.write(`capstan: error [${error.code}]: ${error.message}\n`);
    if (error.code === 'USAGE') return EXIT.usage;
    return PREREQUISITE_CODES.has(error.code) ? EXIT.prerequisite : EXIT.failed;
  }
  process.stderr.write(
    `capstan: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return EXIT.failed;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
