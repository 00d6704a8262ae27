/**
 * A value loaded once and kept — but only once it loaded: a failed load (an API server restarting, a
 * CRD installed a moment later) is forgotten, so that the next call tries again. Calls while a load is
 * pending share it. The one rule for cached look-ups such as a served resource type.
 */
export function rememberSuccess<T>(load: () => Promise<T>): () => Promise<T> {
  let kept: Promise<T> | undefined;
  return () => {
    if (kept) return kept;
    const pending = load();
    kept = pending;
    pending.catch(() => {
      if (kept === pending) kept = undefined;
    });
    return pending;
  };
}
