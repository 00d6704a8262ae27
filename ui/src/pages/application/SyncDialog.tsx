// The sync dialog: a plain sync, or with prune, dry run and a selection of resources. The server refuses
// options the agent does not carry yet (422 SYNC_OPTION_UNSUPPORTED); that refusal is shown as it is.
import { useState, type SyntheticEvent } from 'react';
import { appPath, call } from '../../api.ts';
import { Dialog } from '../../components/Dialog.tsx';
import { Failure } from '../../components/States.tsx';
import type { Application } from '../../types.ts';

export function SyncDialog(props: {
  readonly app: Application;
  readonly onClose: () => void;
  readonly onDone: () => void;
}) {
  const resources = props.app.status?.resources ?? [];
  const [prune, setPrune] = useState(false);
  const [dryRun, setDryRun] = useState(false);
  const [chosen, setChosen] = useState<ReadonlySet<number>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const selection = [...chosen].flatMap((i) => {
      const r = resources[i];
      return r
        ? [{ group: r.group, kind: r.kind, name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) }]
        : [];
    });
    call(`${appPath(props.app.metadata.namespace ?? '', props.app.metadata.name)}/sync`, {
      method: 'POST',
      body: {
        resourceVersion: props.app.metadata.resourceVersion,
        ...(prune ? { prune: true } : {}),
        ...(dryRun ? { dryRun: true } : {}),
        ...(selection.length > 0 ? { resources: selection } : {}),
      },
    }).then(props.onDone, (failure: unknown) => {
      setError(failure);
      setBusy(false);
    });
  };
  return (
    <Dialog title={`Sync ${props.app.metadata.name}`} onClose={props.onClose}>
      <form onSubmit={submit} className="sync-form">
        <p>
          The agent applies the desired state of <code>{props.app.spec.source.repoURL}</code> at{' '}
          <code>{props.app.spec.source.targetRevision ?? 'HEAD'}</code>
          {props.app.spec.source.path === undefined ? '' : ` (${props.app.spec.source.path})`}.
        </p>
        <fieldset>
          <legend>Options</legend>
          <label className="check">
            <input
              type="checkbox"
              checked={prune}
              onChange={(e) => {
                setPrune(e.target.checked);
              }}
            />{' '}
            Prune resources no longer in Git
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={dryRun}
              onChange={(e) => {
                setDryRun(e.target.checked);
              }}
            />{' '}
            Dry run (plan only)
          </label>
        </fieldset>
        {resources.length === 0 ? null : (
          <fieldset className="selection">
            <legend>Only these resources (none chosen: all)</legend>
            {resources.map((r, i) => (
              <label className="check" key={`${r.kind}/${r.namespace ?? ''}/${r.name}`}>
                <input
                  type="checkbox"
                  checked={chosen.has(i)}
                  onChange={(e) => {
                    const next = new Set(chosen);
                    if (e.target.checked) next.add(i);
                    else next.delete(i);
                    setChosen(next);
                  }}
                />{' '}
                {r.kind}/{r.namespace ?? ''}/{r.name}
              </label>
            ))}
          </fieldset>
        )}
        {error === undefined ? null : <Failure error={error} />}
        <div className="buttons">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Asking the agent…' : 'Sync'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
