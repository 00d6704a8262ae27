// A Pipeline's pull requests from forks: what its spec.forkPullRequests does with them and the authors
// its status approves (GET /pipelines/NS/NAME answers them to whoever may read the Pipeline), each with
// Revoke (DELETE …/approved-authors/LOGIN, as `capstan pipeline revoke`): their next runs wait for an
// approval again. A role that may not run the Pipeline's runs sees the list without the buttons, and
// why; the API refuses a revoke anyway.
import { useState } from 'react';
import { call } from '../api.ts';
import { pipelinePath, runPath } from '../paths.ts';
import { permit } from '../permissions.ts';
import { useSession } from '../session.ts';
import type { PipelineInfo } from '../types.ts';
import { Link } from './Link.tsx';
import { Empty, Failure } from './States.tsx';
import { TableScroll } from './TableScroll.tsx';

/** What each mode of spec.forkPullRequests does with a pull request from a fork. */
const MODES: Readonly<Record<string, string>> = {
  Ignore: 'start no run (spec.forkPullRequests: Ignore).',
  RunWithoutSecrets: 'run without the Pipeline’s secrets (spec.forkPullRequests: RunWithoutSecrets).',
  RequireApproval:
    'run without the Pipeline’s secrets once someone who may run its runs approves one; its author’s next pull requests then run without waiting, until the approval is revoked (spec.forkPullRequests: RequireApproval).',
};

export function ForkAuthors(props: { readonly pipeline: PipelineInfo; readonly onChanged: () => void }) {
  const { pipeline } = props;
  const authors = pipeline.approvedForkAuthors ?? [];
  const mode = pipeline.forkPullRequests ?? 'Ignore';
  const allowed = permit(useSession(), pipeline.project, 'sync', { as: 'Revoking an approval' });
  const [busy, setBusy] = useState<string | undefined>();
  const [revoked, setRevoked] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const revoke = (login: string) => {
    setBusy(login);
    setError(undefined);
    setRevoked(undefined);
    const path = `${pipelinePath(pipeline.namespace, pipeline.name)}/approved-authors/${encodeURIComponent(login)}`;
    call<{ revoked: string }>(path, { method: 'DELETE' }).then(
      (answer) => {
        setBusy(undefined);
        setRevoked(answer.revoked);
        props.onChanged();
      },
      (failure: unknown) => {
        setBusy(undefined);
        setError(failure);
      },
    );
  };
  return (
    <section className="fork-pull-requests" aria-labelledby="fork-authors-title">
      <h2 id="fork-authors-title">Pull requests from forks</h2>
      <p className="muted">Pull requests from forks {MODES[mode] ?? `(spec.forkPullRequests: ${mode})`}</p>
      {authors.length === 0 ? (
        mode === 'RequireApproval' ? (
          <Empty>No author approved yet: each pull request from a fork waits for an approval.</Empty>
        ) : null
      ) : (
        <TableScroll label="Approved authors of pull requests from forks">
          <table className="fork-authors">
            <caption>Approved authors: their pull requests from forks run without waiting</caption>
            <thead>
              <tr>
                <th scope="col">Author</th>
                <th scope="col">Approved by</th>
                <th scope="col">When</th>
                <th scope="col">Run approved</th>
                {allowed.allowed ? <th scope="col">Approval</th> : null}
              </tr>
            </thead>
            <tbody>
              {authors.map((author) => (
                <tr key={author.login}>
                  <td>{author.login}</td>
                  <td>{author.by}</td>
                  <td>{new Date(author.at).toLocaleString()}</td>
                  <td>
                    {author.run === undefined ? '' : <Link to={runPath(author.run)}>{author.run}</Link>}
                  </td>
                  {allowed.allowed ? (
                    <td>
                      <button
                        type="button"
                        disabled={busy !== undefined}
                        aria-label={`Revoke ${author.login}’s approval`}
                        onClick={() => {
                          revoke(author.login);
                        }}
                      >
                        {busy === author.login ? 'Revoke…' : 'Revoke'}
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {authors.length > 0 && !allowed.allowed ? (
        <p className="reason" id="revoke-reason">
          {allowed.reason}
        </p>
      ) : null}
      <p role="status" className="revoked">
        {revoked === undefined
          ? ''
          : `${revoked}’s approval is revoked: their next pull requests from forks wait for an approval again.`}
      </p>
      {error === undefined ? null : <Failure error={error} />}
    </section>
  );
}
