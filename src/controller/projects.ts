import { validateProject, type ProjectLookup } from '../contracts/project.ts';
import type { KubeObject } from '../core/resource.ts';

export interface ProjectCacheOptions {
  /** Every Project of the cluster (one list; none when the CRD is not installed). */
  readonly list: () => Promise<readonly KubeObject[]>;
  /** The Projects are listed again at most this often. Default 5 s. */
  readonly refreshMs?: number;
  readonly now?: () => number;
}

/**
 * The Projects, by name, for the reconciles: one list every `refreshMs` for all Applications instead of
 * one read per reconcile. A changed Project takes effect within that time. A list that fails is not
 * kept: the next lookup lists again (and the reconcile that saw the error retries).
 */
export class ProjectCache {
  readonly #options: ProjectCacheOptions;
  readonly #now: () => number;
  #snapshot: { at: number; byName: Promise<Map<string, ProjectLookup>> } | undefined;

  constructor(options: ProjectCacheOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  async get(name: string): Promise<ProjectLookup> {
    const now = this.#now();
    const snapshot = this.#snapshot;
    if (!snapshot || now - snapshot.at >= (this.#options.refreshMs ?? 5_000)) {
      const byName = this.#options.list().then(indexByName);
      const fresh = { at: now, byName };
      this.#snapshot = fresh;
      byName.catch(() => {
        if (this.#snapshot === fresh) this.#snapshot = undefined;
      });
    }
    const byName = await (this.#snapshot ?? snapshot)?.byName;
    return byName?.get(name) ?? { kind: 'missing' };
  }
}

function indexByName(objects: readonly KubeObject[]): Map<string, ProjectLookup> {
  const byName = new Map<string, ProjectLookup>();
  for (const object of objects) {
    const name = object.metadata.name;
    if (name === undefined) continue;
    const validation = validateProject(object);
    byName.set(
      name,
      validation.ok
        ? { kind: 'found', project: validation.value }
        : { kind: 'invalid', errors: validation.errors },
    );
  }
  return byName;
}
