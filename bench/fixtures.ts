// Fixture repositories for the benchmarks: N applications of M objects each, as one monorepo
// (apps/app-0001/...) or one repository per application. Every application has a marker ConfigMap
// whose `revision` tells which commit is live, so that any GitOps tool's progress can be observed the
// same way: by watching the cluster.

/** The label on every marker ConfigMap; observers watch it. */
export const MARKER_LABEL = 'bench.capstan.dev/marker';

export interface FixtureShape {
  /** Applications. */
  readonly apps: number;
  /** Objects per application, the marker included (at least 1). */
  readonly objectsPerApp: number;
}

export function appName(index: number): string {
  return `app-${String(index).padStart(4, '0')}`;
}

/** The folder of an application in the monorepo. */
export function appFolder(index: number): string {
  return `apps/${appName(index)}`;
}

/**
 * One application's manifests at a revision (one multi-document YAML file). Names start with the
 * application's name, so that many applications share one namespace. The kinds are those of a small
 * service without pods: ConfigMaps, a Secret, a Service, a ServiceAccount.
 */
export function appManifests(index: number, objectsPerApp: number, revision: number): string {
  if (!Number.isInteger(objectsPerApp) || objectsPerApp < 1)
    throw new Error(`objectsPerApp must be a whole number ≥ 1, got ${String(objectsPerApp)}`);
  const app = appName(index);
  const docs: string[] = [
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      `  name: ${app}-marker`,
      '  labels:',
      `    ${MARKER_LABEL}: "true"`,
      `    bench.capstan.dev/app: ${app}`,
      'data:',
      `  revision: "${String(revision)}"`,
    ].join('\n'),
  ];
  for (let k = 1; k < objectsPerApp; k++) {
    const name = `${app}-obj-${String(k).padStart(2, '0')}`;
    switch (k % 10) {
      case 7:
        docs.push(
          `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\ntype: Opaque\nstringData:\n  token: "bench-${app}-${String(k)}"`,
        );
        break;
      case 8:
        docs.push(
          `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector:\n    app: ${app}\n  ports:\n    - port: 80\n      targetPort: 8080`,
        );
        break;
      case 9:
        docs.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}`);
        break;
      default:
        docs.push(
          `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  setting: "${String(k)}"\n  owner: ${app}`,
        );
    }
  }
  return `${docs.join('\n---\n')}\n`;
}

/** Files of a monorepo holding every application; `revisionOf(i)` is each application's revision. */
export function monorepoFiles(
  shape: FixtureShape,
  revisionOf: (index: number) => number,
): Record<string, string> {
  const files: Record<string, string> = {
    'README.md': `Benchmark monorepo: ${String(shape.apps)} applications × ${String(shape.objectsPerApp)} objects.\n`,
  };
  for (let i = 1; i <= shape.apps; i++)
    files[`${appFolder(i)}/manifests.yaml`] = appManifests(i, shape.objectsPerApp, revisionOf(i));
  return files;
}

/** The files of one application's own repository (manifests at the root folder `app`). */
export function repoPerAppFiles(
  index: number,
  objectsPerApp: number,
  revision: number,
): Record<string, string> {
  return { 'app/manifests.yaml': appManifests(index, objectsPerApp, revision) };
}
