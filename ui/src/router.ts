// Client routes over the History API: the server answers index.html for each of them (SPA fallback).
import { useEffect, useState } from 'react';

export type Route =
  | { readonly page: 'applications' }
  | { readonly page: 'application'; readonly namespace: string; readonly name: string }
  | { readonly page: 'projects' }
  | { readonly page: 'project'; readonly name: string }
  | { readonly page: 'clusters' }
  | { readonly page: 'cluster'; readonly name: string }
  | { readonly page: 'audit' }
  | { readonly page: 'tokens' }
  | { readonly page: 'not-found'; readonly path: string };

export function routeOf(pathname: string): Route {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'applications'))
    return { page: 'applications' };
  if (parts.length === 3 && parts[0] === 'applications' && parts[1] && parts[2])
    return { page: 'application', namespace: parts[1], name: parts[2] };
  if (parts.length === 1 && parts[0] === 'projects') return { page: 'projects' };
  if (parts.length === 2 && parts[0] === 'projects' && parts[1]) return { page: 'project', name: parts[1] };
  if (parts.length === 1 && parts[0] === 'clusters') return { page: 'clusters' };
  if (parts.length === 2 && parts[0] === 'clusters' && parts[1]) return { page: 'cluster', name: parts[1] };
  if (parts.length === 1 && parts[0] === 'audit') return { page: 'audit' };
  if (parts.length === 1 && parts[0] === 'tokens') return { page: 'tokens' };
  return { page: 'not-found', path: pathname };
}

const listeners = new Set<() => void>();

export function navigate(to: string): void {
  if (to === window.location.pathname + window.location.search) return;
  window.history.pushState(null, '', to);
  for (const listener of listeners) listener();
}

export function useLocation(): { pathname: string; search: string } {
  const [location, setLocation] = useState(() => ({
    pathname: window.location.pathname,
    search: window.location.search,
  }));
  useEffect(() => {
    const update = () => {
      setLocation({ pathname: window.location.pathname, search: window.location.search });
    };
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return location;
}
