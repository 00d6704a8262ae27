import { Empty } from '../../components/States.tsx';
import { Health, Sync } from '../../components/Status.tsx';
import type { ResourceTree } from '../../types.ts';

/** The managed resources as a table: Kind/namespace/name, sync, health, and what the last sync said. */
export function ResourceList(props: {
  readonly tree: ResourceTree;
  readonly selected: string | undefined;
  readonly onSelect: (id: string) => void;
}) {
  if (props.tree.nodes.length === 0)
    return <Empty>No resources yet: the agent has not synced this application.</Empty>;
  return (
    <div className="table-scroll">
      <table className="resource-table">
        <caption className="visually-hidden">Resources</caption>
        <thead>
          <tr>
            <th scope="col">Resource</th>
            <th scope="col">Sync</th>
            <th scope="col">Health</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {props.tree.nodes.map((node) => (
            <tr key={node.id} aria-selected={props.selected === node.id}>
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
          ))}
        </tbody>
      </table>
    </div>
  );
}
