import { formatId, keyOf, type ResourceId } from './resource.ts';

/**
 * A selection of resources for a sync of part of an application (Argo CD's selective sync): each
 * selector names a resource by group, kind, namespace and name. A namespace of '' names a
 * cluster-scoped resource, or a namespaced one in the application's destination namespace (where the
 * render puts objects that name none).
 */
export type ResourceSelector = ResourceId;

/** Kubernetes names, kinds and groups never hold these: they separate selectors in an annotation. */
const FORBIDDEN = /[,;\s]/;

/**
 * A selector from the command line: `[GROUP/]KIND/[NAMESPACE/]NAME`. A Kind starts with a capital
 * letter and a group never does, so `apps/Deployment/web` is GROUP/KIND/NAME and
 * `Deployment/prod/web` is KIND/NAMESPACE/NAME; `/ConfigMap/prod/settings` names the core group.
 * An omitted group is `undefined` (the caller finds it among the application's resources).
 */
export function parseResourceArgument(text: string): Omit<ResourceSelector, 'group'> & {
  readonly group: string | undefined;
} {
  const usage = `'${text}' is not a resource: give [GROUP/]KIND/[NAMESPACE/]NAME, e.g. apps/Deployment/web or ConfigMap/prod/settings`;
  const parts = text.split('/');
  if (FORBIDDEN.test(text) || parts.length < 2 || parts.length > 4) throw new RangeError(usage);
  const isKind = (s: string | undefined) => s !== undefined && /^[A-Z][A-Za-z0-9]*$/.test(s);
  let group: string | undefined;
  let kind: string | undefined;
  let namespace = '';
  let name: string | undefined;
  if (parts.length === 2) [kind, name] = parts;
  else if (parts.length === 4) [group, kind, namespace = '', name] = parts;
  else if (isKind(parts[0])) [kind, namespace = '', name] = parts;
  else [group, kind, name] = parts;
  if (!isKind(kind) || name === undefined || name === '' || (parts.length === 4 && namespace === ''))
    throw new RangeError(usage);
  return { group, kind: kind as string, namespace, name };
}

/**
 * The selection as the sync annotation carries it: `group/Kind/namespace/name` (keyOf) joined by
 * commas, sorted and without repeats. Throws for a selector holding a comma, semicolon or space.
 */
export function encodeSelection(selection: readonly ResourceSelector[]): string {
  for (const s of selection)
    if ([s.group, s.kind, s.namespace, s.name].some((part) => FORBIDDEN.test(part) || part.includes('/')))
      throw new RangeError(`'${formatId(s)}' is not a resource name (no '/', ',', ';' or spaces)`);
  return [...new Set(selection.map(keyOf))].sort().join(',');
}

/** The selection read back from encodeSelection; undefined when the text is not one. */
export function decodeSelection(text: string): ResourceSelector[] | undefined {
  if (text === '' || /[;\s]/.test(text)) return undefined;
  const selection: ResourceSelector[] = [];
  for (const key of text.split(',')) {
    const parts = key.split('/');
    if (parts.length !== 4) return undefined;
    const [group = '', kind = '', namespace = '', name = ''] = parts;
    if (kind === '' || name === '') return undefined;
    selection.push({ group, kind, namespace, name });
  }
  return selection;
}

/** Whether `id` (an object of the render, its namespace filled in) is what `selector` names. */
export function selects(selector: ResourceSelector, id: ResourceId, defaultNamespace: string): boolean {
  if (selector.group !== id.group || selector.kind !== id.kind || selector.name !== id.name) return false;
  if (selector.namespace === id.namespace) return true;
  return selector.namespace === '' && id.namespace === defaultNamespace;
}

/** The ids a selection keeps, and the selectors that name nothing among them. */
export function applySelection<T extends { readonly id: ResourceId }>(
  items: readonly T[],
  selection: readonly ResourceSelector[],
  defaultNamespace: string,
): { readonly selected: T[]; readonly missing: ResourceSelector[] } {
  const missing = selection.filter((s) => !items.some((item) => selects(s, item.id, defaultNamespace)));
  const selected = items.filter((item) => selection.some((s) => selects(s, item.id, defaultNamespace)));
  return { selected, missing };
}

/** `Kind/namespace/name` of each selector, for messages (`Kind/name` for '' namespaces). */
export function describeSelection(selection: readonly ResourceSelector[]): string {
  return selection.map(formatId).join(', ');
}

/** A selection against a render and what the application owns (its inventory, or its managed resources). */
export interface SelectionSplit<T> {
  /** The objects of the render it names. */
  readonly selected: T[];
  /** With prune: owned resources it names that left the render (to be pruned, and only those). */
  readonly departed: ResourceId[];
  /** Selectors that name nothing of the render nor anything owned. */
  readonly unknown: ResourceSelector[];
  /** Without prune: selectors that name an owned resource that left the render. */
  readonly unpruned: ResourceSelector[];
}

/**
 * Splits a selection: the rendered objects it names; the owned resources it names that left the
 * render (departed, with prune; unpruned without); and what it names that neither holds.
 */
export function splitSelection<T extends { readonly id: ResourceId }>(
  rendered: readonly T[],
  owned: readonly ResourceId[],
  selection: readonly ResourceSelector[],
  context: { readonly namespace: string; readonly prune: boolean },
): SelectionSplit<T> {
  const { selected, missing } = applySelection(rendered, selection, context.namespace);
  const left = applySelection(
    owned.map((id) => ({ id })),
    missing,
    context.namespace,
  );
  return {
    selected,
    departed: context.prune ? left.selected.map((o) => o.id) : [],
    unknown: left.missing,
    unpruned: context.prune ? [] : missing.filter((s) => !left.missing.includes(s)),
  };
}

/** Why a split selection cannot be synced, one reason per selector at fault (none: it can). */
export function selectionProblems(
  split: Pick<SelectionSplit<unknown>, 'unknown' | 'unpruned'>,
  hooks: readonly ResourceId[] = [],
): string[] {
  return [
    ...split.unknown.map((s) => `${formatId(s)} is not in the desired state`),
    ...split.unpruned.map(
      (s) =>
        `${formatId(s)} is not in the desired state (it left it; the application still owns it): select it with prune to delete it`,
    ),
    ...hooks.map((id) => `${formatId(id)} is a hook, and a sync of a selection runs no hooks`),
  ];
}
