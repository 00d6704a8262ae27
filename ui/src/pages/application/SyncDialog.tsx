// The sync dialog: a plain sync, or with prune, dry run and a selection of resources (Argo CD's selective
// sync): every resource of the tree is checked by default (the whole application); a part of them is sent
// as `resources`, which applies only those and runs no hooks; with prune, it prunes those of them that
// left Git (and nothing else).
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
  const [chosen, setChosen] = useState<ReadonlySet<number>>(() => new Set(resources.keys()));
  const all = chosen.size === resources.length;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const selection = (all ? [] : [...chosen]).flatMap((i) => {
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
            Prune resources no longer in Git{all ? '' : ' (only selected ones)'}
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
            <legend>Resources</legend>
            <label className="check">
              <input
                type="checkbox"
                checked={all}
                onChange={(e) => {
                  setChosen(new Set(e.target.checked ? resources.keys() : []));
                }}
              />{' '}
              All ({resources.length}): the whole application, with its hooks
            </label>
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
                {r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`}
              </label>
            ))}
            {all ? null : (
              <p className="muted">
                {chosen.size} of {resources.length} selected: only these are applied; nothing is pruned, no
                hook runs, and the sync status is left to the next comparison.
              </p>
            )}
          </fieldset>
        )}
        {error === undefined ? null : <Failure error={error} />}
        <div className="buttons">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || chosen.size === 0}>
            {busy ? 'Asking the agent…' : 'Sync'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
