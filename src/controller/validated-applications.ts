import { validateApplication, type Application } from '../contracts/application.ts';
import type { Validation } from '../contracts/validate.ts';
import type { KubeObject } from '../core/resource.ts';
import type { ValidatedBy } from './metrics.ts';

/** What is kept of an Application found valid: its version, and what says its spec is the same. */
interface Remembered {
  readonly version: string;
  readonly uid: string | undefined;
  readonly generation: number | undefined;
  /** The version the agent's own status write made of `version`, when it wrote one. */
  readonly written?: string;
}

/**
 * Validates Applications once per resourceVersion. A poll that finds nothing changed reads the same
 * version as the poll before it, and checking it against the schema again was a tenth of the agent's
 * CPU in the steady state (docs/benchmarks.md, tenth sitting). Only what it needs is kept: the last
 * version of each Application found valid as it is, not a copy of it.
 *
 * The version a poll reads is most often the one the agent's own status write made after the previous
 * one (a sync, a health change), never seen before: validating it again was 15 % of the agent's busy
 * time at 1000 applications (twelfth sitting), since with a long interval each is polled about once
 * between two writes. So the agent says which version its status write made (`wrote`), and that version
 * is answered valid without the schema when it still has the same uid and generation as the one
 * validated: the generation moves with every change of the spec (Applications have a status
 * subresource), metadata is checked only for its name and namespace, which cannot change, and the
 * status is what the agent wrote, which the API server checked against the CRD made from this same
 * schema (unknown fields pruned, types, enums, lengths, patterns).
 *
 * A version is remembered only when the object holds no null: validation drops nulls (as the API server
 * does for fields that are not nullable), so for such an object the value it answers is the object
 * itself, and answering the object on the next look is the same answer. An object that is not valid,
 * or carries a null, or has no resourceVersion (from a file, a request) is validated every time.
 */
export class ValidatedApplications {
  /** `namespace/name` → the version last found valid. */
  readonly #valid = new Map<string, Remembered>();
  readonly #onValidated: ((by: ValidatedBy) => void) | undefined;

  /** `onValidated` is told how each check was answered (for capstan_application_validations_total). */
  constructor(onValidated?: (by: ValidatedBy) => void) {
    this.#onValidated = onValidated;
  }

  validate(object: KubeObject): Validation<Application> {
    const key = keyOf(object);
    // No version (an object from a file or a request), or an empty one: nothing to remember it by.
    const version = object.metadata.resourceVersion || undefined;
    const known = version === undefined ? undefined : this.#valid.get(key);
    if (version !== undefined && known !== undefined) {
      if (known.version === version) return this.#remembered(object);
      if (known.written === version && sameSpec(known, object) && !holdsNull(object)) {
        this.#valid.set(key, { version, uid: known.uid, generation: known.generation });
        return this.#remembered(object);
      }
    }
    const validation = validateApplication(object);
    this.#onValidated?.('schema');
    if (validation.ok && version !== undefined && !holdsNull(object))
      this.#valid.set(key, {
        version,
        uid: object.metadata.uid,
        generation: object.metadata.generation,
      });
    else this.#valid.delete(key);
    return validation;
  }

  /**
   * The agent wrote the status of version `from` and the API server answered version `to`: when `from`
   * is the version found valid, `to` will be answered valid if its spec is still the same (`validate`).
   */
  wrote(namespace: string, name: string, from: string | undefined, to: string | undefined): void {
    const key = `${namespace}/${name}`;
    const known = this.#valid.get(key);
    if (known === undefined || from === undefined || to === undefined || known.version !== from) return;
    this.#valid.set(key, { ...known, written: to });
  }

  #remembered(object: KubeObject): Validation<Application> {
    this.#onValidated?.('remembered');
    return { ok: true, value: object as unknown as Application };
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

/** The same object (uid) at the same generation: the same spec. Unknown either way: not the same. */
function sameSpec(known: Remembered, object: KubeObject): boolean {
  return (
    known.uid !== undefined &&
    known.generation !== undefined &&
    object.metadata.uid === known.uid &&
    object.metadata.generation === known.generation
  );
}

/** Whether a null is anywhere in the value (at any depth validation looks at). */
function holdsNull(value: unknown, depth = 0): boolean {
  if (value === null) return true;
  if (depth > 64 || typeof value !== 'object') return false;
  for (const item of Array.isArray(value) ? value : Object.values(value))
    if (holdsNull(item, depth + 1)) return true;
  return false;
}
