/**
 * The OpenAPI 3.1 document of the server API, generated from the route table (each route's TypeBox
 * schemas, the same ones that validate its requests): what is served is what is described.
 */
import type { TSchema } from '@sinclair/typebox';
import type { RouteDoc } from './context.ts';

/** A schema as plain JSON (TypeBox's symbols and our rule annotations dropped). */
const plain = (schema: TSchema): unknown => JSON.parse(JSON.stringify(schema)) as unknown;

/** `/api/v1/applications/:namespace/:name` → `/api/v1/applications/{namespace}/{name}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');

function parameters(doc: RouteDoc): unknown[] {
  const list: unknown[] = [];
  for (const [where, schema] of [
    ['path', doc.params],
    ['query', doc.query],
  ] as const) {
    if (!schema) continue;
    const properties = (schema['properties'] ?? {}) as Record<string, TSchema>;
    const required = new Set((schema['required'] ?? []) as string[]);
    for (const [name, property] of Object.entries(properties))
      list.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        ...(typeof property['description'] === 'string' ? { description: property['description'] } : {}),
        schema: plain(property),
      });
  }
  return list;
}

function operation(doc: RouteDoc): Record<string, unknown> {
  const secured = doc.access !== 'public';
  return {
    operationId: `${doc.method.toLowerCase()}${openApiPath(doc.url).replace(/[^A-Za-z]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: doc.summary,
    tags: [doc.tag],
    ...(secured
      ? { security: [{ session: [], csrf: [] }, { token: [] }], 'x-capstan-permission': doc.access }
      : { security: [] }),
    parameters: parameters(doc),
    ...(doc.body
      ? {
          requestBody: {
            required: true,
            content: { [doc.bodyType ?? 'application/json']: { schema: plain(doc.body) } },
          },
        }
      : {}),
    responses: Object.fromEntries(
      Object.entries(doc.responses).map(([status, answer]) => [
        status,
        {
          description: answer.description,
          ...(answer.schema
            ? { content: { 'application/json': { schema: plain(answer.schema) } } }
            : answer.type
              ? { content: { [answer.type]: { schema: { type: 'string' } } } }
              : {}),
        },
      ]),
    ),
  };
}

export function openApiDocument(
  docs: readonly RouteDoc[],
  info: { version: string },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const doc of docs) {
    const path = (paths[openApiPath(doc.url)] ??= {});
    path[doc.method.toLowerCase()] = operation(doc);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Capstan server API',
      version: info.version,
      description:
        'Applications, projects, clusters, actions, audit trail and the event stream of Capstan (docs/server.md).',
    },
    components: {
      securitySchemes: {
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'capstan_session',
          description: 'From POST /api/v1/session.',
        },
        csrf: {
          type: 'apiKey',
          in: 'header',
          name: 'X-CSRF-Token',
          description: 'The session’s CSRF token, on unsafe methods.',
        },
        token: { type: 'http', scheme: 'bearer', description: 'An API token (capstan_…).' },
      },
    },
    paths,
  };
}
