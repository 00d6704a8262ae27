/**
 * The Helm renderer: `helm template` of a chart folder in the checkout.
 *
 * Nothing is fetched: dependencies must be vendored in `charts/` (folders or .tgz archives), values
 * files must be inside the checkout, and helm runs with private, empty cache/config/data folders
 * (no user repositories, no plugins), no kubeconfig and proxies that lead nowhere. CRDs and hooks
 * (tests too) are kept. Each object's source is the template it came from (helm's `# Source:`).
 */
import { lstat, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type { ParsedObject } from '../../core/manifest.ts';
import type { HelmOptions } from '../../ports/renderer.ts';
import { confine, joinInside } from './confine.ts';
import { checkpoint, NO_NETWORK, renderAccess, type RenderContext } from './context.ts';
import { runTool } from './exec.ts';
import { outermost } from './inputs.ts';
import { parseConfig, readBounded, tooLarge } from './read.ts';

export const CHART_FILE = 'Chart.yaml';

interface Chart {
  readonly name: string;
  readonly dependencies: readonly { name: string; version: string; repository: string }[];
}

export async function renderHelm(
  context: RenderContext,
  options: HelmOptions,
  binary: string,
): Promise<ParsedObject[]> {
  const chartPath = context.folder.relative;
  // 1. Read the chart: its name and what it depends on; dependencies must be vendored.
  const chart = await readChart(context);
  await checkDependencies(context, chart);
  // 2. Every file helm will load stays inside the checkout and within the limits.
  await checkChartFiles(context);
  // 3. Values: files from the checkout, then the inline values, in that order.
  const home = join(context.scratch, 'helm-home');
  await mkdir(home, { recursive: true });
  const valuesArgs = await valuesArguments(context, options, home);
  // 4. helm template, in the sandbox and a clean environment.
  const args = [
    'template',
    '--include-crds',
    ...(options.namespace ? [`--namespace=${options.namespace}`] : []),
    ...(options.kubeVersion ? [`--kube-version=${options.kubeVersion}`] : []),
    ...(options.apiVersions ?? []).map((apiVersion) => `--api-versions=${apiVersion}`),
    ...valuesArgs,
    '--',
    options.releaseName ?? chart.name,
    context.folder.absolute,
  ];
  let output: string;
  try {
    const run = await context.sandbox.wrap(
      {
        command: binary,
        args,
        cwd: context.folder.absolute,
        env: helmEnv(home),
        timeoutMs: checkpoint(context),
        limitMs: context.limits.timeoutMs,
        maxOutputBytes: context.limits.maxTotalBytes,
        signal: context.signal,
        description: `helm template ${chartPath}`,
        redact: (text) => text.replaceAll(`${context.root}/`, '').replaceAll(context.root, '.'),
      },
      renderAccess(context, { network: false }),
    );
    output = await runTool(run);
  } catch (error) {
    if (error instanceof CapstanError && /missing in charts\/ directory/.test(error.message)) {
      throw dependenciesError(chartPath, error.message.slice(error.message.indexOf('missing in charts/')));
    }
    throw error;
  }
  // 5. One parse per template, so that each object's source is its template.
  return parseTemplates(context, output);
}

/**
 * The folders and files of the checkout `helm template` reads: the chart folder (its vendored charts
 * too) and the values files, wherever they are in the checkout.
 */
export function helmInputs(context: RenderContext, options: HelmOptions): string[] {
  const values = (options.valueFiles ?? []).map((file) =>
    joinInside(context.folder.relative, file, 'values file'),
  );
  return outermost([context.folder.relative, ...values]);
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

/** Every dependency must already be in charts/: a folder with that chart, or `<name>-<version>.tgz`. */
async function checkDependencies(context: RenderContext, chart: Chart): Promise<void> {
  if (chart.dependencies.length === 0) return;
  const vendored = await vendoredCharts(context);
  const missing = chart.dependencies.filter(
    (dependency) =>
      !vendored.folders.has(dependency.name) &&
      !vendored.archives.some(
        (archive) =>
          archive.startsWith(`${dependency.name}-`) && /^\d/.test(archive.slice(dependency.name.length + 1)),
      ),
  );
  if (missing.length === 0) return;
  const list = missing
    .map((d) => `${d.name}${d.version ? ` ${d.version}` : ''}${d.repository ? ` from ${d.repository}` : ''}`)
    .join(', ');
  throw dependenciesError(context.folder.relative, `not vendored in charts/: ${list}`);
}

function dependenciesError(chartPath: string, detail: string): CapstanError {
  return new CapstanError(
    'RENDER_HELM_DEPENDENCIES',
    `${relativeTo(chartPath, CHART_FILE)} lists dependencies ${detail}. Capstan does not download charts while rendering: run \`helm dependency build ${chartPath}\` and commit the charts/ folder`,
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
 * Walks the chart folder as helm will load it (helm follows symlinks): every symlink must stay in
 * the checkout, every file within maxFileBytes and all of them within maxTotalBytes.
 */
async function checkChartFiles(context: RenderContext): Promise<void> {
  const { maxFileBytes, maxTotalBytes } = context.limits;
  let total = 0;
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
  await visit(context.folder.relative, context.folder.absolute);
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

// ---------------------------------------------------------------------------------------------
// Output

const SOURCE_LINE = /^# Source: (.+)$/gm;

/** Splits helm's output at its `# Source: <chart>/<template>` lines and parses each part. */
async function parseTemplates(context: RenderContext, output: string): Promise<ParsedObject[]> {
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
    parts.push({ file: relativeTo(chartPath, inChart), text: output.slice(start, end) });
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

function relativeTo(folder: string, name: string): string {
  return folder === '.' || folder === '' ? name : posix.join(folder, name);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
