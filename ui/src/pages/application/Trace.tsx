// The road of the application's workloads (GET …/trace): the configuration commits synced, each image
// its Pods run with the pipeline run that built it (by digest) and that run's code commit, and what the
// records could not join, said plainly.
import { call } from '../../api.ts';
import { Link } from '../../components/Link.tsx';
import { Empty, Failure, Loading } from '../../components/States.tsx';
import { useLoad } from '../../hooks.ts';
import { runPath } from '../../paths.ts';
import type { Trace } from '../../types.ts';
import { TableScroll } from '../../components/TableScroll.tsx';
import { shortRevision } from '../../revision.ts';

export function TraceTab(props: { readonly path: string }) {
  const url = `${props.path}/trace`;
  const [trace, reload] = useLoad(url, (signal) => call<Trace>(url, { signal }));
  if (trace.state === 'loading') return <Loading what="the trace" />;
  if (trace.state === 'failed') return <Failure error={trace.error} retry={reload} />;
  const { syncs, images, missing } = trace.value;
  return (
    <div className="trace">
      <h2>Images running, and the runs that built them</h2>
      {images.length === 0 ? (
        <Empty>No Pod of its workloads runs an image.</Empty>
      ) : (
        <TableScroll label="The images its Pods run">
          <table className="trace-images">
            <thead>
              <tr>
                <th scope="col">Image</th>
                <th scope="col">Built by</th>
                <th scope="col">Code commit</th>
                <th scope="col">Pods</th>
              </tr>
            </thead>
            <tbody>
              {images.map((entry) => (
                <tr key={`${entry.image}|${entry.digest ?? ''}`}>
                  <td>
                    <code>{entry.image}</code>
                    {entry.digest === undefined || entry.image.includes(entry.digest) ? null : (
                      <div className="muted">
                        <code>{entry.digest}</code>
                      </div>
                    )}
                  </td>
                  <td>
                    {entry.run === undefined ? (
                      'no recorded run'
                    ) : (
                      <Link to={runPath(entry.run.id)}>
                        {entry.run.namespace}/{entry.run.pipeline} {entry.run.id}
                      </Link>
                    )}
                  </td>
                  <td>
                    {entry.run === undefined ? '' : <code>{entry.run.revision.slice(0, 12)}</code>}{' '}
                    {entry.run?.branch ?? ''}
                  </td>
                  <td className="message">{entry.pods.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <h2>Configuration commits synced</h2>
      {syncs.length === 0 ? (
        <Empty>It has not synced yet.</Empty>
      ) : (
        <ol className="trace-syncs">
          {syncs.map((s, i) => (
            <li key={`${s.revision}-${String(i)}`}>
              <code>{shortRevision(s.revision)}</code> {s.result} {s.message ?? ''}{' '}
              {s.author === undefined ? '' : `(${s.author})`}
            </li>
          ))}
        </ol>
      )}
      {missing.length === 0 ? null : (
        <>
          <h2>Not joined</h2>
          <ul className="trace-missing">
            {missing.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
