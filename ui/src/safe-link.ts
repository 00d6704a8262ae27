// Links from data the UI does not control (repository URLs, annotations, manifests): only http and https
// URLs become links; anything else (javascript:, data:, vbscript:, file:, relative tricks, control
// characters) is shown as inert text. Browsers strip tabs and newlines inside a scheme
// ("java\tscript:"), so the URL is parsed as the browser would, and its parsed protocol decides.

const SAFE_PROTOCOLS = new Set(['http:', 'https:']);

/** The href to render for `text`, or undefined when it must stay text. */
export function safeHref(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.length > 2048) return undefined;
  // Must be absolute and say its scheme itself: no scheme-relative (//evil) or relative URLs.
  if (!/^https?:\/\//i.test(trimmed)) return undefined;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return undefined;
  }
  if (!SAFE_PROTOCOLS.has(url.protocol)) return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  return url.href;
}

/** A repository URL as a web link: https URLs as they are, `git@host:path` and ssh URLs stay text. */
export function repositoryHref(repoURL: string): string | undefined {
  return safeHref(repoURL.replace(/\.git$/, ''));
}
