import { validateApplication, type Application } from '../contracts/application.ts';
import type { Validation } from '../contracts/validate.ts';
import type { KubeObject } from '../core/resource.ts';

/**
 * Validates Applications once per resourceVersion. A poll that finds nothing changed reads the same
 * version as the poll before it, and checking it against the schema again was a tenth of the agent's
 * CPU in the steady state (docs/benchmarks.md, tenth sitting). Only what it needs is kept: the last
 * version of each Application found valid as it is, not a copy of it.
 *
 * A version is remembered only when the object holds no null: validation drops nulls (as the API server
 * does for fields that are not nullable), so for such an object the value it answers is the object
 * itself, and answering the object on the next look is the same answer. An object that is not valid,
 * or carries a null, or has no resourceVersion (from a file, a request) is validated every time.
 */
export class ValidatedApplications {
  /** `namespace/name` → the resourceVersion last found valid. */
  readonly #valid = new Map<string, string>();

  validate(object: KubeObject): Validation<Application> {
    const key = keyOf(object);
    // No version (an object from a file or a request), or an empty one: nothing to remember it by.
    const version = object.metadata.resourceVersion || undefined;
    if (version !== undefined && this.#valid.get(key) === version)
      return { ok: true, value: object as unknown as Application };
    const validation = validateApplication(object);
    if (validation.ok && version !== undefined && !holdsNull(object)) this.#valid.set(key, version);
    else this.#valid.delete(key);
    return validation;
  }

  /** Forgets an Application (deleted): its key may come back as another object. */
  forget(namespace: string, name: string): void {
    this.#valid.delete(`${namespace}/${name}`);
  }

  /** How many are remembered (for tests). */
  get size(): number {
    return this.#valid.size;
  }
}

function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? 'default'}/${object.metadata.name ?? ''}`;
}

/** Whether a null is anywhere in the value (at any depth validation looks at). */
function holdsNull(value: unknown, depth = 0): boolean {
  if (value === null) return true;
  if (depth > 64 || typeof value !== 'object') return false;
  for (const item of Array.isArray(value) ? value : Object.values(value))
    if (holdsNull(item, depth + 1)) return true;
  return false;
}
