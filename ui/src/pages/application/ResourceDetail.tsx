// One resource: what the tree knows (sync, health, message), and its live and desired manifests and
// diff when the server serves them (found in its OpenAPI document). Manifest text is always text.
import { useState } from 'react';
import { call } from '../../api.ts';
import { Dialog } from '../../components/Dialog.tsx';
import { Empty, Failure, Loading } from '../../components/States.tsx';
import { Health, Sync } from '../../components/Status.tsx';
import { useLoad } from '../../hooks.ts';
import type { ResourceNode } from '../../types.ts';
import { resourceRoutes, type ResourceView } from './resource-routes.ts';

export function ResourceDetail(props: {
  readonly path: string;
  readonly node: ResourceNode | undefined;
  readonly onClose: () => void;
}) {
  const { node } = props;
  const [routes] = useLoad('openapi', (signal) => resourceRoutes(signal));
  const [view, setView] = useState<ResourceView>('diff');
  if (!node) return null;
  return (
    <Dialog title={node.id} onClose={props.onClose}>
      <p>
        <Sync value={node.syncStatus} /> <Health value={node.health} />
      </p>
      {node.message === undefined ? null : <p className="message">{node.message}</p>}
      {routes.state === 'loading' ? (
        <Loading what="what the server offers" />
      ) : routes.state === 'failed' ? (
        <Failure error={routes.error} />
      ) : routes.value.size === 0 ? (
        <Empty>This server does not serve manifests or diffs per resource yet.</Empty>
      ) : (
        <>
          <div role="tablist" aria-label="Resource views" className="tabs">
            {[...routes.value.keys()].map((v) => (
              <button
                key={v}
                type="button"
                role="tab"
                aria-selected={view === v}
                onClick={() => {
                  setView(v);
                }}
              >
                {v === 'diff' ? 'Diff' : v === 'live' ? 'Live manifest' : 'Desired manifest'}
              </button>
            ))}
          </div>
          <ResourceText url={routes.value.get(view)?.(props.path, node)} />
        </>
      )}
      <div className="buttons">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

function ResourceText(props: { readonly url: string | undefined }) {
  const url = props.url ?? '';
  const [text, reload] = useLoad(url, (signal) => call<unknown>(url, { signal }));
  if (props.url === undefined) return <Empty>Not served.</Empty>;
  if (text.state === 'loading') return <Loading what="the manifest" />;
  if (text.state === 'failed') return <Failure error={text.error} retry={reload} />;
  return <DiffOrText value={text.value} />;
}

/** A unified diff is shown line by line with +/- marks; anything else as JSON/YAML text. Text only. */
function DiffOrText(props: { readonly value: unknown }) {
  const body = props.value as { diff?: unknown; manifest?: unknown; yaml?: unknown } | undefined;
  const text =
    typeof body?.diff === 'string'
      ? body.diff
      : typeof body?.yaml === 'string'
        ? body.yaml
        : typeof body?.manifest === 'string'
          ? body.manifest
          : JSON.stringify(body?.manifest ?? props.value, null, 2);
  return (
    <pre className="manifest" tabIndex={0} aria-label="Manifest">
      {text.split('\n').map((line, i) => (
        <span
          key={i}
          className={
            line.startsWith('+') && !line.startsWith('+++')
              ? 'add'
              : line.startsWith('-') && !line.startsWith('---')
                ? 'del'
                : undefined
          }
        >
          {line}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}
