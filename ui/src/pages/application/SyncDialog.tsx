// The sync dialog: a plain sync, or with prune, dry run and a selection of resources (Argo CD's selective
// sync). It lists what the server says a sync may select (GET …/sync-candidates): the desired resources at
// the target revision, every one checked by default (the whole application), and the resources that left
// Git which the application still owns, unchecked, selectable with prune only (a sync of those deletes
// them). A part of them is sent as `resources`, which applies only those and runs no hooks. When the
// server cannot render the target, the dialog lists `status.resources` (the agent's last comparison).
import { useState, type SyntheticEvent } from 'react';
import { appPath, call } from '../../api.ts';
import { Dialog } from '../../components/Dialog.tsx';
import { Failure } from '../../components/States.tsx';
import { useLoad } from '../../hooks.ts';
import type { Application, SyncCandidate, SyncCandidates } from '../../types.ts';

const keyOf = (r: SyncCandidate) => `${r.group}/${r.kind}/${r.namespace ?? ''}/${r.name}`;
const labelOf = (r: SyncCandidate) =>
  r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;

/** The candidates from the server, or those of status.resources when it cannot render the target. */
function useCandidates(app: Application): { list: readonly SyncCandidate[] | undefined; fallback: boolean } {
  const path = `${appPath(app.metadata.namespace ?? '', app.metadata.name)}/sync-candidates`;
  const [loaded] = useLoad(`${path}@${app.metadata.resourceVersion ?? ''}`, (signal) =>
    call<SyncCandidates>(path, { signal }),
  );
  if (loaded.state === 'loading') return { list: undefined, fallback: false };
  if (loaded.state === 'ready') return { list: loaded.value.items, fallback: false };
  const managed = (app.status?.resources ?? []).map((r): SyncCandidate => ({
    group: r.group,
    kind: r.kind,
    ...(r.namespace ? { namespace: r.namespace } : {}),
    name: r.name,
    state: 'desired',
  }));
  return { list: managed, fallback: true };
}

export function SyncDialog(props: {
  readonly app: Application;
  readonly onClose: () => void;
  readonly onDone: () => void;
}) {
  const { list, fallback } = useCandidates(props.app);
  const resources = list ?? [];
  const desired = resources.filter((r) => r.state === 'desired');
  const [prune, setPrune] = useState(false);
  const [dryRun, setDryRun] = useState(false);
  // What the person unchecked of the desired ones, and checked of the departed ones: the rest follows the list.
  const [unchecked, setUnchecked] = useState<ReadonlySet<string>>(new Set());
  const [departedChosen, setDepartedChosen] = useState<ReadonlySet<string>>(new Set());
  const isChosen = (r: SyncCandidate) =>
    r.state === 'desired' ? !unchecked.has(keyOf(r)) : prune && departedChosen.has(keyOf(r));
  const chosen = resources.filter(isChosen);
  const all = chosen.length === desired.length && chosen.every((r) => r.state === 'desired');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const toggle = (r: SyncCandidate, on: boolean) => {
    const [set, update] =
      r.state === 'desired' ? [unchecked, setUnchecked] : [departedChosen, setDepartedChosen];
    const next = new Set(set);
    if (on === (r.state === 'desired')) next.delete(keyOf(r));
    else next.add(keyOf(r));
    update(next);
  };
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const selection = (all ? [] : chosen).map((r) => ({
      group: r.group,
      kind: r.kind,
      name: r.name,
      ...(r.namespace ? { namespace: r.namespace } : {}),
    }));
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
        {list === undefined ? (
          <p className="muted">Listing the resources…</p>
        ) : resources.length === 0 ? null : (
          <Selection
            resources={resources}
            desired={desired.length}
            all={all}
            chosen={chosen.length}
            prune={prune}
            fallback={fallback}
            isChosen={isChosen}
            toggle={toggle}
            setAll={(on) => {
              setUnchecked(new Set(on ? [] : desired.map(keyOf)));
              setDepartedChosen(new Set());
            }}
          />
        )}
        {error === undefined ? null : <Failure error={error} />}
        <div className="buttons">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button
            type="submit"
            className="primary"
            disabled={busy || list === undefined || (!all && chosen.length === 0)}
          >
            {busy ? 'Asking the agent…' : 'Sync'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Selection(props: {
  readonly resources: readonly SyncCandidate[];
  readonly desired: number;
  readonly all: boolean;
  readonly chosen: number;
  readonly prune: boolean;
  readonly fallback: boolean;
  readonly isChosen: (r: SyncCandidate) => boolean;
  readonly toggle: (r: SyncCandidate, on: boolean) => void;
  readonly setAll: (on: boolean) => void;
}) {
  return (
    <fieldset className="selection">
      <legend>Resources</legend>
      {props.fallback ? (
        <p className="muted">
          The target revision could not be rendered here: these are the resources of the agent’s last
          comparison.
        </p>
      ) : null}
      <label className="check">
        <input
          type="checkbox"
          checked={props.all}
          onChange={(e) => {
            props.setAll(e.target.checked);
          }}
        />{' '}
        All ({props.desired}): the whole application, with its hooks
      </label>
      {props.resources.map((r) => {
        const departed = r.state === 'departed';
        return (
          <label
            className={departed ? 'check departed' : 'check'}
            key={keyOf(r)}
            data-state={r.state}
            title={
              departed ? 'Left Git; the application still owns it: a sync with prune deletes it' : undefined
            }
          >
            <input
              type="checkbox"
              checked={props.isChosen(r)}
              disabled={departed && !props.prune}
              onChange={(e) => {
                props.toggle(r, e.target.checked);
              }}
            />{' '}
            {labelOf(r)}
            {departed ? (
              <span className="muted">
                {' '}
                (left Git: {props.prune ? 'deleted if selected' : 'select with prune'})
              </span>
            ) : null}
          </label>
        );
      })}
      {props.all ? null : (
        <p className="muted">
          {props.chosen} of {props.resources.length} selected: only these are applied
          {props.prune ? ' (those that left Git: deleted)' : ''}; nothing else is pruned, no hook runs, and
          the sync status is left to the next comparison.
        </p>
      )}
    </fieldset>
  );
}
