// The Applications of one project or one cluster: the first page of them as a table, and a link to the
// whole filtered list. The filter runs on the server, as on the applications page.
import { appPath, call, query } from '../api.ts';
import { useLoad } from '../hooks.ts';
import type { ApplicationList, ApplicationSummary } from '../types.ts';
import { Link } from './Link.tsx';
import { Empty, Failure, Loading } from './States.tsx';
import { Health, Sync } from './Status.tsx';

/** A page of the list in its default (summary) view. */
type SummaryPage = Omit<ApplicationList, 'items'> & { readonly items: readonly ApplicationSummary[] };

/** Rows shown here; the applications page shows every one. */
const FIRST = 50;

export type ApplicationFilter = { readonly project: string } | { readonly cluster: string };

/** The number of Applications matching the filter (a one-row page: its total). */
export function useApplicationCount(filter: ApplicationFilter) {
  const path = `/applications${query({ ...filter, limit: '1' })}`;
  const [count] = useLoad(path, (signal) => call<ApplicationList>(path, { signal }).then((p) => p.total));
  return count;
}

export function ApplicationCount(props: { readonly filter: ApplicationFilter }) {
  const count = useApplicationCount(props.filter);
  if (count.state === 'loading') return <span className="muted">…</span>;
  if (count.state === 'failed') return <span className="muted">unknown</span>;
  return <>{count.value.toLocaleString()}</>;
}

export function ApplicationsOf(props: { readonly filter: ApplicationFilter; readonly title: string }) {
  const path = `/applications${query({ ...props.filter, limit: String(FIRST) })}`;
  const [page, reload] = useLoad(path, (signal) => call<SummaryPage>(path, { signal }));
  const everyOne = `/applications${query({ ...props.filter })}`;
  return (
    <section aria-labelledby="applications-of">
      <h2 id="applications-of">
        {props.title}
        {page.state === 'ready' ? ` (${page.value.total.toLocaleString()})` : ''}
      </h2>
      {page.state === 'loading' ? (
        <Loading what="the applications" />
      ) : page.state === 'failed' ? (
        <Failure error={page.error} retry={reload} />
      ) : page.value.items.length === 0 ? (
        <Empty>No application, or none you may view.</Empty>
      ) : (
        <>
          <div className="table-scroll">
            <table className="applications-of">
              <thead>
                <tr>
                  <th scope="col">Application</th>
                  <th scope="col">Sync</th>
                  <th scope="col">Health</th>
                  <th scope="col">Destination</th>
                </tr>
              </thead>
              <tbody>
                {page.value.items.map((app) => (
                  <tr key={`${app.namespace}/${app.name}`}>
                    <td>
                      <Link to={appPath(app.namespace, app.name)}>
                        {app.name} <span className="muted">{app.namespace}</span>
                      </Link>
                    </td>
                    <td>
                      <Sync value={app.sync} />
                    </td>
                    <td>
                      <Health value={app.health} />
                    </td>
                    <td>
                      {app.cluster}/{app.destinationNamespace}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.value.total > page.value.items.length ? (
            <p>
              {`The first ${page.value.items.length.toLocaleString()} of ${page.value.total.toLocaleString()}: `}
              <Link to={everyOne}>see every one in the applications list</Link>.
            </p>
          ) : null}
        </>
      )}
    </section>
  );
}
