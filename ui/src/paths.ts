// The addresses of the UI's pages: which page an address shows, and the addresses that data links to
// (an application's project and cluster, …).

export const projectPath = (name: string) => `/projects/${encodeURIComponent(name)}`;
export const clusterPath = (name: string) => `/clusters/${encodeURIComponent(name)}`;
/** A pipeline run: the UI's page and the API's resource have the same path. */
export const runPath = (id: string) => `/runs/${encodeURIComponent(id)}`;
/** A Pipeline: the UI's page and the API's resource have the same path. */
export const pipelinePath = (namespace: string, name: string) =>
  `/pipelines/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;

/** A promotion: the UI's page and the API's resource have the same path. */
export const promotionPath = (id: string) => `/promotions/${encodeURIComponent(id)}`;

/** The agent's own cluster: the destination of an Application that names none (never registered). */
export const IN_CLUSTER = 'in-cluster';

export type Route =
  | { readonly page: 'applications' }
  | { readonly page: 'application'; readonly namespace: string; readonly name: string }
  | { readonly page: 'projects' }
  | { readonly page: 'project'; readonly name: string }
  | { readonly page: 'clusters' }
  | { readonly page: 'cluster'; readonly name: string }
  | { readonly page: 'pipelines' }
  | { readonly page: 'pipeline'; readonly namespace: string; readonly name: string }
  | { readonly page: 'runs' }
  | { readonly page: 'run'; readonly id: string }
  | { readonly page: 'environments' }
  | { readonly page: 'promotion'; readonly id: string }
  | { readonly page: 'audit' }
  | { readonly page: 'tokens' }
  | { readonly page: 'not-found'; readonly path: string };

/** The page an address shows (pure: no window, so it is tested under Node). */
export function routeOf(pathname: string): Route {
  const parts = decodedParts(pathname);
  if (parts === undefined) return { page: 'not-found', path: pathname };
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'applications'))
    return { page: 'applications' };
  if (parts.length === 3 && parts[0] === 'applications' && parts[1] && parts[2])
    return { page: 'application', namespace: parts[1], name: parts[2] };
  if (parts.length === 1 && parts[0] === 'projects') return { page: 'projects' };
  if (parts.length === 2 && parts[0] === 'projects' && parts[1]) return { page: 'project', name: parts[1] };
  if (parts.length === 1 && parts[0] === 'clusters') return { page: 'clusters' };
  if (parts.length === 2 && parts[0] === 'clusters' && parts[1]) return { page: 'cluster', name: parts[1] };
  if (parts.length === 1 && parts[0] === 'pipelines') return { page: 'pipelines' };
  if (parts.length === 3 && parts[0] === 'pipelines' && parts[1] && parts[2])
    return { page: 'pipeline', namespace: parts[1], name: parts[2] };
  if (parts.length === 1 && parts[0] === 'runs') return { page: 'runs' };
  if (parts.length === 2 && parts[0] === 'runs' && parts[1]) return { page: 'run', id: parts[1] };
  if (parts.length === 1 && parts[0] === 'environments') return { page: 'environments' };
  if (parts.length === 2 && parts[0] === 'promotions' && parts[1]) return { page: 'promotion', id: parts[1] };
  if (parts.length === 1 && parts[0] === 'audit') return { page: 'audit' };
  if (parts.length === 1 && parts[0] === 'tokens') return { page: 'tokens' };
  return { page: 'not-found', path: pathname };
}

/** The path's segments decoded; undefined for a malformed escape (`%E0`), shown as not found. */
function decodedParts(pathname: string): string[] | undefined {
  try {
    return pathname
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent);
  } catch {
    return undefined;
  }
}
