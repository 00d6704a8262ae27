// Pipeline runs shown the same way on the runs list and on a Pipeline's page: a table of runs (newest
// first, each linking to its page; the arrow keys, Home and End move between the rows' links) and a
// run's phase as a badge (a word, never colour alone).
import { pipelinePath, runPath } from '../paths.ts';
import type { RunView } from '../types.ts';
import { moveBetweenRows } from './Catalogue.tsx';
import { Link } from './Link.tsx';

const PHASE_CLASS: Readonly<Record<string, string>> = {
  Succeeded: 'health-healthy',
  Running: 'health-progressing',
  Queued: 'health-progressing',
  Pending: 'health-progressing',
  Failed: 'health-degraded',
  Cancelled: 'health-suspended',
  Skipped: 'health-suspended',
};

export function Phase(props: { readonly value: string }) {
  return (
    <span className={`badge ${PHASE_CLASS[props.value] ?? 'health-unknown'}`} data-phase={props.value}>
      {props.value}
    </span>
  );
}

/** The run phases that have ended: nothing more will change. */
export const ENDED_PHASES: readonly string[] = ['Succeeded', 'Failed', 'Cancelled'];

/** A table of runs; `pipeline: false` leaves out the Pipeline column (a Pipeline's own page). */
export function RunTable(props: { readonly runs: readonly RunView[]; readonly pipeline?: boolean }) {
  const withPipeline = props.pipeline !== false;
  return (
    <div className="table-scroll">
      <table className="runs">
        <thead>
          <tr>
            <th scope="col">Run</th>
            {withPipeline ? <th scope="col">Pipeline</th> : null}
            <th scope="col">Phase</th>
            <th scope="col">Commit</th>
            <th scope="col">Trigger</th>
            <th scope="col">Queued</th>
          </tr>
        </thead>
        <tbody onKeyDown={moveBetweenRows}>
          {props.runs.map((run) => (
            <tr key={run.id}>
              <td>
                <Link to={runPath(run.id)}>{run.id}</Link>
              </td>
              {withPipeline ? (
                <td>
                  <Link to={pipelinePath(run.namespace, run.pipeline)}>
                    {run.namespace}/{run.pipeline}
                  </Link>
                </td>
              ) : null}
              <td>
                <Phase value={run.phase} />
              </td>
              <td>
                <code>{run.revision.slice(0, 12)}</code> {run.branch ?? run.tag ?? ''}
              </td>
              <td>
                {run.trigger} by {run.triggeredBy}
              </td>
              <td>{new Date(run.queuedAt).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
