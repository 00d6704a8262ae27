/**
 * Kubernetes equality-based label selectors, as `kubectl get -l` takes them: `a=b`, `a==b`, `a!=b`,
 * `a` (exists), `!a` (absent), joined by commas. Set-based forms (`in`, `notin`) are refused by name.
 */
import { CapstanError } from '../core/errors.ts';

export type LabelRequirement =
  | { readonly key: string; readonly op: 'eq' | 'ne'; readonly value: string }
  | { readonly key: string; readonly op: 'exists' | 'absent' };

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Parses a selector; LABEL_SELECTOR_INVALID names the part it could not read. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  if (text.trim() === '') return [];
  return text.split(',').map((raw) => requirementOf(raw.trim(), text));
}

function requirementOf(part: string, whole: string): LabelRequirement {
  const bad = (why: string) =>
    new CapstanError(
      'LABEL_SELECTOR_INVALID',
      `label selector '${whole}': '${part}' ${why}; use a=b, a!=b, a or !a`,
    );
  if (/\s(in|notin)\s*\(/.test(part)) throw bad('is set-based, which this API does not take');
  const match = /^(!?)([^!=]+?)\s*(?:(==|=|!=)\s*(.*))?$/.exec(part);
  if (!match?.[2]) throw bad('is not a requirement');
  const [, not, key = '', op, value = ''] = match;
  if (!KEY.test(key)) throw bad('has an invalid key');
  if (op === undefined) return { key, op: not === '!' ? 'absent' : 'exists' };
  if (not === '!') throw bad('negates a key and compares it');
  if (!VALUE.test(value)) throw bad('has an invalid value');
  return { key, op: op === '!=' ? 'ne' : 'eq', value };
}

export function matchesLabels(
  labels: Readonly<Record<string, string>> | undefined,
  requirements: readonly LabelRequirement[],
): boolean {
  return requirements.every((r) => {
    const value = labels?.[r.key];
    switch (r.op) {
      case 'eq':
        return value === r.value;
      case 'ne':
        return value !== r.value;
      case 'exists':
        return value !== undefined;
      case 'absent':
        return value === undefined;
    }
  });
}
