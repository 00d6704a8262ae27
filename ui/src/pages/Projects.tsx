// Projects: the ones the caller holds a role in (every one for a global admin), and one project's page:
// who may do what (its roles), what its Applications may use and where they may deploy, and its
// Applications. Patterns and repository URLs are shown as text, never as links.
import { ApiError, call } from '../api.ts';
import { ApplicationCount, ApplicationsOf } from '../components/ApplicationsOf.tsx';
import { Link } from '../components/Link.tsx';
import { Empty, Failure, Loading } from '../components/States.tsx';
import { useLoad } from '../hooks.ts';
import { useSession } from '../session.ts';
import type { ProjectInfo } from '../types.ts';
import { clusterPath, projectPath } from '../paths.ts';

/** The project an Application that names none belongs to (it may exist as an object, or not). */
const DEFAULT_PROJECT = 'default';

/** The caller's roles in a project; a global admin may hold none and still do everything. */
const rolesText = (project: ProjectInfo, admin: boolean) =>
  project.yourRoles.length > 0 ? project.yourRoles.join(', ') : admin ? 'none (global admin)' : 'none';

export function ProjectsPage() {
  const { session } = useSession();
  const [projects, reload] = useLoad('/projects', (signal) =>
    call<{ items: ProjectInfo[] }>('/projects', { signal }),
  );
  return (
    <section aria-labelledby="projects-title">
      <h1 id="projects-title">Projects</h1>
      <p className="muted">
        Who may do what with which Applications. You see the projects you hold a role in.
      </p>
      {projects.state === 'loading' ? (
        <Loading what="the projects" />
      ) : projects.state === 'failed' ? (
        <Failure error={projects.error} retry={reload} />
      ) : projects.value.items.length === 0 ? (
        <Empty>
          No project you hold a role in. Applications that name none belong to the project{' '}
          <Link to={projectPath(DEFAULT_PROJECT)}>{DEFAULT_PROJECT}</Link>.
        </Empty>
      ) : (
        <div className="table-scroll">
          <table className="projects">
            <thead>
              <tr>
                <th scope="col">Project</th>
                <th scope="col" className="description">
                  Description
                </th>
                <th scope="col">Your roles</th>
                <th scope="col">Applications</th>
              </tr>
            </thead>
            <tbody>
              {projects.value.items.map((project) => (
                <tr key={project.name}>
                  <td>
                    <Link to={projectPath(project.name)}>{project.name}</Link>
                  </td>
                  <td className="description">{project.description ?? ''}</td>
                  <td>{rolesText(project, session.admin && session.scope === undefined)}</td>
                  <td>
                    <ApplicationCount filter={{ project: project.name }} />
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

export function ProjectPage(props: { readonly name: string }) {
  const path = `/projects/${encodeURIComponent(props.name)}`;
  const [project, reload] = useLoad(path, (signal) => call<ProjectInfo>(path, { signal }));
  return (
    <article aria-labelledby="project-title">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/projects">Projects</Link> /
      </nav>
      <h1 id="project-title">{props.name}</h1>
      {project.state === 'loading' ? (
        <Loading what={`project ${props.name}`} />
      ) : project.state === 'failed' ? (
        <Missing name={props.name} error={project.error} retry={reload} />
      ) : (
        <ProjectFacts project={project.value} />
      )}
      <ApplicationsOf filter={{ project: props.name }} title="Applications" />
    </article>
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

function Destinations(props: { readonly destinations: NonNullable<ProjectInfo['destinations']> }) {
  return (
    <section aria-labelledby="destinations-title">
      <h2 id="destinations-title">Destinations</h2>
      {props.destinations.length === 0 ? (
        <Empty>None: the project only groups Applications for people; they may deploy nowhere.</Empty>
      ) : (
        <div className="table-scroll">
          <table className="destinations">
            <thead>
              <tr>
                <th scope="col">Cluster</th>
                <th scope="col">Namespace</th>
              </tr>
            </thead>
            <tbody>
              {props.destinations.map((d) => (
                <tr key={`${d.cluster} ${d.namespace}`}>
                  <td>
                    {/[*?[]/.test(d.cluster) ? (
                      <code>{d.cluster}</code>
                    ) : (
                      <Link to={clusterPath(d.cluster)}>{d.cluster}</Link>
                    )}
                  </td>
                  <td>
                    <code>{d.namespace}</code>
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

function Roles(props: { readonly roles: ProjectInfo['roles'] }) {
  return (
    <section aria-labelledby="roles-title">
      <h2 id="roles-title">Roles</h2>
      {props.roles.length === 0 ? (
        <Empty>No role: only global admins act in this project.</Empty>
      ) : (
        <div className="table-scroll">
          <table className="roles">
            <thead>
              <tr>
                <th scope="col">Role</th>
                <th scope="col">Actions</th>
                <th scope="col">Users</th>
                <th scope="col">Groups</th>
              </tr>
            </thead>
            <tbody>
              {props.roles.map((role) => (
                <tr key={role.name}>
                  <td>
                    {role.name}
                    {role.description === undefined ? null : <div className="muted">{role.description}</div>}
                  </td>
                  <td>{role.actions.join(', ')}</td>
                  <td>{role.users.join(', ')}</td>
                  <td>{role.groups.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
