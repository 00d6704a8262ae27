// The applications: counts by sync and health, server-side filters and search, a virtualised list that
// shows the first page at once and reads the rest behind it, kept current by the event stream.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { appPath, call, query } from '../api.ts';
import { Link } from '../components/Link.tsx';
import { Empty, Failure } from '../components/States.tsx';
import { Health, Sync } from '../components/Status.tsx';
import { navigate } from '../router.ts';
import { useSession } from '../session.ts';
import { useStream, type StreamEvent } from '../stream.ts';
import { HEALTH_STATES, SYNC_STATES, type ApplicationList, type ApplicationSummary } from '../types.ts';

/** One page size for every page: the server's cursor is bound to the query, its limit included. */
const PAGE = 500;
const ROW_HEIGHT = 44;

export interface Filters {
  readonly project: string;
  /** Set from a cluster's page (no control here: shown, and cleared, above the list). */
  readonly cluster: string;
  readonly sync: string;
  readonly health: string;
  readonly search: string;
}

function filtersOf(search: string): Filters {
  const params = new URLSearchParams(search);
  return {
    project: params.get('project') ?? '',
    cluster: params.get('cluster') ?? '',
    sync: params.get('sync') ?? '',
    health: params.get('health') ?? '',
    search: params.get('search') ?? '',
  };
}

const keyOf = (app: { namespace: string; name: string }) => `${app.namespace}/${app.name}`;

export function ApplicationsPage(props: { readonly search: string }) {
  const filters = filtersOf(props.search);
  const [searchText, setSearchText] = useState(filters.search);
  const setFilter = useCallback((name: keyof Filters, value: string) => {
    const next = { ...filtersOf(window.location.search), [name]: value };
    navigate(`/applications${query({ ...next })}`);
  }, []);
  // The search box asks the server once typing pauses.
  useEffect(() => {
    if (searchText === filters.search) return;
    const timer = setTimeout(() => {
      setFilter('search', searchText);
    }, 150);
    return () => {
      clearTimeout(timer);
    };
  }, [searchText, filters.search, setFilter]);
  // Once the list is up and the browser idle, fetch the application page's code, so opening one is quick.
  useEffect(() => {
    const prefetch = () => {
      void import('./Application.tsx').then(() => import('./application/ResourceGraph.tsx'));
    };
    const handle = window.requestIdleCallback(prefetch, { timeout: 5000 });
    return () => {
      window.cancelIdleCallback(handle);
    };
  }, []);
  const list = useApplications(filters);
  const counts = useCounts(filters, list.changes);
  return (
    <section aria-labelledby="apps-title">
      <div className="page-head">
        <h1 id="apps-title">Applications</h1>
        <p className="muted" aria-live="polite">
          {list.total === undefined ? 'Counting…' : `${list.total.toLocaleString()} shown`}
          {list.complete ? '' : `, ${list.items.length.toLocaleString()} read`}
        </p>
      </div>
      <Counts counts={counts} filters={filters} setFilter={setFilter} />
      <FilterBar
        filters={filters}
        searchText={searchText}
        setSearchText={setSearchText}
        setFilter={setFilter}
      />
      {list.error === undefined ? null : <Failure error={list.error} retry={list.reload} />}
      {list.total === 0 ? (
        <Empty>
          No application matches.{' '}
          {filters.search + filters.sync + filters.health + filters.project + filters.cluster === '' ? (
            'Create one with kubectl or the CLI (capstan app create), and it appears here.'
          ) : (
            <Link to="/applications">Clear the filters</Link>
          )}
        </Empty>
      ) : (
        <VirtualList items={list.items} loading={list.total === undefined} />
      )}
    </section>
  );
}

interface ListState {
  readonly items: readonly ApplicationSummary[];
  readonly total: number | undefined;
  readonly complete: boolean;
  readonly error: unknown;
  readonly changes: number;
  readonly reload: () => void;
}

/** Reads every page for the filters (the first one shows at once), and applies the stream's changes. */
function useApplications(filters: Filters): ListState {
  const [items, setItems] = useState<readonly ApplicationSummary[]>([]);
  const [total, setTotal] = useState<number | undefined>();
  const [complete, setComplete] = useState(false);
  const [error, setError] = useState<unknown>();
  const [generation, setGeneration] = useState(0);
  const [changes, setChanges] = useState(0);
  const filterKey = JSON.stringify(filters);
  useEffect(() => {
    const controller = new AbortController();
    setError(undefined);
    setComplete(false);
    void readAll(filters, controller.signal, (page, first) => {
      setItems((before) => (first ? page.items : [...before, ...page.items]));
      setTotal(page.total);
      if (page.next === undefined) setComplete(true);
    }).catch((failure: unknown) => {
      if (!controller.signal.aborted) setError(failure);
    });
    return () => {
      controller.abort();
    };
  }, [filterKey, generation]);
  const reload = useCallback(() => {
    setGeneration((g) => g + 1);
  }, []);
  const relist = useDebounced(reload, 1000);
  useStream((event: StreamEvent) => {
    setChanges((c) => c + 1);
    if (event.type === 'reset' || event.type === 'added') {
      relist();
      return;
    }
    const key = keyOf(event.application);
    setItems((before) => {
      const at = before.findIndex((row) => keyOf(row) === key);
      if (at < 0) return before;
      const next = [...before];
      if (event.type === 'deleted' || !matches(event.application, filters)) next.splice(at, 1);
      else next[at] = event.application;
      return next;
    });
    if (event.type === 'deleted') setTotal((t) => (t === undefined ? t : Math.max(0, t - 1)));
  });
  return { items, total, complete, error, changes, reload };
}

async function readAll(
  filters: Filters,
  signal: AbortSignal,
  onPage: (page: ApplicationList & { items: ApplicationSummary[] }, first: boolean) => void,
): Promise<void> {
  let cursor: string | undefined;
  let first = true;
  do {
    const page = await call<ApplicationList & { items: ApplicationSummary[] }>(
      `/applications${query({ ...filters, limit: String(PAGE), cursor })}`,
      { signal },
    );
    if (signal.aborted) return;
    onPage(page, first);
    first = false;
    cursor = page.next;
  } while (cursor !== undefined);
}

/** What the client can judge itself of a changed row: the exact-value filters. */
function matches(app: ApplicationSummary, filters: Filters): boolean {
  return (
    (filters.project === '' || app.project === filters.project) &&
    (filters.cluster === '' || app.cluster === filters.cluster) &&
    (filters.sync === '' || app.sync === filters.sync) &&
    (filters.health === '' || app.health === filters.health)
  );
}

function useDebounced(action: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(
    () => () => {
      clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(action, ms);
  }, [action, ms]);
}

type Counts = Readonly<Record<string, number | undefined>>;

/** Counts by sync and by health, from the server (a one-item page per state: its `total`), under the other filters. */
function useCounts(filters: Filters, changes: number): Counts {
  const [counts, setCounts] = useState<Counts>({});
  const [tick, setTick] = useState(0);
  const recount = useDebounced(
    useCallback(() => {
      setTick((t) => t + 1);
    }, []),
    1000,
  );
  useEffect(() => {
    if (changes > 0) recount();
  }, [changes, recount]);
  const base = { project: filters.project, cluster: filters.cluster, search: filters.search, limit: '1' };
  const key = JSON.stringify(base);
  useEffect(() => {
    const controller = new AbortController();
    const ask = (field: 'sync' | 'health', value: string) =>
      call<ApplicationList>(`/applications${query({ ...base, [field]: value })}`, {
        signal: controller.signal,
      }).then((page) => [`${field}:${value}`, page.total] as const);
    Promise.all([
      ...SYNC_STATES.map((s) => ask('sync', s)),
      ...HEALTH_STATES.map((h) => ask('health', h)),
    ]).then(
      (entries) => {
        setCounts(Object.fromEntries(entries));
      },
      () => undefined,
    );
    return () => {
      controller.abort();
    };
  }, [key, tick]);
  return counts;
}

function Counts(props: {
  readonly counts: Counts;
  readonly filters: Filters;
  readonly setFilter: (name: keyof Filters, value: string) => void;
}) {
  const chip = (field: 'sync' | 'health', value: string) => {
    const active = props.filters[field] === value;
    const count = props.counts[`${field}:${value}`];
    return (
      <li key={`${field}:${value}`}>
        <button
          type="button"
          className={`chip ${field}-${value.toLowerCase()}`}
          aria-pressed={active}
          onClick={() => {
            props.setFilter(field, active ? '' : value);
          }}
        >
          {value} <strong>{count === undefined ? '…' : count.toLocaleString()}</strong>
        </button>
      </li>
    );
  };
  return (
    <div className="counts">
      <ul aria-label="By sync status">{SYNC_STATES.map((s) => chip('sync', s))}</ul>
      <ul aria-label="By health">{HEALTH_STATES.map((h) => chip('health', h))}</ul>
    </div>
  );
}

function FilterBar(props: {
  readonly filters: Filters;
  readonly searchText: string;
  readonly setSearchText: (text: string) => void;
  readonly setFilter: (name: keyof Filters, value: string) => void;
}) {
  const { projects } = useSession();
  return (
    <form
      className="filters"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        props.setFilter('search', props.searchText);
      }}
    >
      <label>
        Search
        <input
          type="search"
          placeholder="name, namespace, project, repository, path"
          value={props.searchText}
          onChange={(e) => {
            props.setSearchText(e.target.value);
          }}
        />
      </label>
      {props.filters.cluster === '' ? null : (
        <p className="cluster-filter">
          Cluster <strong>{props.filters.cluster}</strong>{' '}
          <button
            type="button"
            onClick={() => {
              props.setFilter('cluster', '');
            }}
          >
            Show every cluster
          </button>
        </p>
      )}
      <label>
        Project
        <select
          value={props.filters.project}
          onChange={(e) => {
            props.setFilter('project', e.target.value);
          }}
        >
          <option value="">all</option>
          {[...projects.keys()].map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
      </label>
      <label>
        Sync
        <select
          value={props.filters.sync}
          onChange={(e) => {
            props.setFilter('sync', e.target.value);
          }}
        >
          <option value="">all</option>
          {SYNC_STATES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </label>
      <label>
        Health
        <select
          value={props.filters.health}
          onChange={(e) => {
            props.setFilter('health', e.target.value);
          }}
        >
          <option value="">all</option>
          {HEALTH_STATES.map((h) => (
            <option key={h}>{h}</option>
          ))}
        </select>
      </label>
    </form>
  );
}

function VirtualList(props: { readonly items: readonly ApplicationSummary[]; readonly loading: boolean }) {
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: props.items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });
  const rows = virtualizer.getVirtualItems();
  // Arrow keys, Home and End move between rows (each row's link is focusable); Enter opens it.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const at = Number(
      (document.activeElement?.closest('[data-index]') as HTMLElement | null)?.dataset['index'],
    );
    if (Number.isNaN(at)) return;
    const last = props.items.length - 1;
    const to =
      event.key === 'ArrowDown'
        ? Math.min(last, at + 1)
        : event.key === 'ArrowUp'
          ? Math.max(0, at - 1)
          : event.key === 'Home'
            ? 0
            : event.key === 'End'
              ? last
              : undefined;
    if (to === undefined) return;
    event.preventDefault();
    virtualizer.scrollToIndex(to);
    requestAnimationFrame(() => {
      scroller.current?.querySelector<HTMLAnchorElement>(`[data-index="${to}"] a`)?.focus();
    });
  };
  const columns = useMemo(
    () => (
      <div className="app-row head" aria-hidden="true">
        <span>Name</span>
        <span>Project</span>
        <span>Sync</span>
        <span>Health</span>
        <span>Source</span>
        <span>Destination</span>
      </div>
    ),
    [],
  );
  return (
    <div className="app-list">
      {columns}
      <div
        ref={scroller}
        className="app-scroll"
        onKeyDown={onKeyDown}
        role="list"
        aria-label="Applications"
        aria-busy={props.loading}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {rows.map((row) => {
            const app = props.items[row.index];
            if (!app) return null;
            return (
              <div
                key={row.key}
                role="listitem"
                aria-posinset={row.index + 1}
                aria-setsize={props.items.length}
                data-index={row.index}
                className="app-row"
                style={{ transform: `translateY(${row.start}px)`, height: ROW_HEIGHT }}
              >
                <span className="name">
                  <Link to={appPath(app.namespace, app.name)}>
                    {app.name}
                    <span className="muted"> {app.namespace}</span>
                  </Link>
                </span>
                <span>{app.project}</span>
                <span>
                  <Sync value={app.sync} />
                  {app.held ? <span className="badge held">held</span> : null}
                </span>
                <span>
                  <Health value={app.health} />
                </span>
                <span className="source" title={`${app.repoURL} ${app.path}`}>
                  {app.path === '' ? app.repoURL : app.path}
                  {app.revision === undefined ? '' : ` @ ${app.revision.slice(0, 7)}`}
                </span>
                <span>
                  {app.cluster}/{app.destinationNamespace}
                </span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
