// Pipeline runs (GET /runs, src/api/server/pipelines.ts): newest first, the server's filters (kept in the
// address, so a view can be shared) and its cursor ("Older runs"); a run with its commit, steps and
// images, and its log live over server-sent events (the browser resumes after the last line it got,
// by Last-Event-ID). Cancel and Re-run are disabled with the reason when the role does not allow them,
// and the API refuses them anyway.
import { useEffect, useRef, useState, type SyntheticEvent } from 'react';
import { API, call, query } from '../api.ts';
import { ActionButton } from '../components/Dialog.tsx';
import { Link } from '../components/Link.tsx';
import { ENDED_PHASES, Phase, RunTable } from '../components/RunTable.tsx';
import { Empty, Failure, Loading } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import { pipelinePath, runPath } from '../paths.ts';
import { permit } from '../permissions.ts';
import { navigate } from '../router.ts';
import { useSession } from '../session.ts';
import type { RunLine, RunList, RunView } from '../types.ts';
import { TableScroll } from '../components/TableScroll.tsx';

const PHASES = ['WaitingForApproval', 'Queued', 'Running', 'Succeeded', 'Failed', 'Cancelled'] as const;
const FILTERS = ['namespace', 'pipeline', 'phase', 'branch'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;
const PAGE = '50';
/** Log lines kept on screen; the oldest go first. */
const KEPT_LINES = 20_000;

function filtersOf(search: string): Filters {
  const params = new URLSearchParams(search);
  return Object.fromEntries(FILTERS.flatMap((f) => (params.get(f) ? [[f, params.get(f) ?? '']] : [])));
}

export function RunsPage(props: { readonly search: string }) {
  const filters = filtersOf(props.search);
  const [older, setOlder] = useState<{ items: RunView[]; next?: string | undefined; error?: unknown }>({
    items: [],
  });
  const [page, reload] = useLoad(props.search, (signal) =>
    call<RunList>(`/runs${query({ ...filters, limit: PAGE })}`, { signal }).then((p) => {
      setOlder({ items: [], next: p.nextCursor });
      return p;
    }),
  );
  const apply = (event: SyntheticEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const values = Object.fromEntries(
      FILTERS.map((f) => {
        const value = form.get(f);
        return [f, typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined];
      }),
    );
    navigate(`/runs${query(values)}`);
  };
  const loadOlder = () => {
    if (older.next === undefined) return;
    call<RunList>(`/runs${query({ ...filters, limit: PAGE, before: older.next })}`).then(
      (p) => {
        setOlder({ items: [...older.items, ...p.items], next: p.nextCursor });
      },
      (error: unknown) => {
        setOlder({ ...older, error });
      },
    );
  };
  return (
    <section aria-labelledby="runs-title">
      <h1 id="runs-title">Pipeline runs</h1>
      <form className="filters" role="search" onSubmit={apply} key={props.search}>
        <label>
          Namespace <input name="namespace" defaultValue={filters.namespace ?? ''} />
        </label>
        <label>
          Pipeline <input name="pipeline" defaultValue={filters.pipeline ?? ''} />
        </label>
        <label>
          Phase
          <select name="phase" defaultValue={filters.phase ?? ''}>
            <option value="">any</option>
            {PHASES.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          Branch <input name="branch" defaultValue={filters.branch ?? ''} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {page.state === 'loading' ? (
        <Loading what="the runs" />
      ) : page.state === 'failed' ? (
        <Failure error={page.error} retry={reload} />
      ) : page.value.items.length === 0 ? (
        <Empty>
          No pipeline run {Object.keys(filters).length > 0 ? 'matches these filters' : 'you may read yet'}.
        </Empty>
      ) : (
        <>
          <RunTable runs={[...page.value.items, ...older.items]} />
          {older.error === undefined ? null : <Failure error={older.error} retry={loadOlder} />}
          {older.next === undefined ? null : (
            <button type="button" onClick={loadOlder}>
              Older runs
            </button>
          )}
        </>
      )}
    </section>
  );
}

export function RunPage(props: { readonly id: string }) {
  const path = runPath(props.id);
  const [run, reload, setRun] = useLoad(path, (signal) => call<RunView>(path, { signal }));
  return (
    <article aria-labelledby="run-title">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/runs">Pipeline runs</Link> /
      </nav>
      <h1 id="run-title">Run {props.id}</h1>
      {run.state === 'loading' ? (
        <Loading what={`run ${props.id}`} />
      ) : run.state === 'failed' ? (
        <Failure error={run.error} retry={reload} />
      ) : (
        <>
          <RunFacts run={run.value} onChanged={setRun} />
          <RunLog id={props.id} onEnded={reload} />
        </>
      )}
    </article>
  );
}

function RunFacts(props: { readonly run: RunView; readonly onChanged: (run: RunView) => void }) {
  const { run } = props;
  const grants = useSession();
  const allowed = permit(grants, run.project, 'sync', { as: 'Running pipelines' });
  const approving = permit(grants, run.project, 'sync', { as: 'Approving runs' });
  const [busy, setBusy] = useState<'cancel' | 'rerun' | 'approve' | undefined>();
  const [error, setError] = useState<unknown>();
  const ended = ENDED_PHASES.includes(run.phase);
  const waiting = run.phase === 'WaitingForApproval';
  const act = (action: 'cancel' | 'rerun' | 'approve') => {
    setBusy(action);
    setError(undefined);
    call<RunView>(`${runPath(run.id)}/${action}`, { method: 'POST' }).then(
      (answer) => {
        setBusy(undefined);
        if (action !== 'rerun') props.onChanged(answer);
        else navigate(`/runs${query({ namespace: run.namespace, pipeline: run.pipeline })}`);
      },
      (failure: unknown) => {
        setBusy(undefined);
        setError(failure);
      },
    );
  };
  const denied = allowed.allowed ? undefined : allowed.reason;
  return (
    <>
      {waiting ? <WaitingNote run={run} /> : null}
      <div className="run-actions">
        {waiting ? (
          <ActionButton
            id="approve"
            label="Approve"
            primary
            busy={busy === 'approve'}
            denied={approving.allowed ? undefined : approving.reason}
            onClick={() => {
              act('approve');
            }}
          />
        ) : null}
        <ActionButton
          id="cancel"
          label="Cancel"
          busy={busy === 'cancel'}
          denied={denied ?? (ended ? `The run ended (${run.phase}): there is nothing to cancel.` : undefined)}
          onClick={() => {
            act('cancel');
          }}
        />
        <ActionButton
          id="rerun"
          label="Re-run"
          busy={busy === 'rerun'}
          denied={denied}
          onClick={() => {
            act('rerun');
          }}
        />
      </div>
      {error === undefined ? null : <Failure error={error} />}
      <dl className="facts">
        <dt>Phase</dt>
        <dd>
          <Phase value={run.phase} /> {run.reason ?? ''} {run.statusMessage ?? ''}
        </dd>
        <dt>Pipeline</dt>
        <dd>
          <Link to={pipelinePath(run.namespace, run.pipeline)}>
            {run.namespace}/{run.pipeline}
          </Link>{' '}
          (project {run.project})
        </dd>
        <dt>Commit</dt>
        <dd>
          <code>{run.revision}</code> {run.branch ?? run.tag ?? ''} {run.author ?? ''}
          {run.commitMessage === undefined ? null : <span className="message"> {run.commitMessage}</span>}
        </dd>
        <dt>Trigger</dt>
        <dd>
          {run.trigger} by {run.triggeredBy}
          {run.rerunOf === undefined ? null : (
            <>
              {' '}
              (re-run of <Link to={runPath(run.rerunOf)}>{run.rerunOf}</Link>)
            </>
          )}
        </dd>
        {run.approvedBy === undefined ? null : (
          <>
            <dt>Approved</dt>
            <dd>by {run.approvedBy}</dd>
          </>
        )}
        <dt>Times</dt>
        <dd>
          queued {new Date(run.queuedAt).toLocaleString()}
          {run.startedAt === undefined ? '' : `, started ${new Date(run.startedAt).toLocaleString()}`}
          {run.finishedAt === undefined ? '' : `, finished ${new Date(run.finishedAt).toLocaleString()}`}
        </dd>
      </dl>
      <h2>Steps</h2>
      {run.steps.length === 0 ? (
        <Empty>No step has started yet.</Empty>
      ) : (
        <TableScroll label="The run’s steps">
          <table className="steps">
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col">Phase</th>
                <th scope="col">Exit code</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {run.steps.map((step) => (
                <tr key={step.name}>
                  <td>{step.name}</td>
                  <td>
                    <Phase value={step.phase} />
                  </td>
                  <td>{step.exitCode ?? ''}</td>
                  <td className="message">{step.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {run.images.length === 0 ? null : (
        <>
          <h2>Images</h2>
          <ul className="images">
            {run.images.map((image) => (
              <li key={`${image.step}/${image.digest}`}>
                <code>{image.reference}</code> {image.tags.length > 0 ? `(${image.tags.join(', ')})` : ''}{' '}
                from step {image.step}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

/** What waiting for an approval means: a pull request from a fork, run only once someone approves it. */
function WaitingNote(props: { readonly run: RunView }) {
  const pr = props.run.pullRequest;
  return (
    <p className="waiting-note" id="approve-note">
      {pr === undefined
        ? 'This run waits for an approval'
        : `This run of pull request #${String(pr.number)}${pr.author === undefined ? '' : ` by ${pr.author}`}${pr.fromFork === true ? ', from a fork,' : ''} waits for an approval`}
      : approving queues it (it runs without the Pipeline’s secrets) and approves its author for the
      Pipeline’s next runs (revoking it on the Pipeline’s page, or with <code>capstan pipeline revoke</code>,
      takes that back).
    </p>
  );
}

/** The run's log over server-sent events: every line, then `end`; the browser resumes by Last-Event-ID. */
function RunLog(props: { readonly id: string; readonly onEnded: () => void }) {
  const [lines, setLines] = useState<readonly RunLine[]>([]);
  const [state, setState] = useState<'following' | 'ended' | 'reconnecting'>('following');
  const [step, setStep] = useState('');
  const onEnded = useRef(props.onEnded);
  onEnded.current = props.onEnded;
  useEffect(() => {
    setLines([]);
    setState('following');
    const source = new EventSource(`${API}${runPath(props.id)}/logs?follow=true`, { withCredentials: true });
    let pending: RunLine[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const added = pending;
      pending = [];
      setLines((shown) => [...shown, ...added].slice(-KEPT_LINES));
    };
    source.addEventListener('line', (message: MessageEvent<string>) => {
      pending.push(JSON.parse(message.data) as RunLine);
      setState('following');
      if (frame === 0) frame = requestAnimationFrame(flush);
    });
    source.addEventListener('end', () => {
      source.close();
      flush();
      setState('ended');
      onEnded.current();
    });
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) setState('reconnecting');
    });
    return () => {
      if (frame !== 0) cancelAnimationFrame(frame);
      source.close();
    };
  }, [props.id]);
  const steps = [...new Set(lines.map((l) => l.step))];
  const shown = step === '' ? lines : lines.filter((l) => l.step === step);
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Log</h2>
      <p className="muted" role="status" aria-live="polite">
        {state === 'following'
          ? 'Following the run…'
          : state === 'reconnecting'
            ? 'The connection dropped: resuming after the last line received…'
            : 'The run ended; this is its whole log.'}
      </p>
      {steps.length > 1 ? (
        <label>
          Step{' '}
          <select
            value={step}
            onChange={(e) => {
              setStep(e.target.value);
            }}
          >
            <option value="">all</option>
            {steps.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      ) : null}
      {shown.length === 0 ? (
        <Empty>{state === 'ended' ? 'The run wrote no log.' : 'No line yet.'}</Empty>
      ) : (
        <pre className="manifest log" tabIndex={0} aria-label="Run log">
          {shown.map((l) => `${l.step === '' ? '' : `[${l.step}] `}${l.line}`).join('\n')}
        </pre>
      )}
    </section>
  );
}
