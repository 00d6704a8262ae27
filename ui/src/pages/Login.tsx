// Login: a local user and password (POST /session); and single sign-on when the server offers it
// (GET /auth/config names its login route): a plain link to that route, the server does the rest and
// brings the browser back to the page it was on.
import { useEffect, useState, type SyntheticEvent } from 'react';
import { call, messageOf, query, useCsrfToken } from '../api.ts';
import type { AuthConfig, SessionInfo } from '../types.ts';

interface SingleSignOn {
  readonly href: string;
  readonly issuer: string;
}

/** Where single sign-on starts, when the server has a provider: a path of its own, never another origin. */
async function singleSignOn(signal: AbortSignal): Promise<SingleSignOn | undefined> {
  const config = await call<AuthConfig>('/auth/config', { signal, quietUnauthenticated: true });
  const loginUrl = config.sso?.loginUrl;
  if (config.sso === undefined || loginUrl === undefined || !/^\/(?![/\\])/.test(loginUrl)) return undefined;
  const here = `${window.location.pathname}${window.location.search}`;
  return {
    href: `${loginUrl}${query({ return: here === '/' ? undefined : here })}`,
    issuer: config.sso.issuer,
  };
}

export function LoginPage(props: { readonly onLoggedIn: () => void }) {
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<SingleSignOn | undefined>();
  useEffect(() => {
    const controller = new AbortController();
    singleSignOn(controller.signal).then(setSso, () => undefined);
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
        <p className="sso">
          <a className="button" href={sso.href}>
            Log in with single sign-on
          </a>{' '}
          <span className="muted">({sso.issuer})</span>
        </p>
      )}
    </main>
  );
}
