// The one way the UI talks to the server: same-origin fetch with the session cookie, the CSRF token on
// every unsafe request, and errors as ApiError carrying the server's stable code and message.
import type { ErrorBody } from './types.ts';

export const API = '/api/v1';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly permission: string | undefined;
  readonly project: string | undefined;

  constructor(status: number, body: Partial<ErrorBody>) {
    super(body.message ?? `the server answered ${status}`);
    this.status = status;
    this.code = body.error ?? `HTTP_${status}`;
    this.permission = body.permission;
    this.project = body.project;
  }
}

let csrfToken: string | undefined;

/** Set from the session (login or who-am-I); sent back as X-CSRF-Token on POST/PUT/DELETE. */
export function useCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Listeners told when the server says the session is gone (401), so the app shows the login. */
const unauthenticated = new Set<() => void>();
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticated.add(listener);
  return () => unauthenticated.delete(listener);
}

export interface CallOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** A 401 is expected (who-am-I at start): do not announce it. */
  readonly quietUnauthenticated?: boolean;
}

export async function call<T>(path: string, options: CallOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(`${API}${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.text();
  const body: unknown = text === '' ? undefined : parseJson(text);
  if (response.ok) return body as T;
  if (response.status === 401 && options.quietUnauthenticated !== true)
    for (const listener of unauthenticated) listener();
  throw new ApiError(response.status, body ?? {});
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: 'BAD_ANSWER', message: 'the server answered something that is not JSON' };
  }
}

/** A query string from defined, non-empty values only. */
export function query(values: Readonly<Record<string, string | undefined>>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values))
    if (value !== undefined && value !== '') params.set(key, value);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export const appPath = (namespace: string, name: string) =>
  `/applications/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
