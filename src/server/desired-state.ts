/**
 * An Application's desired state as the server shows it: the commit (its target resolved now when no
 * revision is asked) fetched with the Application's git credentials, and rendered as the agent
 * renders it (applicationRender: the same options and Helm capabilities, chart credentials from the same Secrets). On the SourceFetcher and Renderer ports (the agent's git adapter and renderers).
 */
import { resolveSpec, type Application } from '../contracts/application.ts';
import { applicationRender, mayRenderHelm } from '../contracts/application-render.ts';
import type { HelmCapabilities, Renderer } from '../ports/renderer.ts';
import type { DesiredState } from '../ports/resource-reader.ts';
import type { FetchOptions, GitCredentials, ResolvedRevision, SourceFetcher } from '../ports/source.ts';

export interface DesiredStateDeps {
  readonly fetcher: Pick<SourceFetcher, 'resolve' | 'checkout'>;
  readonly renderer: Pick<Renderer, 'render'>;
  /**
   * The credentials of a Secret in the Application's namespace: its spec.source.secretRef (git), and
   * each of spec.source.helm.repositorySecretRefs (chart repositories), as the agent reads them.
   */
  readonly credentials: (namespace: string, name: string) => Promise<GitCredentials>;
  /**
   * A revision recorded before that needs no resolve (a chart's `<version>@sha256:<hex>` names version
   * and digest), or undefined for one to resolve.
   */
  readonly recorded?: (revision: string) => ResolvedRevision | undefined;
  /**
   * The Helm capabilities of a destination cluster, by its registered name (as the agent reads them:
   * discovery, kept a while). Absent: helm's defaults.
   */
  readonly capabilities?: (cluster: string) => Promise<HelmCapabilities>;
}

/** Fetches the commit (the target resolved now when no revision is given) and renders it as the agent does. */
export async function renderDesired(
  app: Application,
  revision: string | undefined,
  deps: DesiredStateDeps,
): Promise<DesiredState> {
  const spec = resolveSpec(app);
  const namespace = app.metadata.namespace ?? 'default';
  const { chart } = spec.source;
  const source = {
    repoURL: spec.source.repoURL,
    targetRevision: revision ?? spec.source.targetRevision,
    ...(chart === undefined ? {} : { chart }),
  };
  const credentials = spec.source.secretRef
    ? await deps.credentials(namespace, spec.source.secretRef.name)
    : undefined;
  const fetch: FetchOptions = {
    allowInsecureHttp: spec.source.insecureHttp,
    ...(credentials ? { credentials } : {}),
  };
  // A chart's recorded revision (a history entry's) is checked out as it is.
  const recorded = chart === undefined || revision === undefined ? undefined : deps.recorded?.(revision);
  const resolved = recorded ?? (await deps.fetcher.resolve(source, fetch));
  const tree = await deps.fetcher.checkout(source, resolved, fetch);
  // Rendered as the agent renders it: the same options, the destination's Helm capabilities, chart
  // credentials from the same Secrets.
  const capabilities =
    deps.capabilities && mayRenderHelm(spec) ? await deps.capabilities(spec.destination.cluster) : undefined;
  const { chartSecrets, ...options } = applicationRender(app, spec, capabilities);
  const chartCredentials = await Promise.all(chartSecrets.map((name) => deps.credentials(namespace, name)));
  const result = await deps.renderer.render({
    root: tree.dir,
    path: spec.source.path,
    ...options,
    ...(chartCredentials.length === 0 ? {} : { chartCredentials }),
  });
  return { revision: resolved.sha, objects: result.objects.map((o) => o.object) };
}
