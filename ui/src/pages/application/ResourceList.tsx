// The managed resources as a table: Kind/namespace/name, sync, health, and what the last sync said.
// Above VIRTUAL_ABOVE rows it is virtualised against the window's scroll: a tree of 1,000 resources
// costs the DOM (and the layout) of the rows on screen, and the table keeps its semantics
// (aria-rowcount, aria-rowindex; spacer rows stand in for the rows above and below). Tab reaches the
// rows drawn; the arrow keys, Home and End move between every row (as in the applications list).
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { useLayoutEffect, useRef, useState, type KeyboardEvent, type RefObject } from 'react';
import { Empty } from '../../components/States.tsx';
import { Health, Sync } from '../../components/Status.tsx';
import type { ResourceNode, ResourceTree } from '../../types.ts';

/** A row's height before it is measured (one line of text); a wrapped message makes it taller. */
const ROW_ESTIMATE = 37;
/** Up to this many rows every one is drawn (Tab reaches each); above, only those near the screen. */
const VIRTUAL_ABOVE = 200;

export function ResourceList(props: {
  readonly tree: ResourceTree;
  readonly selected: string | undefined;
  readonly onSelect: (id: string) => void;
}) {
  const { nodes } = props.tree;
  const body = useRef<HTMLTableSectionElement>(null);
  const top = useDocumentTop(body);
  const virtualizer = useWindowVirtualizer({
    count: nodes.length,
    estimateSize: () => ROW_ESTIMATE,
    overscan: nodes.length > VIRTUAL_ABOVE ? 15 : VIRTUAL_ABOVE,
    scrollMargin: top,
    getItemKey: (index) => nodes[index]?.id ?? index,
  });
  if (nodes.length === 0) return <Empty>No resources yet: the agent has not synced this application.</Empty>;
  const rows = virtualizer.getVirtualItems();
  const onKeyDown = (event: KeyboardEvent<HTMLTableSectionElement>) => {
    const to = rowAfterKey(event, nodes.length);
    if (to === undefined) return;
    event.preventDefault();
    virtualizer.scrollToIndex(to);
    requestAnimationFrame(() => {
      body.current?.querySelector<HTMLButtonElement>(`tr[data-index="${String(to)}"] button`)?.focus();
    });
  };
  const above = (rows[0]?.start ?? top) - top;
  const below = virtualizer.getTotalSize() - ((rows.at(-1)?.end ?? top) - top);
  return (
    <div className="table-scroll">
      <table className="resource-table" aria-rowcount={nodes.length + 1}>
        <caption className="visually-hidden">Resources</caption>
        <thead>
          <tr aria-rowindex={1}>
            <th scope="col">Resource</th>
            <th scope="col">Sync</th>
            <th scope="col">Health</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody ref={body} onKeyDown={onKeyDown}>
          {above > 0 ? <Spacer height={above} /> : null}
          {rows.map((row) => {
            const node = nodes[row.index];
            return node === undefined ? null : (
              <Row
                key={row.key}
                node={node}
                index={row.index}
                measure={virtualizer.measureElement}
                selected={props.selected === node.id}
                onSelect={props.onSelect}
              />
            );
          })}
          {below > 0 ? <Spacer height={below} /> : null}
        </tbody>
      </table>
    </div>
  );
}

function Row(props: {
  readonly node: ResourceNode;
  readonly index: number;
  readonly measure: (element: Element | null) => void;
  readonly selected: boolean;
  readonly onSelect: (id: string) => void;
}) {
  const { node } = props;
  return (
    <tr
      ref={props.measure}
      data-index={props.index}
      aria-rowindex={props.index + 2}
      aria-selected={props.selected}
    >
      <td>
        <button
          type="button"
          className="link"
          onClick={() => {
            props.onSelect(node.id);
          }}
        >
          {node.id}
        </button>
      </td>
      <td>
        <Sync value={node.syncStatus} />
      </td>
      <td>
        <Health value={node.health} />
      </td>
      <td className="message">{node.message ?? ''}</td>
    </tr>
  );
}

/** The row an arrow key, Home or End moves to from the focused one; undefined for other keys. */
function rowAfterKey(event: KeyboardEvent<HTMLElement>, count: number): number | undefined {
  const at = Number(
    (document.activeElement?.closest('tr[data-index]') as HTMLElement | null)?.dataset['index'],
  );
  if (Number.isNaN(at)) return undefined;
  const moves: Readonly<Record<string, number>> = {
    ArrowDown: Math.min(count - 1, at + 1),
    ArrowUp: Math.max(0, at - 1),
    Home: 0,
    End: count - 1,
  };
  return moves[event.key];
}

function Spacer(props: { readonly height: number }) {
  return (
    <tr aria-hidden="true" className="spacer">
      <td colSpan={4} style={{ height: props.height }} />
    </tr>
  );
}

/** The element's distance from the top of the document (where the virtualiser's rows begin). */
function useDocumentTop(element: RefObject<HTMLElement | null>): number {
  const [top, setTop] = useState(0);
  useLayoutEffect(() => {
    const measure = () => {
      const box = element.current?.getBoundingClientRect();
      if (box) setTop(box.top + window.scrollY);
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(document.body);
    return () => {
      observer.disconnect();
    };
  }, [element]);
  return top;
}
