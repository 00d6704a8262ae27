import { call } from '../../api.ts';
import { Empty, Failure, Loading } from '../../components/States.tsx';
import { useLoad } from '../../hooks.ts';
import type { EventInfo } from '../../types.ts';
import { TableScroll } from '../../components/TableScroll.tsx';

export function EventsTab(props: { readonly path: string }) {
  const [events, reload] = useLoad(`${props.path}/events`, (signal) =>
    call<{ items: EventInfo[] }>(`${props.path}/events`, { signal }),
  );
  if (events.state === 'loading') return <Loading what="the events" />;
  if (events.state === 'failed') return <Failure error={events.error} retry={reload} />;
  if (events.value.items.length === 0) return <Empty>No Kubernetes Events about this application.</Empty>;
  return (
    <TableScroll label="The Events">
      <table>
        <thead>
          <tr>
            <th scope="col">Last seen</th>
            <th scope="col">Type</th>
            <th scope="col">Reason</th>
            <th scope="col">Message</th>
            <th scope="col">Count</th>
          </tr>
        </thead>
        <tbody>
          {[...events.value.items].reverse().map((e, i) => (
            <tr
              key={`${e.lastTime ?? ''}-${String(i)}`}
              className={e.type === 'Warning' ? 'warning' : undefined}
            >
              <td>{e.lastTime === undefined ? '' : new Date(e.lastTime).toLocaleString()}</td>
              <td>{e.type}</td>
              <td>{e.reason}</td>
              <td className="message">{e.message}</td>
              <td>{e.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}
