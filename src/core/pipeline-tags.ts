/**
 * The tags an image step pushes: templates from the pipeline file (`{commit}`, `{branch}`, `v{tag}`)
 * filled from the run's revision. Pure.
 */

/** What a tag template may name: the full commit, its first 12 characters, the branch, the tag pushed. */
export const TAG_PLACEHOLDERS = ['commit', 'shortCommit', 'branch', 'tag'] as const;
export type TagPlaceholder = (typeof TAG_PLACEHOLDERS)[number];

/** The revision a run builds. */
export interface TagRevision {
  readonly commit: string;
  /** The branch, when the run is of a branch (a push, a pull request's head, a manual run). */
  readonly branch?: string;
  /** The tag, when the run is of a pushed tag. */
  readonly tag?: string;
}

/** An OCI tag: at most 128 of letters, digits, _ . -, not starting with . or -. */
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * The tags of `templates` for `revision`, in order, without repeats. A template that names what the
 * revision does not have (`{tag}` on a branch push) gives no tag; a branch's `/` becomes `-`.
 */
export function renderImageTags(templates: readonly string[], revision: TagRevision): string[] {
  const values: Record<TagPlaceholder, string | undefined> = {
    commit: revision.commit,
    shortCommit: revision.commit.slice(0, 12),
    branch: revision.branch?.replace(/[^A-Za-z0-9_.-]/g, '-'),
    tag: revision.tag?.replace(/[^A-Za-z0-9_.-]/g, '-'),
  };
  const tags: string[] = [];
  for (const template of templates) {
    const tag = fillTemplate(template, values);
    if (tag !== undefined && OCI_TAG.test(tag) && !tags.includes(tag)) tags.push(tag);
  }
  return tags;
}

/** Names in `template` that are not placeholders (for the file's validation). */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(/\{([^}]*)\}/g)]
    .map((m) => m[1] ?? '')
    .filter((name) => !(TAG_PLACEHOLDERS as readonly string[]).includes(name));
}

function fillTemplate(
  template: string,
  values: Record<TagPlaceholder, string | undefined>,
): string | undefined {
  const named = [...template.matchAll(/\{([a-zA-Z]+)\}/g)].map((m) => m[1] ?? '');
  const lookup = values as Record<string, string | undefined>;
  if (named.some((name) => (lookup[name] ?? '') === '')) return undefined;
  return template.replace(/\{([a-zA-Z]+)\}/g, (_whole, name: string) => lookup[name] ?? '');
}
