// One resource: what the tree knows (sync, health, message), and the server's views of it: the diff a
// sync would make, the live and desired manifests (a Secret's values never leave the server), its
// Events; for a Pod, its log. An object the Application's workloads own (a ReplicaSet, a Pod: no sync
// status of its own) has no desired state, so only its log is offered. Manifest text is always text.
import { useState } from 'react';
import { call } from '../../api.ts';
import { Dialog } from '../../components/Dialog.tsx';
import { Empty, Failure, Loading } from '../../components/States.tsx';
import { Health, Sync } from '../../components/Status.tsx';
import { useLoad } from '../../hooks.ts';
import type { EventInfo, ResourceNode } from '../../types.ts';
import { PodLogs } from './PodLogs.tsx';
import { RESOURCE_VIEWS, resourceUrl, type ResourceView } from './resource-routes.ts';
import { shortRevision } from '../../revision.ts';

type Tab = ResourceView | 'logs';
const TITLES: Readonly<Record<Tab, string>> = {
  logs: 'Logs',
  diff: 'Diff',
  live: 'Live manifest',
  desired: 'Desired manifest',
  events: 'Events',
};

export function ResourceDetail(props: {
  readonly path: string;
  readonly node: ResourceNode | undefined;
  readonly onClose: () => void;
}) {
  const { node } = props;
  const owned =
    node !== undefined &&
    node.syncStatus === undefined &&
    node.parents.some((p) => !p.startsWith('Application/'));
  const tabs: readonly Tab[] = [
    ...(owned ? [] : RESOURCE_VIEWS),
    ...(node?.kind === 'Pod' && node.group === '' ? (['logs'] as const) : []),
  ];
  const [chosen, setView] = useState<Tab | undefined>();
  if (!node) return null;
  const view = chosen !== undefined && tabs.includes(chosen) ? chosen : tabs[0];
  return (
    <Dialog title={node.id} onClose={props.onClose}>
      <p>
        <Sync value={node.syncStatus} /> <Health value={node.health} />
      </p>
      {node.message === undefined ? null : <p className="message">{node.message}</p>}
      {owned ? (
        <p className="muted">Owned by {node.parents.join(', ')}: made by its controller, not from Git.</p>
      ) : null}
      <div role="tablist" aria-label="Resource views" className="tabs">
        {tabs.map((v) => (
          <button
            key={v}
            type="button"
            role="tab"
            aria-selected={view === v}
            onClick={() => {
              setView(v);
            }}
          >
            {TITLES[v]}
          </button>
        ))}
      </div>
      {view === undefined ? null : (
        <div role="tabpanel" aria-label={TITLES[view]}>
          {view === 'logs' ? (
            <PodLogs path={props.path} node={node} />
          ) : (
            <ResourceViewPanel url={resourceUrl(props.path, node, view)} view={view} />
          )}
        </div>
      )}
      <div className="buttons">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

interface ViewBody {
  readonly revision?: string;
  readonly object?: unknown;
  readonly changed?: boolean;
  readonly unified?: string;
  readonly items?: readonly EventInfo[];
}

function ResourceViewPanel(props: { readonly url: string; readonly view: ResourceView }) {
  const [body, reload] = useLoad(props.url, (signal) => call<ViewBody>(props.url, { signal }));
  if (body.state === 'loading') return <Loading what={TITLES[props.view].toLowerCase()} />;
  if (body.state === 'failed') return <Failure error={body.error} retry={reload} />;
  const value = body.value;
  const at =
    value.revision === undefined ? null : <p className="muted">At {shortRevision(value.revision)}</p>;
  if (props.view === 'events') {
    const items = value.items ?? [];
    if (items.length === 0) return <Empty>No Events about this resource.</Empty>;
    return (
      <ul className="events">
        {items.map((e, i) => (
          <li key={i}>
            {e.type} {e.reason}: {e.message} {e.count > 1 ? `(×${String(e.count)})` : ''}
          </li>
        ))}
      </ul>
    );
  }
  if (props.view === 'diff') {
    if (value.changed === false)
      return (
        <>
          {at}
          <Empty>No difference: a sync would change nothing in this resource.</Empty>
        </>
      );
    return (
      <>
        {at}
        <TextBlock text={value.unified ?? ''} diff />
      </>
    );
  }
  if (value.object === undefined)
    return (
      <Empty>{props.view === 'live' ? 'It does not exist in the cluster.' : 'Git does not hold it.'}</Empty>
    );
  return (
    <>
      {at}
      <TextBlock text={JSON.stringify(value.object, null, 2)} diff={false} />
    </>
  );
}

/** Text only (React escapes it): lines of a unified diff get a class by their first character. */
function TextBlock(props: { readonly text: string; readonly diff: boolean }) {
  const lineClass = (line: string) =>
    !props.diff
      ? undefined
      : line.startsWith('+') && !line.startsWith('+++')
        ? 'add'
        : line.startsWith('-') && !line.startsWith('---')
          ? 'del'
          : undefined;
  return (
    <pre className="manifest" tabIndex={0} aria-label={props.diff ? 'Diff' : 'Manifest'}>
      {props.text.split('\n').map((line, i) => (
        <span key={i} className={lineClass(line)}>
          {line}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}
