// Login: a local user and password (POST /session); and single sign-on when the server offers it
// (its OpenAPI document lists an OIDC login route): a plain link to that route, the server does the rest.
import { useEffect, useState, type SyntheticEvent } from 'react';
import { API, call, messageOf, useCsrfToken } from '../api.ts';
import type { SessionInfo } from '../types.ts';

/** The server's SSO login route, when its OpenAPI document has one. */
async function ssoRoute(signal: AbortSignal): Promise<string | undefined> {
  const response = await fetch(`${API}/openapi.json`, { signal });
  if (!response.ok) return undefined;
  const document = (await response.json()) as { paths?: Record<string, { get?: unknown }> };
  return Object.keys(document.paths ?? {}).find(
    (path) => /\/(oidc|sso)\b/i.test(path) && /login|authorize|start/i.test(path) && !path.includes('{'),
  );
}

export function LoginPage(props: { readonly onLoggedIn: () => void }) {
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<string | undefined>();
  useEffect(() => {
    const controller = new AbortController();
    ssoRoute(controller.signal).then(setSso, () => undefined);
    return () => {
      controller.abort();
    };
  }, []);
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    call<SessionInfo>('/session', {
      method: 'POST',
      body: { username, password },
      quietUnauthenticated: true,
    })
      .then((session) => {
        useCsrfToken(session.csrfToken);
        props.onLoggedIn();
      })
      .catch((failure: unknown) => {
        setError(messageOf(failure));
        setBusy(false);
      });
  };
  return (
    <main className="login" id="main">
      <h1>Capstan</h1>
      <p className="muted">GitOps delivery: what runs where, and how it got there.</p>
      <form onSubmit={submit} aria-describedby={error === undefined ? undefined : 'login-error'}>
        <label>
          User name
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => {
              setUsername(e.target.value);
            }}
            required
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => {
              setPassword(e.target.value);
            }}
            required
          />
        </label>
        {error === undefined ? null : (
          <p id="login-error" className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      {sso === undefined ? null : (
        <p>
          <a className="button" href={sso}>
            Log in with single sign-on
          </a>
        </p>
      )}
    </main>
  );
}
