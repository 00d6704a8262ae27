// Destination clusters: the agent's own (in-cluster) and the registered ones, each with its API server
// URL, whether its registration is usable (or why not), whether the server reaches it and the Kubernetes
// version it reports (probed at most once a minute), and its Applications. Never a credential: the
// server answers only names, URLs, versions and problems.
import { call } from '../api.ts';
import { ApplicationCount, ApplicationsOf } from '../components/ApplicationsOf.tsx';
import { Link } from '../components/Link.tsx';
import { Empty, Failure, Loading } from '../components/States.tsx';
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

export function ClustersPage() {
  const [clusters, reload] = useClusters();
  return (
    <section aria-labelledby="clusters-title">
      <h1 id="clusters-title">Clusters</h1>
      <p className="muted">
        Where Applications deploy: the cluster the agent runs in, and the clusters registered with{' '}
        <code>capstan cluster add</code>.
      </p>
      {clusters.state === 'loading' ? (
        <Loading what="the clusters" />
      ) : clusters.state === 'failed' ? (
        <Failure error={clusters.error} retry={reload} />
      ) : (
        <div className="table-scroll">
          <table className="clusters">
            <thead>
              <tr>
                <th scope="col">Cluster</th>
                <th scope="col">API server</th>
                <th scope="col">State</th>
                <th scope="col">Kubernetes</th>
                <th scope="col">Applications</th>
              </tr>
            </thead>
            <tbody>
              {clusters.value.map((cluster) => (
                <tr key={cluster.name}>
                  <td>
                    <Link to={clusterPath(cluster.name)}>{cluster.name}</Link>
                  </td>
                  <td className="message">{serverOf(cluster)}</td>
                  <td>
                    <ClusterState cluster={cluster} />
                  </td>
                  <td className="version">{cluster.version ?? '—'}</td>
                  <td>
                    <ApplicationCount filter={{ cluster: cluster.name }} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function ClusterPage(props: { readonly name: string }) {
  const [clusters, reload] = useClusters();
  return (
    <article aria-labelledby="cluster-title">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/clusters">Clusters</Link> /
      </nav>
      <h1 id="cluster-title">{props.name}</h1>
      {clusters.state === 'loading' ? (
        <Loading what={`cluster ${props.name}`} />
      ) : clusters.state === 'failed' ? (
        <Failure error={clusters.error} retry={reload} />
      ) : (
        <ClusterFacts cluster={clusters.value.find((c) => c.name === props.name)} name={props.name} />
      )}
      <ApplicationsOf filter={{ cluster: props.name }} title="Applications deployed to it" />
    </article>
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
