// What the pages of a catalogue (clusters, projects, pipelines) share: a table of items with one row each, the
// three states of a load (loading, failed with a retry, ready), and the page of one item (a breadcrumb
// to its list, its name, its facts, its Applications).
import type { KeyboardEvent, ReactNode } from 'react';
import type { Loaded } from '../hooks.ts';
import { ApplicationsOf, type ApplicationFilter } from './ApplicationsOf.tsx';
import { Link } from './Link.tsx';
import { Failure, Loading } from './States.tsx';

export interface Column<T> {
  readonly header: string;
  /** The class of the header cell (default none). */
  readonly headerClassName?: string;
  /** The class of each row's cell (default none). */
  readonly className?: string;
  readonly cell: (item: T) => ReactNode;
}

/**
 * A table of `items`, one row each, in a box that scrolls sideways on a narrow screen. From a row's
 * link, the arrow keys, Home and End move to the first link of another row (Tab goes through them all).
 */
export function ItemTable<T>(props: {
  readonly className: string;
  readonly columns: readonly Column<T>[];
  readonly items: readonly T[];
  readonly rowKey: (item: T) => string;
}) {
  return (
    <div className="table-scroll">
      <table className={props.className}>
        <thead>
          <tr>
            {props.columns.map((column) => (
              <th key={column.header} scope="col" className={column.headerClassName}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody onKeyDown={moveBetweenRows}>
          {props.items.map((item) => (
            <tr key={props.rowKey(item)}>
              {props.columns.map((column) => (
                <td key={column.header} className={column.className}>
                  {column.cell(item)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const ROW_KEYS: Readonly<Record<string, (at: number, last: number) => number>> = {
  ArrowDown: (at, last) => Math.min(last, at + 1),
  ArrowUp: (at) => Math.max(0, at - 1),
  Home: () => 0,
  End: (_at, last) => last,
};

/** A table body's key handler: from a row's link, the arrow keys, Home and End go to another row's first link. */
export function moveBetweenRows(event: KeyboardEvent<HTMLTableSectionElement>) {
  const move = ROW_KEYS[event.key];
  const row = (event.target as HTMLElement).closest('tr');
  if (move === undefined || row === null || !(event.target instanceof HTMLAnchorElement)) return;
  const rows = [...event.currentTarget.rows];
  const to = rows[move(rows.indexOf(row), rows.length - 1)]?.querySelector('a');
  if (!to) return;
  event.preventDefault();
  to.focus();
}

/** A load's state: "Loading <what>…", its failure (by default with a retry), or `children` of its value. */
export function LoadedView<T>(props: {
  readonly loaded: Loaded<T>;
  readonly what: string;
  readonly retry: () => void;
  readonly failed?: (error: unknown) => ReactNode;
  readonly children: (value: T) => ReactNode;
}) {
  const { loaded } = props;
  if (loaded.state === 'loading') return <Loading what={props.what} />;
  if (loaded.state === 'failed')
    return props.failed ? props.failed(loaded.error) : <Failure error={loaded.error} retry={props.retry} />;
  return <>{props.children(loaded.value)}</>;
}

/** The page of one item of a catalogue: a breadcrumb to the list, its name, its facts, its Applications. */
export function ItemPage(props: {
  readonly list: { readonly to: string; readonly label: string };
  /** The id of the page's title (its accessible name). */
  readonly titleId: string;
  readonly name: string;
  /** Its Applications, listed after its facts (none for an item that has no Applications). */
  readonly applications?: { readonly filter: ApplicationFilter; readonly title: string };
  readonly children: ReactNode;
}) {
  return (
    <article aria-labelledby={props.titleId}>
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to={props.list.to}>{props.list.label}</Link> /
      </nav>
      <h1 id={props.titleId}>{props.name}</h1>
      {props.children}
      {props.applications === undefined ? null : (
        <ApplicationsOf filter={props.applications.filter} title={props.applications.title} />
      )}
    </article>
  );
}
