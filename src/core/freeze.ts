/**
 * Freezes a value and everything it holds (objects and arrays, at any depth), in place, and returns it.
 * For a cache that hands out its own copy instead of a clone: a reader that tries to change it throws
 * a TypeError (modules run in strict mode) instead of changing what the next reader gets. Iterative,
 * so that a deeply nested document (the API server accepts thousands of levels) cannot overflow the
 * stack. An object frozen already is taken as frozen whole (as this function leaves it) and not walked
 * again.
 */
export function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null || Object.isFrozen(next)) continue;
    Object.freeze(next);
    for (const child of Object.values(next))
      if (typeof child === 'object' && child !== null) pending.push(child);
  }
  return value;
}
