// Projects: the ones the caller holds a role in (every one for a global admin), and one project's page:
// who may do what (its roles), what its Applications may use and where they may deploy, and its
// Applications. Patterns and repository URLs are shown as text, never as links.
import { ApiError, call } from '../api.ts';
import { ApplicationCount } from '../components/ApplicationsOf.tsx';
import { ItemPage, ItemTable, LoadedView, type Column } from '../components/Catalogue.tsx';
import { Link } from '../components/Link.tsx';
import { Empty, Failure } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import { useSession } from '../session.ts';
import type { ProjectInfo } from '../types.ts';
import { clusterPath, projectPath } from '../paths.ts';

/** The project an Application that names none belongs to (it may exist as an object, or not). */
const DEFAULT_PROJECT = 'default';

/** The caller's roles in a project; a global admin may hold none and still do everything. */
const rolesText = (project: ProjectInfo, admin: boolean) =>
  project.yourRoles.length > 0 ? project.yourRoles.join(', ') : admin ? 'none (global admin)' : 'none';

const projectColumns = (admin: boolean): readonly Column<ProjectInfo>[] => [
  { header: 'Project', cell: (project) => <Link to={projectPath(project.name)}>{project.name}</Link> },
  {
    header: 'Description',
    headerClassName: 'description',
    className: 'description',
    cell: (project) => project.description ?? '',
  },
  { header: 'Your roles', cell: (project) => rolesText(project, admin) },
  { header: 'Applications', cell: (project) => <ApplicationCount filter={{ project: project.name }} /> },
];

export function ProjectsPage() {
  const { session } = useSession();
  const [projects, reload] = useLoad('/projects', (signal) =>
    call<{ items: ProjectInfo[] }>('/projects', { signal }),
  );
  const columns = projectColumns(session.admin && session.scope === undefined);
  return (
    <section aria-labelledby="projects-title">
      <h1 id="projects-title">Projects</h1>
      <p className="muted">
        Who may do what with which Applications. You see the projects you hold a role in.
      </p>
      <LoadedView loaded={projects} what="the projects" retry={reload}>
        {({ items }) =>
          items.length === 0 ? (
            <Empty>
              No project you hold a role in. Applications that name none belong to the project{' '}
              <Link to={projectPath(DEFAULT_PROJECT)}>{DEFAULT_PROJECT}</Link>.
            </Empty>
          ) : (
            <ItemTable className="projects" columns={columns} items={items} rowKey={(p) => p.name} />
          )
        }
      </LoadedView>
    </section>
  );
}

export function ProjectPage(props: { readonly name: string }) {
  const path = `/projects/${encodeURIComponent(props.name)}`;
  const [project, reload] = useLoad(path, (signal) => call<ProjectInfo>(path, { signal }));
  return (
    <ItemPage
      list={{ to: '/projects', label: 'Projects' }}
      titleId="project-title"
      name={props.name}
      applications={{ filter: { project: props.name }, title: 'Applications' }}
    >
      <LoadedView
        loaded={project}
        what={`project ${props.name}`}
        retry={reload}
        failed={(error) => <Missing name={props.name} error={error} retry={reload} />}
      >
        {(value) => <ProjectFacts project={value} />}
      </LoadedView>
    </ItemPage>
  );
}

/** A missing `default` project is normal: its built-in rules apply. Any other failure is shown as is. */
function Missing(props: { readonly name: string; readonly error: unknown; readonly retry: () => void }) {
  if (props.name === DEFAULT_PROJECT && props.error instanceof ApiError && props.error.status === 404)
    return (
      <p className="state empty">
        There is no Project object named {DEFAULT_PROJECT}: its Applications may use any repository and deploy
        only to their own namespace on the agent’s cluster, and Kubernetes RBAC on the Application objects
        decides who may act on them.
      </p>
    );
  return <Failure error={props.error} retry={props.retry} />;
}

function ProjectFacts(props: { readonly project: ProjectInfo }) {
  const { project } = props;
  const { session } = useSession();
  return (
    <>
      {project.description === undefined ? null : <p>{project.description}</p>}
      <dl className="facts">
        <dt>Your roles</dt>
        <dd>{rolesText(project, session.admin && session.scope === undefined)}</dd>
        <dt>You may</dt>
        <dd>{project.yourActions.length === 0 ? 'nothing' : project.yourActions.join(', ')}</dd>
        {project.applicationNamespaces === undefined ? null : (
          <>
            <dt>Application namespaces</dt>
            <dd>
              <Patterns values={project.applicationNamespaces} none="none" />
            </dd>
          </>
        )}
        {project.sourceRepos === undefined ? null : (
          <>
            <dt>Source repositories</dt>
            <dd>
              <Patterns values={project.sourceRepos} none="none" />
            </dd>
          </>
        )}
      </dl>
      {project.destinations === undefined ? null : <Destinations destinations={project.destinations} />}
      <Roles roles={project.roles} />
    </>
  );
}

function Patterns(props: { readonly values: readonly string[]; readonly none: string }) {
  if (props.values.length === 0) return <>{props.none}</>;
  return (
    <ul className="patterns">
      {props.values.map((value) => (
        <li key={value}>
          <code>{value}</code>
        </li>
      ))}
    </ul>
  );
}

const DESTINATION_COLUMNS: readonly Column<NonNullable<ProjectInfo['destinations']>[number]>[] = [
  {
    header: 'Cluster',
    cell: (d) =>
      /[*?[]/.test(d.cluster) ? (
        <code>{d.cluster}</code>
      ) : (
        <Link to={clusterPath(d.cluster)}>{d.cluster}</Link>
      ),
  },
  { header: 'Namespace', cell: (d) => <code>{d.namespace}</code> },
];

function Destinations(props: { readonly destinations: NonNullable<ProjectInfo['destinations']> }) {
  return (
    <section aria-labelledby="destinations-title">
      <h2 id="destinations-title">Destinations</h2>
      {props.destinations.length === 0 ? (
        <Empty>None: the project only groups Applications for people; they may deploy nowhere.</Empty>
      ) : (
        <ItemTable
          className="destinations"
          columns={DESTINATION_COLUMNS}
          items={props.destinations}
          rowKey={(d) => `${d.cluster} ${d.namespace}`}
        />
      )}
    </section>
  );
}

const ROLE_COLUMNS: readonly Column<ProjectInfo['roles'][number]>[] = [
  {
    header: 'Role',
    cell: (role) => (
      <>
        {role.name}
        {role.description === undefined ? null : <div className="muted">{role.description}</div>}
      </>
    ),
  },
  { header: 'Actions', cell: (role) => role.actions.join(', ') },
  { header: 'Users', cell: (role) => role.users.join(', ') },
  { header: 'Groups', cell: (role) => role.groups.join(', ') },
];

function Roles(props: { readonly roles: ProjectInfo['roles'] }) {
  return (
    <section aria-labelledby="roles-title">
      <h2 id="roles-title">Roles</h2>
      {props.roles.length === 0 ? (
        <Empty>No role: only global admins act in this project.</Empty>
      ) : (
        <ItemTable
          className="roles"
          columns={ROLE_COLUMNS}
          items={props.roles}
          rowKey={(role) => role.name}
        />
      )}
    </section>
  );
}
