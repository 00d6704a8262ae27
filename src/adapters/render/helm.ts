/**
 * The Helm renderer: `helm template` of a chart folder in the checkout.
 *
 * Dependencies are vendored in `charts/` (folders or .tgz archives) or, with a `file://` repository,
 * another folder of the same checkout: the chart is then staged in the scratch folder with those
 * folders copied into its `charts/` (what `helm dependency build` would do, without writing to the
 * checkout). Values files must be inside the checkout, and helm runs with private, empty
 * cache/config/data folders (no user repositories, no plugins), no kubeconfig and proxies that lead
 * nowhere. CRDs (unless skipCrds) and hooks (tests too) are kept. Each object's source is the
 * template it came from (helm's `# Source:`), a `file://` dependency's in its own folder.
 */
import { cp, lstat, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject } from '../../core/manifest.ts';
import type { HelmOptions, HelmParameter } from '../../ports/renderer.ts';
import type { GitCredentials } from '../../ports/source.ts';
import type { ChartRepository } from './chart-repository.ts';
import { confine, joinInside, type ConfinedPath } from './confine.ts';
import { checkpoint, NO_NETWORK, renderAccess, type RenderContext } from './context.ts';
import { runTool } from './exec.ts';
import { outermost } from './inputs.ts';
import { parseConfig, readBounded, tooLarge } from './read.ts';

export const CHART_FILE = 'Chart.yaml';

interface Dependency {
  readonly name: string;
  readonly version: string;
  readonly repository: string;
}

interface Chart {
  readonly name: string;
  readonly dependencies: readonly Dependency[];
}

/** The repository prefix of a dependency in another folder of the checkout (`file://../common`). */
const LOCAL_REPOSITORY = 'file://';

/** A `file://` dependency, found in the checkout: staged as `charts/<name>` of the chart. */
interface LocalDependency {
  readonly name: string;
  readonly folder: ConfinedPath;
}

/** What renders a chart: helm, and where the charts of Helm repositories come from. */
export interface HelmTools {
  readonly binary: string;
  readonly charts: ChartRepository;
  /** Credentials for the chart repositories, each bound to its URLs. */
  readonly credentials: readonly GitCredentials[];
  /** Allow plain http:// chart repositories. */
  readonly allowHttp: boolean;
}

export async function renderHelm(
  context: RenderContext,
  options: HelmOptions,
  tools: HelmTools,
): Promise<ParsedObject[]> {
  const chartPath = context.folder.relative;
  // 1. Read the chart: its name and what it depends on, vendored, in the checkout or in a Helm repository.
  const chart = await readChart(context);
  const local = await localDependencies(context, chart);
  const remote = await remoteDependencies(context, chart);
  // 2. Every file helm will load stays inside the checkout and within the limits.
  let total = await checkChartFiles(context, { folder: context.folder, total: 0 });
  for (const dependency of local)
    total = await checkChartFiles(context, { folder: dependency.folder, total });
  // 3. A chart with dependencies outside charts/ is staged in the scratch folder, with them in its charts/.
  const staged = local.length > 0 || remote.length > 0;
  const chartFolder = staged ? await stageChart(context, local) : context.folder.absolute;
  await pullDependencies(context, { remote, tools, into: join(chartFolder, 'charts'), total });
  const binary = tools.binary;
  // 4. Values: files from the checkout, then the inline values, then the parameters, in that order.
  const home = join(context.scratch, 'helm-home');
  await mkdir(home, { recursive: true });
  const valuesArgs = await valuesArguments(context, options, home);
  // 5. helm template, in the sandbox and a clean environment.
  const args = [
    'template',
    options.skipCrds === true ? '--skip-crds' : '--include-crds',
    ...(options.namespace ? [`--namespace=${options.namespace}`] : []),
    ...(options.kubeVersion ? [`--kube-version=${options.kubeVersion}`] : []),
    ...(options.apiVersions ?? []).map((apiVersion) => `--api-versions=${apiVersion}`),
    ...valuesArgs,
    ...parameterArguments(options.parameters ?? []),
    '--',
    options.releaseName ?? chart.name,
    chartFolder,
  ];
  let output: string;
  try {
    const run = await context.sandbox.wrap(
      {
        command: binary,
        args,
        cwd: chartFolder,
        env: helmEnv(home),
        timeoutMs: checkpoint(context),
        render: { subject: context.folder.relative, limitMs: context.limits.timeoutMs },
        maxOutputBytes: context.limits.maxTotalBytes,
        signal: context.signal,
        description: `helm template ${chartPath}`,
        redact: (text) =>
          text
            .replaceAll(chartFolder, chartPath)
            .replaceAll(`${context.root}/`, '')
            .replaceAll(context.root, '.'),
      },
      renderAccess(context, { network: false }),
    );
    output = await runTool(run);
  } catch (error) {
    if (error instanceof CapstanError && /missing in charts\/ directory/.test(error.message)) {
      throw dependenciesError(chartPath, error.message.slice(error.message.indexOf('missing in charts/')));
    }
    throw located(error, { chartName: chart.name, chartPath, local });
  }
  // 6. One parse per template, so that each object's source is its template.
  return parseTemplates(context, output, local);
}

/**
 * The folders and files of the checkout `helm template` reads: the chart folder (its vendored charts
 * too), the folders of its `file://` dependencies and the values files, wherever they are in the
 * checkout.
 */
export async function helmInputs(
  context: RenderContext,
  options: HelmOptions,
): Promise<string[] | undefined> {
  const values = (options.valueFiles ?? []).map((file) =>
    joinInside(context.folder.relative, file, 'values file'),
  );
  const chart = await readChart(context);
  // A chart from a Helm repository may change without a commit (a version range): only the commit identifies it.
  if ((await remoteDependencies(context, chart)).length > 0) return undefined;
  const local = await localDependencies(context, chart);
  return outermost([context.folder.relative, ...local.map((d) => d.folder.relative), ...values]);
}

function helmEnv(home: string): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    TMPDIR: home,
    LANG: 'C',
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    HELM_PLUGINS: join(home, 'plugins'),
    HELM_NO_PLUGINS: '1',
    KUBECONFIG: join(home, 'no-kubeconfig'),
    ...NO_NETWORK,
  };
}

// ---------------------------------------------------------------------------------------------
// The chart and its dependencies

async function readChart(context: RenderContext): Promise<Chart> {
  const chartPath = context.folder.relative;
  const { value } = await readYaml(context, relativeTo(chartPath, CHART_FILE));
  const fields = isRecord(value) ? value : {};
  const name = typeof fields['name'] === 'string' && fields['name'] !== '' ? fields['name'] : undefined;
  if (name === undefined) {
    throw new CapstanError('RENDER_PARSE', `${relativeTo(chartPath, CHART_FILE)}: the chart has no name`, {
      subject: chartPath,
    });
  }
  let dependencies = fields['dependencies'];
  // apiVersion v1 charts list their dependencies in requirements.yaml.
  if (fields['apiVersion'] === 'v1' && dependencies === undefined) {
    const requirements = await lstat(join(context.folder.absolute, 'requirements.yaml')).catch(
      () => undefined,
    );
    if (requirements) {
      const { value: required } = await readYaml(context, relativeTo(chartPath, 'requirements.yaml'));
      dependencies = isRecord(required) ? required['dependencies'] : undefined;
    }
  }
  const list = Array.isArray(dependencies) ? (dependencies as unknown[]) : [];
  return {
    name,
    dependencies: list.filter(isRecord).map((dependency) => ({
      name: typeof dependency['name'] === 'string' ? dependency['name'] : '',
      version: typeof dependency['version'] === 'string' ? dependency['version'] : '',
      repository: typeof dependency['repository'] === 'string' ? dependency['repository'] : '',
    })),
  };
}

async function readYaml(context: RenderContext, relative: string): Promise<ReturnType<typeof parseConfig>> {
  const file = await confine(context.root, relative, 'chart file');
  const size = (await stat(file.absolute)).size;
  if (size > context.limits.maxFileBytes) throw tooLarge(relative, context.limits.maxFileBytes, size);
  const text = await readBounded(file.absolute, relative, context.limits.maxFileBytes);
  return parseConfig(text, relative, context.limits.maxAliases);
}

/**
 * The `file://` dependencies that are not vendored in charts/, each found in the checkout (relative
 * to the chart folder, confined to the checkout) and holding the chart the dependency names.
 */
async function localDependencies(context: RenderContext, chart: Chart): Promise<LocalDependency[]> {
  const wanted = chart.dependencies.filter((d) => d.repository.startsWith(LOCAL_REPOSITORY));
  if (wanted.length === 0) return [];
  const vendored = await vendoredCharts(context);
  const found: LocalDependency[] = [];
  for (const dependency of wanted) {
    if (isVendored(vendored, dependency)) continue;
    const written = dependency.repository.slice(LOCAL_REPOSITORY.length);
    const relative = joinInside(context.folder.relative, written, `dependency ${dependency.name}`);
    const folder = await confine(context.root, relative, `dependency ${dependency.name}`);
    const hasChart = await lstat(join(folder.absolute, CHART_FILE)).catch(() => undefined);
    if (!hasChart) {
      throw new CapstanError(
        'RENDER_HELM_DEPENDENCIES',
        `${relativeTo(context.folder.relative, CHART_FILE)}: dependency ${dependency.name} (${dependency.repository}) is ${folder.relative}, which holds no ${CHART_FILE}; point the repository at the folder of that chart`,
        { subject: context.folder.relative },
      );
    }
    const { value } = await readYaml(context, relativeTo(folder.relative, CHART_FILE));
    const name = isRecord(value) ? value['name'] : undefined;
    if (name !== dependency.name) {
      throw new CapstanError(
        'RENDER_HELM_DEPENDENCIES',
        `${relativeTo(context.folder.relative, CHART_FILE)}: dependency ${dependency.name} (${dependency.repository}) leads to the chart '${String(name)}' (${relativeTo(folder.relative, CHART_FILE)}); the dependency's name must be that chart's name (use alias to rename it)`,
        { subject: context.folder.relative },
      );
    }
    found.push({ name: dependency.name, folder });
  }
  return found;
}

/** Copies the chart into the scratch folder, with each `file://` dependency as `charts/<name>`. */
async function stageChart(context: RenderContext, local: readonly LocalDependency[]): Promise<string> {
  const staged = join(context.scratch, 'chart');
  const copy = { recursive: true, dereference: true, filter: (from: string) => !from.endsWith('/.git') };
  await cp(context.folder.absolute, staged, copy);
  for (const dependency of local) {
    checkpoint(context);
    await cp(dependency.folder.absolute, join(staged, 'charts', dependency.name), copy);
  }
  return staged;
}

function isVendored(vendored: { folders: Set<string>; archives: string[] }, dependency: Dependency): boolean {
  return (
    vendored.folders.has(dependency.name) ||
    vendored.archives.some(
      (archive) =>
        archive.startsWith(`${dependency.name}-`) && /^\d/.test(archive.slice(dependency.name.length + 1)),
    )
  );
}

/**
 * The dependencies that are neither vendored in charts/ nor `file://`: each is downloaded from its
 * Helm repository (`https://…`, `oci://…`). One that names no repository cannot be found.
 */
async function remoteDependencies(context: RenderContext, chart: Chart): Promise<Dependency[]> {
  if (chart.dependencies.length === 0) return [];
  const vendored = await vendoredCharts(context);
  const remote = chart.dependencies.filter(
    (dependency) => !isVendored(vendored, dependency) && !dependency.repository.startsWith(LOCAL_REPOSITORY),
  );
  const unnamed = remote.filter((dependency) => dependency.repository === '');
  if (unnamed.length > 0) {
    const list = unnamed.map((d) => `${d.name}${d.version ? ` ${d.version}` : ''}`).join(', ');
    throw new CapstanError(
      'RENDER_HELM_DEPENDENCIES',
      `${relativeTo(context.folder.relative, CHART_FILE)} lists dependencies that are not in charts/ and name no repository: ${list}. Give each its repository (https://…, oci://…, or file://<folder in this repository>), or vendor it with \`helm dependency build ${context.folder.relative}\``,
      { subject: context.folder.relative },
    );
  }
  return remote;
}

/** Downloads each dependency of a Helm repository into the staged chart's charts/, as `<name>-<version>.tgz`. */
async function pullDependencies(
  context: RenderContext,
  work: { remote: readonly Dependency[]; tools: HelmTools; into: string; total: number },
): Promise<void> {
  let total = work.total;
  for (const dependency of work.remote) {
    checkpoint(context);
    const pulled = await work.tools.charts.pull({
      repository: dependency.repository,
      name: dependency.name,
      version: dependency.version,
      credentials: work.tools.credentials,
      allowHttp: work.tools.allowHttp,
      maxBytes: context.limits.maxFileBytes,
      signal: context.signal,
    });
    total += pulled.archive.length;
    if (total > context.limits.maxTotalBytes) {
      throw new CapstanError(
        'RENDER_TOO_LARGE',
        `the chart ${context.folder.relative} with its dependencies is more than ${context.limits.maxTotalBytes} bytes (at ${dependency.name} ${pulled.version}); it was not rendered`,
        { subject: context.folder.relative },
      );
    }
    await mkdir(work.into, { recursive: true });
    await writeFile(join(work.into, `${dependency.name}-${pulled.version}.tgz`), pulled.archive, {
      mode: 0o600,
    });
  }
}

function dependenciesError(chartPath: string, detail: string): CapstanError {
  return new CapstanError(
    'RENDER_HELM_DEPENDENCIES',
    `${relativeTo(chartPath, CHART_FILE)}: a chart's dependencies are ${detail}. Capstan resolves the dependencies of ${chartPath} itself (vendored in charts/, file:// folders of the repository, https:// and oci:// repositories), but not those of its dependencies: vendor those in the dependency's own charts/ folder`,
    { subject: chartPath },
  );
}

/** Chart names of the folders in charts/, and the names of the archives there. */
async function vendoredCharts(context: RenderContext): Promise<{ folders: Set<string>; archives: string[] }> {
  const folders = new Set<string>();
  const archives: string[] = [];
  const chartsPath = relativeTo(context.folder.relative, 'charts');
  const charts = await confine(context.root, chartsPath, 'charts folder').catch((error: unknown) => {
    if (error instanceof CapstanError && error.code === 'RENDER_NOT_FOUND') return undefined;
    throw error;
  });
  if (charts === undefined) return { folders, archives };
  for (const entry of (await readdir(charts.absolute)).sort()) {
    if (entry.endsWith('.tgz')) {
      archives.push(entry);
      continue;
    }
    const subchart = relativeTo(chartsPath, entry);
    const hasChart = await lstat(join(charts.absolute, entry, CHART_FILE)).catch(() => undefined);
    if (!hasChart) continue;
    const { value } = await readYaml(context, relativeTo(subchart, CHART_FILE));
    if (isRecord(value) && typeof value['name'] === 'string') folders.add(value['name']);
  }
  return { folders, archives };
}

/**
 * Walks a chart folder as helm will load it (helm follows symlinks): every symlink must stay in the
 * checkout, every file within maxFileBytes and all of them (with those counted before: `total`)
 * within maxTotalBytes. Returns the new total.
 */
async function checkChartFiles(
  context: RenderContext,
  start: { folder: ConfinedPath; total: number },
): Promise<number> {
  const { maxFileBytes, maxTotalBytes } = context.limits;
  let total = start.total;
  const entered = new Set<string>();
  const visit = async (relative: string, absolute: string): Promise<void> => {
    checkpoint(context);
    if (entered.has(absolute)) return;
    entered.add(absolute);
    for (const entry of await readdir(absolute, { withFileTypes: true })) {
      if (entry.name === '.git') continue;
      const childRelative = relativeTo(relative, entry.name);
      let childAbsolute = join(absolute, entry.name);
      if (entry.isSymbolicLink())
        childAbsolute = (await confine(context.root, childRelative, 'symlink')).absolute;
      const info = await stat(childAbsolute);
      if (info.isDirectory()) {
        await visit(childRelative, childAbsolute);
      } else if (info.isFile()) {
        if (info.size > maxFileBytes) throw tooLarge(childRelative, maxFileBytes, info.size);
        total += info.size;
        if (total > maxTotalBytes) {
          throw new CapstanError(
            'RENDER_TOO_LARGE',
            `the chart ${context.folder.relative} is more than ${maxTotalBytes} bytes (at ${childRelative}); it was not rendered`,
            { subject: context.folder.relative },
          );
        }
      }
    }
  };
  await visit(start.folder.relative, start.folder.absolute);
  return total;
}

// ---------------------------------------------------------------------------------------------
// Values

async function valuesArguments(
  context: RenderContext,
  options: HelmOptions,
  home: string,
): Promise<string[]> {
  const args: string[] = [];
  for (const valuesFile of options.valueFiles ?? []) {
    const relative = joinInside(context.folder.relative, valuesFile, 'values file');
    const file = await confine(context.root, relative, 'values file');
    const info = await stat(file.absolute);
    if (!info.isFile()) {
      throw new CapstanError('RENDER_NOT_FOUND', `values file ${relative} is not a file`, {
        subject: relative,
      });
    }
    if (info.size > context.limits.maxFileBytes)
      throw tooLarge(relative, context.limits.maxFileBytes, info.size);
    args.push(`--values=${file.absolute}`);
  }
  if (options.values !== undefined) {
    const text = typeof options.values === 'string' ? options.values : JSON.stringify(options.values);
    const size = Buffer.byteLength(text, 'utf8');
    if (size > context.limits.maxFileBytes)
      throw tooLarge('inline values', context.limits.maxFileBytes, size);
    const inline = join(home, 'inline-values.yaml');
    await writeFile(inline, text, { mode: 0o600 });
    args.push(`--values=${inline}`);
  }
  return args;
}

/**
 * `--set` (or `--set-string`) per parameter, after the values files as Argo CD does. A value's
 * backslashes and commas are escaped, so that it stays one value (helm splits `--set` at commas).
 */
function parameterArguments(parameters: readonly HelmParameter[]): string[] {
  return parameters.map((parameter) => {
    const value = parameter.value.replaceAll('\\', '\\\\').replaceAll(',', '\\,');
    return `${parameter.forceString === true ? '--set-string' : '--set'}=${parameter.name}=${value}`;
  });
}

// ---------------------------------------------------------------------------------------------
// Output

const SOURCE_LINE = /^# Source: (.+)$/gm;

/**
 * Splits helm's output at its `# Source: <chart>/<template>` lines and parses each part. A template
 * of a `file://` dependency (`charts/<name>/…`) is named in that dependency's folder.
 */
async function parseTemplates(
  context: RenderContext,
  output: string,
  local: readonly LocalDependency[],
): Promise<ParsedObject[]> {
  const { maxAliases, maxObjects, maxTotalBytes } = context.limits;
  const chartPath = context.folder.relative;
  const parts: { file: string; text: string }[] = [];
  const matches = [...output.matchAll(SOURCE_LINE)];
  const head = output.slice(0, matches[0]?.index ?? output.length);
  if (head.replace(/^---\s*$/gm, '').trim() !== '') parts.push({ file: `${chartPath} (helm)`, text: head });
  matches.forEach((match, index) => {
    const start = match.index + match[0].length + 1;
    const end = matches[index + 1]?.index ?? output.length;
    const template = (match[1] ?? '').trim();
    // `web/templates/a.yaml` → `<chart path>/templates/a.yaml`; subcharts keep `charts/<name>/…`.
    const inChart = template.includes('/') ? template.slice(template.indexOf('/') + 1) : template;
    parts.push({ file: sourceFile(chartPath, inChart, local), text: output.slice(start, end) });
  });
  const objects: ParsedObject[] = [];
  for (const part of parts) {
    objects.push(
      ...(await context.parse(part.text, part.file, { maxAliases, maxObjects, maxBytes: maxTotalBytes })),
    );
    if (objects.length > maxObjects) {
      throw new CapstanError(
        'RENDER_TOO_MANY_OBJECTS',
        `${part.file}: the chart ${chartPath} renders more than ${maxObjects} objects; split the application or raise the limit`,
        { subject: chartPath },
      );
    }
  }
  return objects;
}

/**
 * A helm error that names a template (`template: web/templates/a.yaml:12:20: executing …`,
 * `execution error at (web/templates/a.yaml:6:9): …` of `fail`, `YAML parse error on
 * web/templates/a.yaml: …`) starts with where that template is in the checkout, and
 * the line where helm gives one: `helm/web/templates/a.yaml:12: …`.
 */
function located(
  error: unknown,
  chart: { chartName: string; chartPath: string; local: readonly LocalDependency[] },
): unknown {
  if (!(error instanceof CapstanError)) return error;
  const prefix = chart.chartName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const template = new RegExp(
    `(?:template: |parse error on |execution error at \\()${prefix}/(\\S+?\\.(?:ya?ml|tpl|txt|json))(?::(\\d+))?`,
  ).exec(error.message);
  if (template?.[1] === undefined) return error;
  const file = sourceFile(chart.chartPath, template[1], chart.local);
  const where = template[2] === undefined ? file : `${file}:${template[2]}`;
  return new CapstanError(error.code, `${where}: ${error.message}`, {
    subject: where,
    retryable: error.retryable,
    cause: error,
  });
}

/** Where a template of the chart is in the checkout: `charts/<name>/x` of a `file://` dependency is in its folder. */
function sourceFile(chartPath: string, inChart: string, local: readonly LocalDependency[]): string {
  for (const dependency of local) {
    const prefix = `charts/${dependency.name}/`;
    if (inChart.startsWith(prefix))
      return relativeTo(dependency.folder.relative, inChart.slice(prefix.length));
  }
  return relativeTo(chartPath, inChart);
}

function relativeTo(folder: string, name: string): string {
  return folder === '.' || folder === '' ? name : posix.join(folder, name);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
