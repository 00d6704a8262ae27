// Pipelines (GET /pipelines, src/api/server/pipeline-objects.ts): the code repositories registered with
// a `Pipeline` resource that the caller may read, each with its project, repository, newest run and what
// starts its runs; a Pipeline's page with its definition, its runs, and "Run" for a branch or a tag,
// disabled with the reason when the role does not allow it (the API refuses it anyway), and the
// approved authors of its pull requests from forks, each revocable (components/ForkAuthors.tsx). The server's
// event stream carries Applications only, so runs are read again every few seconds while one is queued
// or running, or while a run asked for here has not appeared yet.
import { useEffect, useRef, useState, type SyntheticEvent } from 'react';
import { call, query } from '../api.ts';
import { ItemPage, ItemTable, LoadedView, type Column } from '../components/Catalogue.tsx';
import { ActionButton } from '../components/Dialog.tsx';
import { ExternalLink, Link } from '../components/Link.tsx';
import { ForkAuthors } from '../components/ForkAuthors.tsx';
import { FileTriggers } from '../components/PipelineTriggers.tsx';
import { ENDED_PHASES, Phase, RunTable } from '../components/RunTable.tsx';
import { Empty, Failure } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import { pipelinePath, projectPath, runPath } from '../paths.ts';
import { startsOf } from '../pipeline-starts.ts';
import { permit } from '../permissions.ts';
import { useSession } from '../session.ts';
import type { PipelineInfo, PipelineRunBody, PipelineRunRequested, RunList, RunView } from '../types.ts';

/** How often runs are read again while something is going on. */
const POLL_MS = 2000;
/** Runs of one Pipeline shown on its page (the runs page has them all). */
const RUNS_SHOWN = '20';
/** After this long without its run, a request is said to have made none (yet). */
const REQUEST_PATIENCE_MS = 60_000;

const going = (run: RunView | undefined) => run !== undefined && !ENDED_PHASES.includes(run.phase);

/** Reloads every POLL_MS while `active`. */
function usePolling(active: boolean, reload: () => void): void {
  const current = useRef(reload);
  current.current = reload;
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => {
      current.current();
    }, POLL_MS);
    return () => {
      clearInterval(timer);
    };
  }, [active]);
}

function LastRun(props: { readonly run: RunView | undefined }) {
  const { run } = props;
  if (run === undefined) return <span className="muted">none yet</span>;
  return (
    <span className="last-run">
      <Phase value={run.phase} /> <Link to={runPath(run.id)}>{run.id}</Link>{' '}
      <span className="muted">
        {run.trigger}, {new Date(run.queuedAt).toLocaleString()}
      </span>
    </span>
  );
}

const PIPELINE_COLUMNS: readonly Column<PipelineInfo>[] = [
  {
    header: 'Pipeline',
    cell: (p) => (
      <Link to={pipelinePath(p.namespace, p.name)}>
        {p.name}
        <span className="muted"> {p.namespace}</span>
      </Link>
    ),
  },
  { header: 'Project', cell: (p) => <Link to={projectPath(p.project)}>{p.project}</Link> },
  { header: 'Repository', className: 'message', cell: (p) => <ExternalLink url={p.repoURL} /> },
  { header: 'Last run', cell: (p) => <LastRun run={p.lastRun} /> },
  { header: 'Starts on', cell: (p) => startsOf(p).join(', ') },
];

export function PipelinesPage() {
  const [pipelines, reload] = useLoad('/pipelines', (signal) =>
    call<{ items: PipelineInfo[] }>('/pipelines', { signal }),
  );
  usePolling(pipelines.state === 'ready' && pipelines.value.items.some((p) => going(p.lastRun)), reload);
  return (
    <section aria-labelledby="pipelines-title">
      <h1 id="pipelines-title">Pipelines</h1>
      <p className="muted">
        Code repositories registered with a <code>Pipeline</code> resource: their runs test and build them.
        Webhooks and polls ask for runs that the pipeline file&apos;s triggers at that commit accept or skip.
      </p>
      <LoadedView loaded={pipelines} what="the pipelines" retry={reload}>
        {({ items }) =>
          items.length === 0 ? (
            <Empty>
              No Pipeline you may read yet. A <code>Pipeline</code> resource registers a code repository (see
              docs/pipelines.md).
            </Empty>
          ) : (
            <ItemTable
              className="pipelines"
              columns={PIPELINE_COLUMNS}
              items={items}
              rowKey={(p) => `${p.namespace}/${p.name}`}
            />
          )
        }
      </LoadedView>
      <p>
        <Link to="/runs">Every run</Link>
      </p>
    </section>
  );
}

export function PipelinePage(props: { readonly namespace: string; readonly name: string }) {
  const path = pipelinePath(props.namespace, props.name);
  const [pipeline, reload] = useLoad(path, (signal) => call<PipelineInfo>(path, { signal }));
  return (
    <ItemPage list={{ to: '/pipelines', label: 'Pipelines' }} titleId="pipeline-title" name={props.name}>
      <LoadedView loaded={pipeline} what={`pipeline ${props.namespace}/${props.name}`} retry={reload}>
        {(value) => <PipelineView pipeline={value} onChanged={reload} />}
      </LoadedView>
    </ItemPage>
  );
}

/** A request made here, until its run appears (or we stop waiting). */
interface Requested {
  readonly answer: PipelineRunRequested;
  /** The runs there were when it was asked: its run is a manual one not among them. */
  readonly before: ReadonlySet<string>;
  readonly at: number;
}

/** `onChanged`: the Pipeline changed here (an approval revoked); read it again. */
function PipelineView(props: { readonly pipeline: PipelineInfo; readonly onChanged: () => void }) {
  const { pipeline } = props;
  const runsPath = `/runs${query({ namespace: pipeline.namespace, pipeline: pipeline.name })}`;
  const [runs, reload] = useLoad(runsPath, (signal) =>
    call<RunList>(
      `/runs${query({ namespace: pipeline.namespace, pipeline: pipeline.name, limit: RUNS_SHOWN })}`,
      {
        signal,
      },
    ),
  );
  const [requested, setRequested] = useState<Requested | undefined>();
  const [now, setNow] = useState(() => Date.now());
  const items = runs.state === 'ready' ? runs.value.items : [];
  const appeared =
    requested === undefined
      ? undefined
      : items.find(
          (r) =>
            r.trigger === 'manual' &&
            !requested.before.has(r.id) &&
            r.triggeredBy.endsWith(requested.answer.by),
        );
  const waiting =
    requested !== undefined && appeared === undefined && now - requested.at < REQUEST_PATIENCE_MS;
  usePolling(waiting || items.some(going), () => {
    setNow(Date.now());
    reload();
  });
  return (
    <>
      <PipelineFacts pipeline={pipeline} lastRun={items[0] ?? pipeline.lastRun} />
      <FileTriggers pipeline={pipeline} />
      <RunByHand
        pipeline={pipeline}
        onRequested={(answer) => {
          setRequested({ answer, before: new Set(items.map((r) => r.id)), at: Date.now() });
          setNow(Date.now());
          reload();
        }}
      />
      {requested === undefined ? null : (
        <RequestState requested={requested} run={appeared} waiting={waiting} />
      )}
      <ForkAuthors pipeline={pipeline} onChanged={props.onChanged} />
      <h2 id="pipeline-runs">Runs</h2>
      <LoadedView loaded={runs} what="its runs" retry={reload}>
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No run yet.</Empty>
          ) : (
            <>
              <RunTable runs={page.items} pipeline={false} />
              {page.nextCursor === undefined ? null : <Link to={runsPath}>All its runs</Link>}
            </>
          )
        }
      </LoadedView>
    </>
  );
}

/** Its definition, and its newest run (as the runs read last show it). */
function PipelineFacts(props: { readonly pipeline: PipelineInfo; readonly lastRun: RunView | undefined }) {
  const { pipeline } = props;
  return (
    <dl className="facts">
      <dt>Namespace</dt>
      <dd>{pipeline.namespace}</dd>
      <dt>Project</dt>
      <dd>
        <Link to={projectPath(pipeline.project)}>{pipeline.project}</Link>
      </dd>
      <dt>Repository</dt>
      <dd>
        <ExternalLink url={pipeline.repoURL} />
      </dd>
      <dt>Pipeline file</dt>
      <dd>
        <code>{pipeline.file}</code>
      </dd>
      <dt>Runs as</dt>
      <dd>ServiceAccount {pipeline.serviceAccountName}</dd>
      <dt>Starts on</dt>
      <dd>
        {startsOf(pipeline).join(', ')}
        {pipeline.suspend ? ' (spec.suspend: no new run starts)' : ''}
      </dd>
      <dt>Last run</dt>
      <dd>
        <LastRun run={props.lastRun} />
      </dd>
    </dl>
  );
}

/** "Run" for a branch (its head; empty: the default branch) or a tag. */
function RunByHand(props: {
  readonly pipeline: PipelineInfo;
  readonly onRequested: (answer: PipelineRunRequested) => void;
}) {
  const { pipeline } = props;
  const grants = useSession();
  const allowed = permit(grants, pipeline.project, 'sync', { as: 'Running pipelines' });
  const denied = !allowed.allowed
    ? allowed.reason
    : pipeline.suspend
      ? 'The Pipeline is suspended (spec.suspend): it starts no new run.'
      : undefined;
  const [kind, setKind] = useState<'branch' | 'tag'>('branch');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = (event: SyntheticEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = fieldOf(form, 'ref');
    const commit = fieldOf(form, 'commit');
    const body: PipelineRunBody = {
      ...(name === '' ? {} : kind === 'branch' ? { branch: name } : { tag: name }),
      ...(commit === '' ? {} : { commit }),
    };
    setBusy(true);
    setError(undefined);
    call<PipelineRunRequested>(`${pipelinePath(pipeline.namespace, pipeline.name)}/runs`, {
      method: 'POST',
      body,
    }).then(
      (answer) => {
        setBusy(false);
        props.onRequested(answer);
      },
      (failure: unknown) => {
        setBusy(false);
        setError(failure);
      },
    );
  };
  return (
    <form className="run-form" onSubmit={submit} aria-labelledby="run-form-title">
      <h2 id="run-form-title">Run by hand</h2>
      <div className="run-actions">
        <label htmlFor="run-ref-kind">Ref</label>
        <select
          id="run-ref-kind"
          value={kind}
          disabled={denied !== undefined}
          onChange={(e) => {
            setKind(e.target.value === 'tag' ? 'tag' : 'branch');
          }}
        >
          <option value="branch">branch</option>
          <option value="tag">tag</option>
        </select>
        <label htmlFor="run-ref">{kind === 'branch' ? 'Branch' : 'Tag'}</label>
        <input
          id="run-ref"
          name="ref"
          key={kind}
          required={kind === 'tag'}
          disabled={denied !== undefined}
          placeholder={kind === 'branch' ? 'the default branch' : 'v1.2.3'}
          autoComplete="off"
          spellCheck={false}
        />
        <label htmlFor="run-commit">Commit</label>
        <input
          id="run-commit"
          name="commit"
          className="commit-field"
          disabled={denied !== undefined}
          pattern="[0-9a-f]{40}"
          title="A full commit id: 40 lowercase hexadecimal characters"
          placeholder={kind === 'branch' ? 'its head' : 'the tag’s commit'}
          aria-describedby="run-commit-help"
          autoComplete="off"
          spellCheck={false}
        />
        <ActionButton type="submit" id="run" label="Run" primary busy={busy} denied={denied} />
      </div>
      <p className="muted" id="run-commit-help">
        A commit (its full id) runs that commit, recorded with the branch or tag when one is given; the
        pipeline file at that commit decides whether runs by hand are allowed.
      </p>
      {error === undefined ? null : <Failure error={error} />}
    </form>
  );
}

/** A form field's text, trimmed ('' when absent). */
function fieldOf(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value.trim() : '';
}

function RequestState(props: {
  readonly requested: Requested;
  readonly run: RunView | undefined;
  readonly waiting: boolean;
}) {
  const { answer } = props.requested;
  const ref =
    answer.ref === undefined || answer.ref === ''
      ? answer.revision === undefined
        ? 'the default branch'
        : undefined
      : answer.ref.replace(/^refs\/(heads|tags)\//, '');
  const what = [
    ...(ref === undefined ? [] : [ref]),
    ...(answer.revision === undefined ? [] : [`commit ${answer.revision.slice(0, 12)}`]),
  ].join(' at ');
  return (
    <p className="request-state" role="status" aria-live="polite">
      {props.run !== undefined ? (
        <>
          The run of {what} asked for by {answer.by} is <Link to={runPath(props.run.id)}>{props.run.id}</Link>
          : <Phase value={props.run.phase} />
        </>
      ) : props.waiting ? (
        <>
          Run of {what} requested by {answer.by} (request <code>{answer.request}</code>): waiting for the
          pipeline driver to read the pipeline file at that commit and queue it…
        </>
      ) : (
        <>
          No run appeared for request <code>{answer.request}</code> in a minute: the pipeline file may not
          allow runs by hand (<code>triggers.manual: false</code>) or have no such commit, or no server drives
          runs now (<code>capstan server --pipeline-image</code>). The server&apos;s log says which.
        </>
      )}
    </p>
  );
}
