// The syncs, newest first, and a rollback to any earlier successful one. The confirmation says what
// will change: the revision now and the one put back (commit, author, what that sync did), and that
// automated sync then holds until a newer commit or a release.
import { useState } from 'react';
import { appPath, call } from '../../api.ts';
import { ActionButton, Dialog } from '../../components/Dialog.tsx';
import { Empty, Failure, Loading } from '../../components/States.tsx';
import { useLoad } from '../../hooks.ts';
import { permit } from '../../permissions.ts';
import { useSession } from '../../session.ts';
import type { Application, HistoryEntry, HistoryPage } from '../../types.ts';
import { shortRevision } from '../../revision.ts';

export function HistoryTab(props: { readonly app: Application; readonly onChanged: () => void }) {
  const path = appPath(props.app.metadata.namespace ?? '', props.app.metadata.name);
  const [history, reload] = useLoad(`${path}/history@${props.app.metadata.resourceVersion ?? ''}`, (signal) =>
    call<HistoryPage>(`${path}/history`, { signal }),
  );
  const grants = useSession();
  const [target, setTarget] = useState<HistoryEntry | undefined>();
  if (history.state === 'loading') return <Loading what="the history" />;
  if (history.state === 'failed') return <Failure error={history.error} retry={reload} />;
  const items = history.value.items;
  if (items.length === 0) return <Empty>No sync recorded yet.</Empty>;
  const current = props.app.status?.sync?.revision ?? items[0]?.revision;
  const decision = permit(grants, props.app.spec.project ?? 'default', 'rollback');
  return (
    <>
      {history.value.hold ? (
        <p className="notice">
          Automated sync holds at <code>{shortRevision(history.value.hold.revision)}</code>
          {history.value.hold.reason === undefined ? '' : `: ${history.value.hold.reason}`}
        </p>
      ) : null}
      <div className="table-scroll">
        <table className="history">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Revision</th>
              <th scope="col">Commit</th>
              <th scope="col">Result</th>
              <th scope="col">What it did</th>
              <th scope="col">Finished</th>
              <th scope="col">
                <span className="visually-hidden">Rollback</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((entry) => (
              <tr key={entry.id}>
                <td>{entry.id}</td>
                <td>
                  <code>{shortRevision(entry.revision)}</code>
                  {entry.revision === current ? <span className="badge">current</span> : null}
                </td>
                <td className="message">
                  {entry.message ?? ''}
                  {entry.author === undefined ? '' : ` (${entry.author})`}
                </td>
                <td>{entry.result}</td>
                <td>
                  {entry.summary ?? ''}
                  {entry.resources === undefined ? null : (
                    <div className="muted">partial sync: {entry.resources.join(', ')}</div>
                  )}
                </td>
                <td>
                  {entry.finishedAt === undefined ? 'running' : new Date(entry.finishedAt).toLocaleString()}
                </td>
                <td>
                  {entry.result === 'Succeeded' && entry.revision !== current ? (
                    <ActionButton
                      id={`rollback-${String(entry.id)}`}
                      label="Roll back…"
                      denied={decision.allowed ? undefined : decision.reason}
                      onClick={() => {
                        setTarget(entry);
                      }}
                    />
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {target === undefined ? null : (
        <RollbackDialog
          app={props.app}
          target={target}
          current={items.find((e) => e.revision === current)}
          onClose={() => {
            setTarget(undefined);
          }}
          onDone={() => {
            setTarget(undefined);
            props.onChanged();
          }}
        />
      )}
    </>
  );
}

function RollbackDialog(props: {
  readonly app: Application;
  readonly target: HistoryEntry;
  readonly current: HistoryEntry | undefined;
  readonly onClose: () => void;
  readonly onDone: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const { target, current } = props;
  const confirm = () => {
    setBusy(true);
    setError(undefined);
    call(`${appPath(props.app.metadata.namespace ?? '', props.app.metadata.name)}/rollback`, {
      method: 'POST',
      body: { resourceVersion: props.app.metadata.resourceVersion, target: String(target.id) },
    }).then(props.onDone, (failure: unknown) => {
      setError(failure);
      setBusy(false);
    });
  };
  return (
    <Dialog title={`Roll back ${props.app.metadata.name}?`} onClose={props.onClose}>
      <p>The agent puts back the desired state of an earlier sync. What changes:</p>
      <table className="compare">
        <thead>
          <tr>
            <th scope="col" />
            <th scope="col">Now</th>
            <th scope="col">After the rollback</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">Revision</th>
            <td>
              <code>{shortRevision(current?.revision ?? props.app.status?.sync?.revision ?? 'unknown')}</code>
            </td>
            <td>
              <code>{shortRevision(target.revision)}</code>
            </td>
          </tr>
          <tr>
            <th scope="row">Commit</th>
            <td>{current?.message ?? ''}</td>
            <td>{target.message ?? ''}</td>
          </tr>
          <tr>
            <th scope="row">Author</th>
            <td>{current?.author ?? ''}</td>
            <td>{target.author ?? ''}</td>
          </tr>
          <tr>
            <th scope="row">Rendered state</th>
            <td>
              <code>{(current?.digest ?? '').slice(0, 19)}</code>
            </td>
            <td>
              <code>{(target.digest ?? '').slice(0, 19)}</code>
            </td>
          </tr>
          <tr>
            <th scope="row">That sync did</th>
            <td>{current?.summary ?? ''}</td>
            <td>{target.summary ?? ''}</td>
          </tr>
        </tbody>
      </table>
      <p>
        Then automated sync holds on <code>{shortRevision(target.revision)}</code> until a newer commit
        arrives or someone releases the hold. Git is not changed.
      </p>
      {error === undefined ? null : <Failure error={error} />}
      <div className="buttons">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button type="button" className="primary danger" disabled={busy} onClick={confirm}>
          {busy ? 'Asking the agent…' : `Roll back to #${String(target.id)}`}
        </button>
      </div>
    </Dialog>
  );
}
