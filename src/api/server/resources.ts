/**
 * One resource of an Application: its live manifest, its desired manifest (rendered from Git), the
 * diff between them and its Events. Readers of the Application's project may look; the resource must
 * be one the Application manages or renders (else 404), and a Secret's values never leave the server.
 */
import type { FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  ApplicationParamsSchema,
  ResourceDiffSchema,
  ResourceEventsSchema,
  ResourceManifestSchema,
  ResourceQuerySchema,
  type ResourceQuery,
} from '../../contracts/server-api.ts';
import type { Application } from '../../contracts/application.ts';
import type { ResourceViews } from '../../server/resource-views.ts';
import { errors, readable } from './applications.ts';
import { need, type Routes, type ServerApiOptions } from './context.ts';
import type { TSchema } from '@sinclair/typebox';

const RESOURCE = `${API_PREFIX}/applications/:namespace/:name/resource`;

type View = (views: ResourceViews, app: Application, query: ResourceQuery) => Promise<unknown>;

const VIEWS: readonly { path: string; summary: string; schema: TSchema; view: View }[] = [
  {
    path: 'live',
    summary: 'The live manifest of one resource of the Application (a Secret’s values hidden)',
    schema: ResourceManifestSchema,
    view: (views, app, query) => views.live(app, query),
  },
  {
    path: 'desired',
    summary:
      'The desired manifest of one resource, rendered from Git at the synced (default) or target revision',
    schema: ResourceManifestSchema,
    view: (views, app, query) => views.desired(app, query),
  },
  {
    path: 'diff',
    summary: 'What a sync would change in one resource: a unified diff of live and desired',
    schema: ResourceDiffSchema,
    view: (views, app, query) => views.diff(app, query),
  },
  {
    path: 'events',
    summary: 'Kubernetes Events about one resource of the Application',
    schema: ResourceEventsSchema,
    view: (views, app, query) => views.events(app, query),
  },
];

export function resourceRoutes(routes: Routes, options: ServerApiOptions): void {
  for (const { path, summary, schema, view } of VIEWS)
    routes.add(
      {
        method: 'GET',
        url: `${RESOURCE}/${path}`,
        summary,
        tag: 'resources',
        access: 'applications.read',
        params: ApplicationParamsSchema,
        query: ResourceQuerySchema,
        responses: {
          200: { description: path, schema },
          ...errors(400, 401, 403, 404, ...(path === 'live' || path === 'events' ? [] : [502])),
        },
      },
      async (request: FastifyRequest, _reply, caller) => {
        const app = await readable(options, request, need(caller));
        return view(options.resources, app, request.query as ResourceQuery);
      },
    );
}
