// One application: its state and source, actions (sync, refresh, release hold) allowed by the caller's
// role or disabled with the reason, and tabs: resources (list and graph), history (with rollback),
// events, and the per-resource manifests and diff when the server offers them.
import { useMemo, useState } from 'react';
import { appPath, call } from '../api.ts';
import { ActionButton } from '../components/Dialog.tsx';
import { ExternalLink, Link } from '../components/Link.tsx';
import { Failure, Loading } from '../components/States.tsx';
import { Health, Sync } from '../components/Status.tsx';
import { useLoad, type Loaded } from '../hooks.ts';
import { onDemand, OnDemandView } from '../on-demand.tsx';
import { clusterPath, IN_CLUSTER, projectPath } from '../paths.ts';
import { permit } from '../permissions.ts';
import { repositoryHref } from '../safe-link.ts';
import { useSession } from '../session.ts';
import { useStream } from '../stream.ts';
import type { Application, ResourceTree } from '../types.ts';
import { ResourceList } from './application/ResourceList.tsx';
import { HistoryTab } from './application/History.tsx';
import { EventsTab } from './application/Events.tsx';
import { TraceTab } from './application/Trace.tsx';
import { SyncDialog } from './application/SyncDialog.tsx';
import { ResourceDetail } from './application/ResourceDetail.tsx';
import { shortRevision } from '../revision.ts';

/** The graph's code (the largest chunk) loads while the application and its tree are read. */
const ResourceGraph = onDemand(() => import('./application/ResourceGraph.tsx'));
void ResourceGraph.preload().catch(() => undefined);

type Tab = 'resources' | 'history' | 'events' | 'trace';
const TABS: readonly Tab[] = ['resources', 'history', 'events', 'trace'];
const TAB_TITLES: Readonly<Record<Tab, string>> = {
  resources: 'Resources',
  history: 'History',
  events: 'Events',
  trace: 'Trace',
};
/** Annotations whose values are links to show (title after the slash), as Argo CD's link annotations. */
const LINK_ANNOTATION = 'link.capstan.dev/';

export default function ApplicationPage(props: { readonly namespace: string; readonly name: string }) {
  const path = appPath(props.namespace, props.name);
  const [app, reloadApp] = useLoad(path, (signal) => call<Application>(path, { signal }));
  const [tree, reloadTree] = useLoad(`${path}/resources`, (signal) =>
    call<ResourceTree>(`${path}/resources`, { signal }),
  );
  // What the workloads own (ReplicaSets, Pods) joins the tree when it comes; the tree does not wait for it.
  const [children, reloadChildren] = useLoad(`${path}/children`, (signal) =>
    call<ResourceTree>(`${path}/children`, { signal }),
  );
  const shown = useMemo(() => withChildren(tree, children), [tree, children]);
  const [tab, setTab] = useState<Tab>('resources');
  const [selected, setSelected] = useState<string | undefined>();
  // Live: a change of this Application (its status included) reads it again.
  useStream((event) => {
    if (event.type === 'reset') reloadApp();
    else if (event.application.namespace === props.namespace && event.application.name === props.name) {
      reloadApp();
      reloadTree();
      reloadChildren();
    }
  });
  if (app.state === 'loading') return <Loading what={`application ${props.name}`} />;
  if (app.state === 'failed') return <Failure error={app.error} retry={reloadApp} />;
  const application = app.value;
  return (
    <article aria-labelledby="app-title">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/applications">Applications</Link> / {props.namespace} /
      </nav>
      <Summary app={application} onChanged={reloadApp} />
      <div role="tablist" aria-label="Application views" className="tabs">
        {TABS.map((t) => (
          <button
            key={t}
            role="tab"
            type="button"
            id={`tab-${t}`}
            aria-selected={tab === t}
            aria-controls={`panel-${t}`}
            tabIndex={tab === t ? 0 : -1}
            onClick={() => {
              setTab(t);
            }}
            onKeyDown={(e) => {
              const at = TABS.indexOf(t);
              const to =
                e.key === 'ArrowRight'
                  ? TABS[(at + 1) % TABS.length]
                  : e.key === 'ArrowLeft'
                    ? TABS[(at + TABS.length - 1) % TABS.length]
                    : undefined;
              if (to) {
                setTab(to);
                document.getElementById(`tab-${to}`)?.focus();
              }
            }}
          >
            {TAB_TITLES[t]}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="panel">
        {tab === 'resources' ? (
          shown.state === 'loading' ? (
            <Loading what="the resources" />
          ) : shown.state === 'failed' ? (
            <Failure error={shown.error} retry={reloadTree} />
          ) : (
            <div className="resources">
              <OnDemandView
                module={ResourceGraph}
                what="the graph"
                render={(graph) => (
                  <graph.default app={application} tree={shown.value} onSelect={setSelected} />
                )}
              />
              <ResourceList tree={shown.value} onSelect={setSelected} selected={selected} />
            </div>
          )
        ) : tab === 'history' ? (
          <HistoryTab app={application} onChanged={reloadApp} />
        ) : tab === 'events' ? (
          <EventsTab path={path} />
        ) : (
          <TraceTab path={path} />
        )}
      </div>
      {selected === undefined || shown.state !== 'ready' ? null : (
        <ResourceDetail
          path={path}
          node={shown.value.nodes.find((n) => n.id === selected)}
          onClose={() => {
            setSelected(undefined);
          }}
        />
      )}
    </article>
  );
}

function Summary(props: { readonly app: Application; readonly onChanged: () => void }) {
  const grants = useSession();
  const { app } = props;
  const project = app.spec.project ?? 'default';
  const [syncing, setSyncing] = useState(false);
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const act = (action: 'refresh' | 'release-hold') => {
    setBusy(action);
    setError(undefined);
    call(`${appPath(app.metadata.namespace ?? '', app.metadata.name)}/${action}`, {
      method: 'POST',
      body: { resourceVersion: app.metadata.resourceVersion },
    })
      .then(props.onChanged, setError)
      .finally(() => {
        setBusy(undefined);
      });
  };
  const denied = (action: 'sync' | 'refresh' | 'rollback') => {
    const decision = permit(grants, project, action);
    return decision.allowed ? undefined : decision.reason;
  };
  const source = app.spec.source;
  const links = Object.entries(app.metadata.annotations ?? {}).filter(([key]) =>
    key.startsWith(LINK_ANNOTATION),
  );
  return (
    <header className="app-head">
      <div>
        <h1 id="app-title">{app.metadata.name}</h1>
        <p className="state-line">
          <Sync value={app.status?.sync?.status} /> <Health value={app.status?.health?.status} />
          {app.status?.hold ? (
            <span className="badge held" title={app.status.hold.reason}>
              held at {app.status.hold.revision.slice(0, 7)}
            </span>
          ) : null}
          {app.status?.operation ? (
            <span className="muted">
              {' '}
              {app.status.operation.type} {app.status.operation.phase}
              {app.status.operation.message === undefined ? '' : `: ${app.status.operation.message}`}
            </span>
          ) : null}
        </p>
        {app.status?.health?.message === undefined ? null : (
          <p className="muted">{app.status.health.message}</p>
        )}
        <dl className="facts">
          <dt>Project</dt>
          <dd>
            <Link to={projectPath(project)}>{project}</Link>
          </dd>
          <dt>Repository</dt>
          <dd>
            {repositoryHref(source.repoURL) === undefined ? (
              <span>{source.repoURL}</span>
            ) : (
              <ExternalLink url={source.repoURL} />
            )}
          </dd>
          <dt>{source.chart === undefined ? 'Path' : 'Chart'}</dt>
          <dd>{source.chart ?? source.path ?? '.'}</dd>
          <dt>{source.chart === undefined ? 'Revision' : 'Version'}</dt>
          <dd>
            {source.targetRevision ?? (source.chart === undefined ? 'HEAD' : '* (the newest)')}
            {app.status?.sync?.revision === undefined
              ? ''
              : ` (synced ${shortRevision(app.status.sync.revision)})`}
          </dd>
          <dt>Destination</dt>
          <dd>
            <Link to={clusterPath(app.spec.destination?.cluster ?? IN_CLUSTER)}>
              {app.spec.destination?.cluster ?? IN_CLUSTER}
            </Link>
            /{app.spec.destination?.namespace ?? app.metadata.namespace}
          </dd>
          {links.map(([key, value]) => (
            <FactLink key={key} title={key.slice(LINK_ANNOTATION.length)} url={value} />
          ))}
        </dl>
      </div>
      <div className="actions" aria-label="Actions">
        <ActionButton
          id="sync"
          label="Sync"
          primary
          denied={denied('sync')}
          onClick={() => {
            setSyncing(true);
          }}
        />
        <ActionButton
          id="refresh"
          label="Refresh"
          busy={busy === 'refresh'}
          denied={denied('refresh')}
          onClick={() => {
            act('refresh');
          }}
        />
        {app.status?.hold ? (
          <ActionButton
            id="release-hold"
            label="Release hold"
            busy={busy === 'release-hold'}
            denied={denied('rollback')}
            onClick={() => {
              act('release-hold');
            }}
          />
        ) : null}
        {error === undefined ? null : <Failure error={error} />}
      </div>
      {syncing ? (
        <SyncDialog
          app={app}
          onClose={() => {
            setSyncing(false);
          }}
          onDone={() => {
            setSyncing(false);
            props.onChanged();
          }}
        />
      ) : null}
    </header>
  );
}

function FactLink(props: { readonly title: string; readonly url: string }) {
  return (
    <>
      <dt>{props.title}</dt>
      <dd className="annotation-link">
        <ExternalLink url={props.url} />
      </dd>
    </>
  );
}

/** The tree with the objects its workloads own, once both are read (the tree alone until then). */
function withChildren(tree: Loaded<ResourceTree>, children: Loaded<ResourceTree>): Loaded<ResourceTree> {
  if (tree.state !== 'ready' || children.state !== 'ready' || children.value.nodes.length === 0) return tree;
  return { state: 'ready', value: { nodes: [...tree.value.nodes, ...children.value.nodes] } };
}
