// API tokens for CI: the caller's tokens (never their secrets), a new one (shown once), revoke.
// Creating needs the admin role in a project (a global admin may create one for every project: '*').
import { useState, type SyntheticEvent } from 'react';
import { call } from '../api.ts';
import { ActionButton } from '../components/Dialog.tsx';
import { Empty, Failure, Loading } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import { adminProjects } from '../permissions.ts';
import { useSession } from '../session.ts';
import type { CreatedToken, TokenInfo, TokenRequest } from '../types.ts';

export default function TokensPage() {
  const [tokens, reload] = useLoad('tokens', (signal) => call<{ items: TokenInfo[] }>('/tokens', { signal }));
  const [created, setCreated] = useState<CreatedToken | undefined>();
  const [error, setError] = useState<unknown>();
  const revoke = (id: string) => {
    setError(undefined);
    call(`/tokens/${id}`, { method: 'DELETE' }).then(reload, setError);
  };
  return (
    <section aria-labelledby="tokens-title">
      <h1 id="tokens-title">API tokens</h1>
      <p className="muted">
        For CI and scripts: send one as <code>Authorization: Bearer …</code>. A token acts in one project with
        one role, until it expires or is revoked.
      </p>
      <NewToken
        onCreated={(token) => {
          setCreated(token);
          reload();
        }}
      />
      {created === undefined ? null : (
        <div className="notice" role="status">
          <p>
            Token <strong>{created.info.name}</strong> created. Copy it now: it is not shown again.
          </p>
          <input
            readOnly
            className="secret"
            value={created.token}
            aria-label="The new token"
            onFocus={(e) => {
              e.target.select();
            }}
          />
        </div>
      )}
      {error === undefined ? null : <Failure error={error} />}
      {tokens.state === 'loading' ? (
        <Loading what="your tokens" />
      ) : tokens.state === 'failed' ? (
        <Failure error={tokens.error} retry={reload} />
      ) : tokens.value.items.length === 0 ? (
        <Empty>No token yet.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Project</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="visually-hidden">Revoke</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.value.items.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>{t.project}</td>
                <td>{t.role}</td>
                <td>
                  {new Date(t.createdAt).toLocaleDateString()} by {t.createdBy}
                </td>
                <td>{t.revokedAt === undefined ? new Date(t.expiresAt).toLocaleDateString() : 'revoked'}</td>
                <td>
                  {t.revokedAt === undefined ? (
                    <ActionButton
                      label="Revoke"
                      onClick={() => {
                        revoke(t.id);
                      }}
                    />
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function NewToken(props: { readonly onCreated: (token: CreatedToken) => void }) {
  const grants = useSession();
  const projects = adminProjects(grants);
  const [form, setForm] = useState<TokenRequest>({
    name: '',
    project: projects[0] ?? '',
    role: 'viewer',
    expiresInDays: 90,
  });
  const [error, setError] = useState<unknown>();
  const denied =
    projects.length === 0
      ? 'Creating a token needs the admin role in a project; you have it in none.'
      : undefined;
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    setError(undefined);
    call<CreatedToken>('/tokens', { method: 'POST', body: form }).then(props.onCreated, setError);
  };
  return (
    <form className="filters new-token" onSubmit={submit} aria-label="New token">
      <fieldset disabled={denied !== undefined}>
        <legend>New token</legend>
        <label>
          Name
          <input
            required
            maxLength={100}
            value={form.name}
            placeholder="ci-deploy-web"
            onChange={(e) => {
              setForm({ ...form, name: e.target.value });
            }}
          />
        </label>
        <label>
          Project
          <select
            value={form.project}
            onChange={(e) => {
              setForm({ ...form, project: e.target.value });
            }}
          >
            {projects.map((p) => (
              <option key={p} value={p}>
                {p === '*' ? 'every project (*)' : p}
              </option>
            ))}
          </select>
        </label>
        <label>
          Role
          <select
            value={form.role}
            onChange={(e) => {
              setForm({ ...form, role: e.target.value as TokenRequest['role'] });
            }}
          >
            <option>viewer</option>
            <option>deployer</option>
            <option>admin</option>
          </select>
        </label>
        <label>
          Days
          <input
            type="number"
            min={1}
            max={366}
            value={form.expiresInDays ?? 90}
            onChange={(e) => {
              setForm({ ...form, expiresInDays: Number(e.target.value) });
            }}
          />
        </label>
        <button type="submit" className="primary">
          Create
        </button>
      </fieldset>
      {denied === undefined ? null : <p className="reason">{denied}</p>}
      {error === undefined ? null : <Failure error={error} />}
    </form>
  );
}
