import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { importArgoCd } from '../../contracts/import-argocd.ts';
import { importFlux } from '../../contracts/import-flux.ts';
import {
  formatFinding,
  IMPORT_TOOLS,
  type ImportResult,
  type ImportTool,
} from '../../contracts/import-report.ts';
import { readImportInput, ImportInputError, type ImportInput } from '../import-input.ts';
import { EXIT, UsageError } from '../output.ts';

export const IMPORT_HELP = `Usage: capstan import argocd|flux FILE|DIR|- [-o yaml|json] [--namespace NS]

Converts another tool's objects into Capstan Applications and prints them (apply them with kubectl
apply -f, or keep them in git). FILE holds one or more YAML documents; - reads standard input; a
folder is read as Flux reads it: through its kustomization.yaml (its resources, file by file and
folder by folder), else every *.yaml and *.yml file below it. A kustomization's remote resources and
the fields that would change the objects (patches, namePrefix, ...) are reported as left out.

  argocd   Argo CD Applications (argoproj.io): source, Helm and directory options, destination,
           project, sync policy, ignoreDifferences; AppProjects into Projects (printed first).
           ApplicationSets, several sources, plugins and Helm-repository charts are reported.
  flux     Flux Kustomizations and HelmReleases with the GitRepository each names (give them
           together): url and ref, path, prune, targetNamespace, interval, dependsOn, values.
           HelmRepository charts, postBuild substitution, patches and SOPS decryption are reported.

What could not be converted is printed on standard error, one line per field:
  FILE:LINE: Kind/namespace/name: field: why
and lines starting with "note:" say what to prepare (a credentials Secret, a cluster to register).

Options:
  -o, --output FMT     yaml (default: documents separated by ---) or json (a List)
  --namespace NS       the namespace of every Application (default: the destination namespace,
                       else the object's own)
Exit codes: 0 everything converted, 5 converted with something left out (see standard error),
2 unreadable input (the message names the file and line).
`;

export async function importCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      namespace: { type: 'string', short: 'n' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(IMPORT_HELP);
    return EXIT.ok;
  }
  const [tool, file, ...extra] = positionals;
  if (!isTool(tool) || file === undefined || extra.length > 0)
    throw new UsageError(
      `usage: capstan import ${IMPORT_TOOLS.join('|')} FILE|- (see capstan import --help)`,
    );
  const format = values.output ?? 'yaml';
  if (format !== 'yaml' && format !== 'json')
    throw new UsageError(`-o must be yaml or json, not '${format}'`);
  const input = await readInput(file);
  const options = values.namespace === undefined ? {} : { namespace: values.namespace };
  const result =
    tool === 'argocd' ? importArgoCd(input.objects, options) : importFlux(input.objects, options);
  result.leftOut.unshift(...input.leftOut);
  printApplications(result, format);
  printFindings(result);
  return result.leftOut.length === 0 ? EXIT.ok : EXIT.incomplete;
}

/** The objects of FILE, standard input or a folder; unreadable input is a usage error naming the file and line. */
async function readInput(file: string): Promise<ImportInput> {
  try {
    return await readImportInput(file, readStdin);
  } catch (error) {
    if (error instanceof ImportInputError) throw new UsageError(error.message);
    throw error;
  }
}

function isTool(value: string | undefined): value is ImportTool {
  return (IMPORT_TOOLS as readonly (string | undefined)[]).includes(value);
}

function printApplications(result: ImportResult, format: 'yaml' | 'json'): void {
  if (format === 'json') {
    const list = { apiVersion: 'v1', kind: 'List', items: [...result.projects, ...result.applications] };
    process.stdout.write(JSON.stringify(list, null, 2) + '\n');
  } else {
    const objects = [...result.projects, ...result.applications];
    process.stdout.write(objects.map((object) => stringify(object)).join('---\n'));
  }
}

function printFindings(result: ImportResult): void {
  for (const finding of result.leftOut) process.stderr.write(`left out: ${formatFinding(finding)}\n`);
  for (const finding of result.notes) process.stderr.write(`note: ${formatFinding(finding)}\n`);
  const { applications, projects, leftOut } = result;
  const madeProjects =
    projects.length === 0 ? '' : `${projects.length} Project${projects.length === 1 ? '' : 's'} and `;
  process.stderr.write(
    `${madeProjects}${applications.length} Application${applications.length === 1 ? '' : 's'} converted, ` +
      `${leftOut.length} field${leftOut.length === 1 ? '' : 's'} or object${leftOut.length === 1 ? '' : 's'} left out\n`,
  );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
