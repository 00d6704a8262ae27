/** Projects (with the caller's roles), destination clusters (never their credentials), the audit trail. */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  AuditPageSchema,
  AuditQuerySchema,
  ClusterSchema,
  ErrorBodySchema,
  ProjectSchema,
  type AuditPage,
  type AuditQueryParams,
} from '../../contracts/server-api.ts';
import { actionsIn, projectsWith, rolesIn, type ProjectAccess } from '../../server/access.ts';
import { queryDigest } from '../../server/cursor.ts';
import { roleActions } from '../../contracts/project.ts';
import { HttpError, requirePermission, type Caller, type Routes, type ServerApiOptions } from './context.ts';

const error = (description: string) => ({ description, schema: ErrorBodySchema });
const DEFAULT_AUDIT_LIMIT = 100;
const MAX_AUDIT_LIMIT = 1000;

export function directoryRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/projects`,
      summary: 'The projects the caller holds a role in (every one for a global admin)',
      tag: 'projects',
      access: 'authenticated',
      responses: {
        200: { description: 'projects', schema: Type.Object({ items: Type.Array(ProjectSchema) }) },
        401: error('no session or token'),
      },
    },
    (_request, _reply, caller) => {
      const checked = must(caller);
      const { principal } = checked;
      const global = principal.admin && principal.scope === undefined;
      const items = options.projects
        .list()
        .map((project) => projectInfo(project, checked, options.projects))
        .filter((p) => global || p.yourActions.length > 0);
      return Promise.resolve({ items });
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/projects/:name`,
      summary: 'One project and its role bindings',
      tag: 'projects',
      access: 'applications.read',
      params: Type.Object(
        { name: Type.String({ minLength: 1, maxLength: 253 }) },
        { additionalProperties: false },
      ),
      responses: {
        200: { description: 'the project', schema: ProjectSchema },
        401: error('no session or token'),
        403: error('no role in it'),
        404: error('no such project'),
      },
    },
    async (request, _reply, caller) => {
      const { name } = request.params as { name: string };
      const project = options.projects.get(name);
      if (!project) throw new HttpError(404, 'NOT_FOUND', `there is no project '${name}'`);
      const checked = must(caller);
      await requirePermission(options, checked, 'applications.read', name);
      return projectInfo(project, checked, options.projects);
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/clusters`,
      summary: 'Destination clusters: names and API server URLs, never credentials',
      tag: 'clusters',
      access: 'authenticated',
      responses: {
        200: { description: 'clusters', schema: Type.Object({ items: Type.Array(ClusterSchema) }) },
        401: error('no session or token'),
        503: error('the cluster is unavailable'),
      },
    },
    async (_request, _reply, caller) => {
      must(caller);
      return { items: await options.clusters() };
    },
  );
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/audit`,
      summary:
        'The audit trail, newest first: every entry for a global admin, a project’s for its admins (give project=)',
      tag: 'audit',
      access: 'audit.read',
      query: AuditQuerySchema,
      responses: {
        200: { description: 'entries', schema: AuditPageSchema },
        400: error('bad filters or cursor'),
        401: error('no session or token'),
        403: error('audit.read missing'),
        503: error('the store is unavailable'),
      },
    },
    async (request, _reply, caller) => queryAudit(options, request, must(caller)),
  );
}

const must = (caller: Caller | undefined): Caller => {
  if (!caller) throw new HttpError(401, 'UNAUTHENTICATED', 'log in first');
  return caller;
};

function projectInfo(project: ProjectAccess, caller: Caller, directory: ServerApiOptions['projects']) {
  return {
    name: project.name,
    ...(project.description === undefined ? {} : { description: project.description }),
    roles: project.roles.map((r) => ({
      name: r.name,
      ...(r.description === undefined ? {} : { description: r.description }),
      actions: [...roleActions(r)],
      users: [...(r.users ?? [])],
      groups: [...(r.groups ?? [])],
    })),
    yourRoles: rolesIn(caller.principal, project.name, directory),
    yourActions: [...actionsIn(caller.principal, project.name, directory)],
    ...(project.rules === undefined
      ? {}
      : {
          applicationNamespaces: [...project.rules.applicationNamespaces],
          sourceRepos: [...project.rules.sourceRepos],
          destinations: project.rules.destinations.map((d) => ({
            cluster: d.cluster,
            namespace: d.namespace,
          })),
        }),
  };
}

async function queryAudit(
  options: ServerApiOptions,
  request: FastifyRequest,
  caller: Caller,
): Promise<AuditPage> {
  const query = request.query as AuditQueryParams;
  const limit = query.limit === undefined ? DEFAULT_AUDIT_LIMIT : Number(query.limit);
  if (!(limit >= 1 && limit <= MAX_AUDIT_LIMIT))
    throw new HttpError(
      400,
      'INVALID_REQUEST',
      `limit must be from 1 to ${MAX_AUDIT_LIMIT}, not ${query.limit ?? ''}`,
    );
  const allowed = projectsWith(caller.principal, 'audit.read', options.projects);
  if (allowed !== 'all') {
    if (query.project === undefined)
      throw new HttpError(
        403,
        'FORBIDDEN',
        'only a global admin reads the whole audit trail: give project= for a project you administer',
        {
          permission: 'audit.read',
          project: '*',
        },
      );
    await requirePermission(options, caller, 'audit.read', query.project);
  }
  const { cursor, limit: _limit, ...filters } = query;
  const digest = queryDigest({ ...filters, limit, who: caller.principal.name });
  const before = cursor === undefined ? undefined : Number(options.cursors.decode(cursor, digest)[0]);
  const items = await options.store.audit.query({
    ...filters,
    limit: limit + 1,
    ...(before === undefined ? {} : { beforeId: before }),
  });
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((e) => ({ ...e, actor: { ...e.actor } })),
    ...(items.length > limit && last ? { next: options.cursors.encode([String(last.id)], digest) } : {}),
  };
}
