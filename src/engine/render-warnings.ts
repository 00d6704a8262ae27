import { argoCdWarnings } from '../core/argocd.ts';
import type { RenderResult } from '../ports/renderer.ts';

/**
 * What a render that succeeded warns about, in one list for the CLI's `warning:` lines and the
 * Application's status: the renderer's own warnings (kustomize's deprecations, why a render is
 * empty), then each Argo CD annotation or option Capstan does not honour, naming the object.
 */
export function renderWarnings(result: RenderResult): string[] {
  return [...(result.warnings ?? []), ...result.objects.flatMap((o) => argoCdWarnings(o.object))];
}
