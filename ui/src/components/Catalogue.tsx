// What the pages of a catalogue (clusters, projects) share: a table of items with one row each, the
// three states of a load (loading, failed with a retry, ready), and the page of one item (a breadcrumb
// to its list, its name, its facts, its Applications).
import type { ReactNode } from 'react';
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

/** A table of `items`, one row each, in a box that scrolls sideways on a narrow screen. */
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
        <tbody>
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
  readonly applications: { readonly filter: ApplicationFilter; readonly title: string };
  readonly children: ReactNode;
}) {
  return (
    <article aria-labelledby={props.titleId}>
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to={props.list.to}>{props.list.label}</Link> /
      </nav>
      <h1 id={props.titleId}>{props.name}</h1>
      {props.children}
      <ApplicationsOf filter={props.applications.filter} title={props.applications.title} />
    </article>
  );
}
