// The audit trail, newest first, with the server's filters and paging ("Load more" follows `next`).
import { useState, type SyntheticEvent } from 'react';
import { call, query } from '../api.ts';
import { Empty, Failure, Loading } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import type { AuditEntryInfo, AuditPage as AuditPageBody, AuditQueryParams } from '../types.ts';
import { TableScroll } from '../components/TableScroll.tsx';

type Filters = { [K in 'actor' | 'action' | 'target' | 'result']?: AuditQueryParams[K] | undefined };

export default function AuditPage() {
  const [filters, setFilters] = useState<Filters>({});
  const [draft, setDraft] = useState<Filters>({});
  const [more, setMore] = useState<{ items: AuditEntryInfo[]; next?: string | undefined }>({ items: [] });
  const [moreError, setMoreError] = useState<unknown>();
  const [page, reload] = useLoad(JSON.stringify(filters), (signal) =>
    call<AuditPageBody>(`/audit${query({ ...filters, limit: '100' })}`, { signal }).then((p) => {
      setMore({ items: [], next: p.next });
      return p;
    }),
  );
  const apply = (event: SyntheticEvent) => {
    event.preventDefault();
    setFilters(draft);
  };
  const loadMore = () => {
    if (more.next === undefined) return;
    call<AuditPageBody>(`/audit${query({ ...filters, limit: '100', cursor: more.next })}`).then((p) => {
      setMore({ items: [...more.items, ...p.items], next: p.next });
    }, setMoreError);
  };
  const field = (name: keyof Filters, label: string, placeholder: string) => (
    <label>
      {label}
      <input
        value={draft[name] ?? ''}
        placeholder={placeholder}
        onChange={(e) => {
          setDraft({ ...draft, [name]: e.target.value === '' ? undefined : e.target.value });
        }}
      />
    </label>
  );
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit trail</h1>
      <form className="filters" role="search" onSubmit={apply}>
        {field('actor', 'Actor', 'admin')}
        {field('action', 'Action', 'application. (a prefix ends in a dot)')}
        {field('target', 'Target', 'Application/ns/name')}
        <label>
          Result
          <select
            value={draft.result ?? ''}
            onChange={(e) => {
              const value = e.target.value;
              setDraft({ ...draft, result: value === '' ? undefined : (value as Filters['result']) });
            }}
          >
            <option value="">any</option>
            <option>success</option>
            <option>failure</option>
            <option>denied</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      {page.state === 'loading' ? (
        <Loading what="the audit trail" />
      ) : page.state === 'failed' ? (
        <Failure error={page.error} retry={reload} />
      ) : page.value.items.length === 0 ? (
        <Empty>No entry matches.</Empty>
      ) : (
        <>
          <AuditTable items={[...page.value.items, ...more.items]} />
          {moreError === undefined ? null : <Failure error={moreError} />}
          {more.next === undefined ? null : (
            <button type="button" onClick={loadMore}>
              Load more
            </button>
          )}
        </>
      )}
    </section>
  );
}

function AuditTable(props: { readonly items: readonly AuditEntryInfo[] }) {
  return (
    <TableScroll label="The audit entries">
      <table className="audit">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Result</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {props.items.map((entry) => (
            <tr key={entry.id} className={`result-${entry.result}`}>
              <td>{new Date(entry.time).toLocaleString()}</td>
              <td>
                {entry.actor.name} <span className="muted">({entry.actor.kind})</span>
              </td>
              <td>{entry.action}</td>
              <td>{entry.target}</td>
              <td>{entry.result}</td>
              <td className="message">
                {entry.reason ?? ''}
                {entry.changes === undefined
                  ? ''
                  : ` ${Object.entries(entry.changes)
                      .map(([k, v]) => `${k}=${String(v)}`)
                      .join(', ')}`}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}
