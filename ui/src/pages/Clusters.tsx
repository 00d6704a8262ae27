// Destination clusters: the agent's own (in-cluster) and the registered ones, each with its API server
// URL, whether its registration is usable (or why not), whether the server reaches it and the Kubernetes
// version it reports (probed at most once a minute), and its Applications. Never a credential: the
// server answers only names, URLs, versions and problems.
import { call } from '../api.ts';
import { ApplicationCount } from '../components/ApplicationsOf.tsx';
import { ItemPage, ItemTable, LoadedView, type Column } from '../components/Catalogue.tsx';
import { Link } from '../components/Link.tsx';
import { Empty } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import { clusterPath, IN_CLUSTER } from '../paths.ts';
import type { ClusterInfo } from '../types.ts';

/** The agent's own cluster is not registered by a Secret: it is always there. */
const OWN: ClusterInfo = { name: IN_CLUSTER };

function useClusters() {
  return useLoad('/clusters', (signal) =>
    call<{ items: ClusterInfo[] }>('/clusters', { signal }).then((answer) => [
      answer.items.find((c) => c.name === IN_CLUSTER) ?? OWN,
      ...answer.items.filter((c) => c.name !== IN_CLUSTER),
    ]),
  );
}

const CLUSTER_COLUMNS: readonly Column<ClusterInfo>[] = [
  { header: 'Cluster', cell: (cluster) => <Link to={clusterPath(cluster.name)}>{cluster.name}</Link> },
  { header: 'API server', className: 'message', cell: (cluster) => serverOf(cluster) },
  { header: 'State', cell: (cluster) => <ClusterState cluster={cluster} /> },
  { header: 'Kubernetes', className: 'version', cell: (cluster) => cluster.version ?? '—' },
  { header: 'Applications', cell: (cluster) => <ApplicationCount filter={{ cluster: cluster.name }} /> },
];

export function ClustersPage() {
  const [clusters, reload] = useClusters();
  return (
    <section aria-labelledby="clusters-title">
      <h1 id="clusters-title">Clusters</h1>
      <p className="muted">
        Where Applications deploy: the cluster the agent runs in, and the clusters registered with{' '}
        <code>capstan cluster add</code>.
      </p>
      <LoadedView loaded={clusters} what="the clusters" retry={reload}>
        {(items) => (
          <ItemTable className="clusters" columns={CLUSTER_COLUMNS} items={items} rowKey={(c) => c.name} />
        )}
      </LoadedView>
    </section>
  );
}

export function ClusterPage(props: { readonly name: string }) {
  const [clusters, reload] = useClusters();
  return (
    <ItemPage
      list={{ to: '/clusters', label: 'Clusters' }}
      titleId="cluster-title"
      name={props.name}
      applications={{ filter: { cluster: props.name }, title: 'Applications deployed to it' }}
    >
      <LoadedView loaded={clusters} what={`cluster ${props.name}`} retry={reload}>
        {(items) => <ClusterFacts cluster={items.find((c) => c.name === props.name)} name={props.name} />}
      </LoadedView>
    </ItemPage>
  );
}

function ClusterFacts(props: { readonly cluster: ClusterInfo | undefined; readonly name: string }) {
  const { cluster } = props;
  if (cluster === undefined)
    return (
      <Empty>
        No cluster named {props.name} is registered: Applications that name it cannot deploy until it is (
        <code>capstan cluster add {props.name} …</code>).
      </Empty>
    );
  return (
    <dl className="facts">
      <dt>API server</dt>
      <dd>{serverOf(cluster)}</dd>
      <dt>State</dt>
      <dd>
        <ClusterState cluster={cluster} />
      </dd>
      <dt>Kubernetes</dt>
      <dd className="version">{cluster.version ?? 'not known (not reached)'}</dd>
      {cluster.checkedAt === undefined ? null : (
        <>
          <dt>Checked</dt>
          <dd>{new Date(cluster.checkedAt).toLocaleString()}</dd>
        </>
      )}
      {cluster.secret === undefined ? null : (
        <>
          <dt>Registered by</dt>
          <dd>
            the Secret <code>{cluster.secret}</code> in the agent’s namespace
          </dd>
        </>
      )}
    </dl>
  );
}

const serverOf = (cluster: ClusterInfo) =>
  cluster.name === IN_CLUSTER ? 'the cluster the agent runs in' : (cluster.server ?? 'not given');

function ClusterState(props: { readonly cluster: ClusterInfo }) {
  const { problem, connection, connectionError } = props.cluster;
  if (problem !== undefined)
    return (
      <span className="cluster-problem" data-state="unusable">
        <span className="badge health-degraded">
          <span aria-hidden="true">✖</span> Not usable
        </span>{' '}
        {problem}
      </span>
    );
  if (connection === 'unreachable')
    return (
      <span className="cluster-problem" data-state="unreachable">
        <span className="badge health-degraded">
          <span aria-hidden="true">✖</span> Unreachable
        </span>{' '}
        {connectionError}
      </span>
    );
  return (
    <span className="badge health-healthy" data-state="usable" data-connection={connection ?? 'unknown'}>
      <span aria-hidden="true">✔</span> {connection === 'connected' ? 'Connected' : 'Usable'}
    </span>
  );
}
