/**
 * How an Application's spec is rendered: the one rule the agent, the server's desired state and the
 * CLI (`capstan app diff`) share, so that all three render an Application alike — with the destination
 * cluster's Helm capabilities (its version and API versions, as Argo CD gives helm), so that a chart's
 * `.Capabilities` checks come out the same in push mode and pull mode.
 */
import type { DirectoryOptions, HelmCapabilities, HelmOptions, RendererType } from '../ports/renderer.ts';
import type { Application, ResolvedSpec } from './application.ts';

/** The render options of an Application (a RenderRequest without its checkout and credentials), and whose credentials it needs. */
export interface ApplicationRender {
  /** Undefined: detected by the renderer. */
  readonly type?: RendererType;
  readonly directory?: DirectoryOptions;
  /**
   * Whenever the render may be Helm's (the type is helm or detected): the release named after the
   * Application unless the spec names one, in the destination namespace, and the spec's values.
   * With the destination's capabilities when given. Never the spec's Secret references.
   */
  readonly helm?: HelmOptions;
  /** Present (true) only when the spec allows plain http:// repositories. */
  readonly insecureHttp?: true;
  /**
   * The Secrets, in the Application's namespace, with the credentials for the chart repositories
   * (spec.source.helm.repositorySecretRefs), in order; empty when it names none.
   */
  readonly chartSecrets: readonly string[];
}

/**
 * Whether the spec may render with Helm (its type is helm or detected): then its render needs the
 * destination's capabilities (read them only then: discovery costs requests).
 */
export function mayRenderHelm(spec: ResolvedSpec): boolean {
  return spec.source.type === undefined || spec.source.type === 'helm';
}

/**
 * The render options of `app` (its spec resolved: `spec`) for a destination with these Helm
 * `capabilities` (undefined: helm's defaults), and the names of the chart-repository Secrets to read.
 */
export function applicationRender(
  app: Application,
  spec: ResolvedSpec,
  capabilities?: HelmCapabilities,
): ApplicationRender {
  const { type, directory, helm, insecureHttp } = spec.source;
  const mayBeHelm = mayRenderHelm(spec);
  return {
    ...(type === undefined ? {} : { type }),
    ...(directory === undefined ? {} : { directory }),
    ...(mayBeHelm
      ? {
          helm: {
            releaseName: helm?.releaseName ?? app.metadata.name,
            namespace: spec.destination.namespace,
            ...(helm?.valueFiles === undefined ? {} : { valueFiles: helm.valueFiles }),
            ...(helm?.values === undefined ? {} : { values: helm.values }),
            ...(helm?.parameters === undefined ? {} : { parameters: helm.parameters }),
            ...(helm?.skipCrds === undefined ? {} : { skipCrds: helm.skipCrds }),
            ...(capabilities === undefined
              ? {}
              : { kubeVersion: capabilities.kubeVersion, apiVersions: capabilities.apiVersions }),
          },
        }
      : {}),
    ...(insecureHttp ? { insecureHttp: true as const } : {}),
    chartSecrets: (helm?.repositorySecretRefs ?? []).map((ref) => ref.name),
  };
}
