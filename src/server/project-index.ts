/**
 * The server's watch cache of Projects (cluster-scoped, src/contracts/project.ts): the role bindings
 * every authorization reads. A Project that fails validation grants nothing (its roles are ignored)
 * and is reported once per version through `onInvalid`.
 */
import type { KubeObject } from '../core/resource.ts';
import { resolveProject, validateProject } from '../contracts/project.ts';
import type { WatchEvent } from '../ports/watch.ts';
import type { ProjectAccess, ProjectDirectory } from './access.ts';

export class ProjectIndex implements ProjectDirectory {
  readonly #projects = new Map<string, ProjectAccess>();
  readonly #onInvalid: (project: KubeObject, errors: readonly string[]) => void;
  #sorted: ProjectAccess[] | undefined;
  #synced = false;

  constructor(options: { onInvalid?: (project: KubeObject, errors: readonly string[]) => void } = {}) {
    this.#onInvalid = options.onInvalid ?? (() => undefined);
  }

  get synced(): boolean {
    return this.#synced;
  }

  readonly handle = (event: WatchEvent): void => {
    if (event.type === 'SYNCED') {
      this.#synced = true;
      return;
    }
    const name = event.object.metadata.name ?? '';
    this.#sorted = undefined;
    if (event.type === 'DELETED') {
      this.#projects.delete(name);
      return;
    }
    const checked = validateProject(event.object);
    if (!checked.ok) {
      this.#projects.delete(name);
      this.#onInvalid(event.object, checked.errors);
      return;
    }
    const { spec } = checked.value;
    const resolved = resolveProject(checked.value);
    this.#projects.set(name, {
      name,
      ...(spec.description === undefined ? {} : { description: spec.description }),
      roles: resolved.roles,
      rules: {
        applicationNamespaces: resolved.applicationNamespaces,
        sourceRepos: resolved.sourceRepos,
        destinations: resolved.destinations.map((d) => ({ cluster: d.cluster, namespace: d.namespace })),
      },
    });
  };

  get(name: string): ProjectAccess | undefined {
    return this.#projects.get(name);
  }

  list(): readonly ProjectAccess[] {
    this.#sorted ??= [...this.#projects.values()].sort((a, b) => a.name.localeCompare(b.name));
    return this.#sorted;
  }
}
