// The shell: who is logged in (or the login page), the navigation, and the page of the current route.
// The application page, audit and tokens are loaded on demand so that the list comes first; the page
// of the address the app starts at loads while the session is checked.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { call, onUnauthenticated, useCsrfToken } from './api.ts';
import { Link } from './components/Link.tsx';
import { Failure, Loading } from './components/States.tsx';
import { onDemand, OnDemandView } from './on-demand.tsx';
import { LoginPage } from './pages/Login.tsx';
import { ApplicationsPage } from './pages/Applications.tsx';
import { routeOf, useLocation, type Route } from './router.ts';
import { SessionContext, useSession as useSessionOrThrow, type SessionContextValue } from './session.ts';
import type { ProjectInfo, SessionInfo } from './types.ts';

const PAGES = {
  application: onDemand(() => import('./pages/Application.tsx')),
  projects: onDemand(() => import('./pages/Projects.tsx')),
  clusters: onDemand(() => import('./pages/Clusters.tsx')),
  pipelines: onDemand(() => import('./pages/Pipelines.tsx')),
  runs: onDemand(() => import('./pages/Runs.tsx')),
  environments: onDemand(() => import('./pages/Environments.tsx')),
  audit: onDemand(() => import('./pages/Audit.tsx')),
  tokens: onDemand(() => import('./pages/Tokens.tsx')),
};
/** The chunk of each route's page (the applications list is in the main one). */
const CHUNK_OF: Partial<Record<Route['page'], keyof typeof PAGES>> = {
  application: 'application',
  projects: 'projects',
  project: 'projects',
  clusters: 'clusters',
  cluster: 'clusters',
  pipelines: 'pipelines',
  pipeline: 'pipelines',
  runs: 'runs',
  run: 'runs',
  environments: 'environments',
  promotion: 'environments',
  audit: 'audit',
  tokens: 'tokens',
};
const startChunk = CHUNK_OF[routeOf(window.location.pathname).page];
if (startChunk !== undefined) void PAGES[startChunk].preload().catch(() => undefined);

type Who =
  | { readonly state: 'checking' }
  | { readonly state: 'anonymous' }
  | { readonly state: 'failed'; readonly error: unknown }
  | {
      readonly state: 'in';
      readonly session: SessionInfo;
      readonly projects: ReadonlyMap<string, ProjectInfo>;
    };

export function App() {
  const [who, setWho] = useState<Who>({ state: 'checking' });
  const check = useCallback(async () => {
    try {
      // Both at once: the projects are refused with 401 too when there is no session.
      const [session, { items }] = await Promise.all([
        call<SessionInfo>('/session', { quietUnauthenticated: true }),
        call<{ items: ProjectInfo[] }>('/projects', { quietUnauthenticated: true }),
      ]);
      useCsrfToken(session.csrfToken);
      setWho({ state: 'in', session, projects: new Map(items.map((p) => [p.name, p])) });
    } catch (error) {
      const status = (error as { status?: number }).status;
      setWho(status === 401 ? { state: 'anonymous' } : { state: 'failed', error });
    }
  }, []);
  useEffect(() => {
    void check();
    return onUnauthenticated(() => {
      setWho({ state: 'anonymous' });
    });
  }, [check]);
  const logout = useCallback(() => {
    void call('/session', { method: 'DELETE' })
      .catch(() => undefined)
      .then(() => {
        useCsrfToken(undefined);
        setWho({ state: 'anonymous' });
      });
  }, []);
  const context = useMemo<SessionContextValue | undefined>(
    () => (who.state === 'in' ? { session: who.session, projects: who.projects, logout } : undefined),
    [who, logout],
  );

  if (who.state === 'checking') return <Loading what="your session" />;
  if (who.state === 'failed')
    return (
      <main className="page">
        <Failure error={who.error} retry={() => void check()} />
      </main>
    );
  if (who.state === 'anonymous' || !context) return <LoginPage onLoggedIn={() => void check()} />;
  return (
    <SessionContext.Provider value={context}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell() {
  const location = useLocation();
  const route = routeOf(location.pathname);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Header route={route} />
      <main id="main" className="page" tabIndex={-1}>
        <Page route={route} search={location.search} />
      </main>
    </>
  );
}

function Header(props: { readonly route: Route }) {
  const { session, logout } = useSessionOrThrow();
  const page = props.route.page;
  return (
    <header className="top">
      <Link to="/applications" className="brand">
        Capstan
      </Link>
      <nav aria-label="Main">
        <Link to="/applications" current={page === 'applications' || page === 'application'}>
          Applications
        </Link>
        <Link to="/projects" current={page === 'projects' || page === 'project'}>
          Projects
        </Link>
        <Link to="/clusters" current={page === 'clusters' || page === 'cluster'}>
          Clusters
        </Link>
        <Link to="/pipelines" current={page === 'pipelines' || page === 'pipeline'}>
          Pipelines
        </Link>
        <Link to="/runs" current={page === 'runs' || page === 'run'}>
          Pipeline runs
        </Link>
        <Link to="/environments" current={page === 'environments' || page === 'promotion'}>
          Environments
        </Link>
        <Link to="/audit" current={page === 'audit'}>
          Audit trail
        </Link>
        <Link to="/tokens" current={page === 'tokens'}>
          API tokens
        </Link>
      </nav>
      <div className="who">
        <span title={session.groups.length > 0 ? `groups: ${session.groups.join(', ')}` : undefined}>
          {session.user}
          {session.admin ? ' (admin)' : ''}
        </span>
        <button type="button" onClick={logout}>
          Log out
        </button>
      </div>
    </header>
  );
}

function Page(props: { readonly route: Route; readonly search: string }) {
  const { route } = props;
  switch (route.page) {
    case 'applications':
      return <ApplicationsPage search={props.search} />;
    case 'application':
      return (
        <OnDemandView
          module={PAGES.application}
          what="the page"
          render={(page) => (
            <page.default
              key={`${route.namespace}/${route.name}`}
              namespace={route.namespace}
              name={route.name}
            />
          )}
        />
      );
    case 'projects':
      return (
        <OnDemandView module={PAGES.projects} what="the page" render={(page) => <page.ProjectsPage />} />
      );
    case 'project':
      return (
        <OnDemandView
          module={PAGES.projects}
          what="the page"
          render={(page) => <page.ProjectPage key={route.name} name={route.name} />}
        />
      );
    case 'clusters':
      return (
        <OnDemandView module={PAGES.clusters} what="the page" render={(page) => <page.ClustersPage />} />
      );
    case 'cluster':
      return (
        <OnDemandView
          module={PAGES.clusters}
          what="the page"
          render={(page) => <page.ClusterPage key={route.name} name={route.name} />}
        />
      );
    case 'pipelines':
      return (
        <OnDemandView module={PAGES.pipelines} what="the page" render={(page) => <page.PipelinesPage />} />
      );
    case 'pipeline':
      return (
        <OnDemandView
          module={PAGES.pipelines}
          what="the page"
          render={(page) => (
            <page.PipelinePage
              key={`${route.namespace}/${route.name}`}
              namespace={route.namespace}
              name={route.name}
            />
          )}
        />
      );
    case 'runs':
      return (
        <OnDemandView
          module={PAGES.runs}
          what="the page"
          render={(page) => <page.RunsPage search={props.search} />}
        />
      );
    case 'run':
      return (
        <OnDemandView
          module={PAGES.runs}
          what="the page"
          render={(page) => <page.RunPage key={route.id} id={route.id} />}
        />
      );
    case 'environments':
      return (
        <OnDemandView
          module={PAGES.environments}
          what="the page"
          render={(page) => <page.EnvironmentsPage />}
        />
      );
    case 'promotion':
      return (
        <OnDemandView
          module={PAGES.environments}
          what="the page"
          render={(page) => <page.PromotionPage key={route.id} id={route.id} />}
        />
      );
    case 'audit':
      return <OnDemandView module={PAGES.audit} what="the page" render={(page) => <page.default />} />;
    case 'tokens':
      return <OnDemandView module={PAGES.tokens} what="the page" render={(page) => <page.default />} />;
    case 'not-found':
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no page at <code>{route.path}</code>.{' '}
            <Link to="/applications">See the applications</Link>.
          </p>
        </section>
      );
  }
}
