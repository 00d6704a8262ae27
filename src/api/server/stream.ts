/**
 * The event stream (server-sent events): one event per change of an Application the caller may read
 * (`added`, `modified`, `deleted`, the Application's summary), of an Environment (`environment`:
 * `{type, environment}`) and of a promotion (`promotion`: its record) the caller may read
 * (`promotions.read`), `id` numbered per server start (`<epoch>-<seq>`), one sequence for all kinds. A client that reconnects sends `Last-Event-ID` and
 * receives what it missed; when that is no longer kept (or it was another server's), a `reset` event
 * tells it to list again. `follow=false` ends the stream after what was missed (for catching up
 * without holding a connection). Keep-alive comments every `heartbeatMs`.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_PREFIX, ErrorBodySchema } from '../../contracts/server-api.ts';
import { authorize } from '../../server/access.ts';
import type { Change } from '../../server/application-index.ts';
import { need, type Caller, type Routes, type ServerApiOptions } from './context.ts';
import { openEventStream } from './event-stream.ts';

export function streamRoutes(routes: Routes, options: ServerApiOptions): void {
  routes.add(
    {
      method: 'GET',
      url: `${API_PREFIX}/stream`,
      summary:
        'Changes of Applications (added, modified, deleted), Environments (environment) and promotions (promotion) as server-sent events, and reset; resumable with Last-Event-ID',
      tag: 'stream',
      access: 'applications.read',
      query: Type.Object(
        {
          follow: Type.Optional(
            Type.Union([Type.Literal('true'), Type.Literal('false')], {
              description: 'false: end after the missed events. Default true.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      responses: {
        200: {
          description:
            'text/event-stream: added, modified, deleted (data: an Application summary); environment (data: {type, environment}: an Environment as GET /environments shows it); promotion (data: a promotion record); reset',
          type: 'text/event-stream',
        },
        401: { description: 'no session or token', schema: ErrorBodySchema },
      },
    },
    (request, reply, caller) => {
      stream(options, request, reply, need(caller));
      return Promise.resolve(undefined);
    },
  );
}

function stream(
  options: ServerApiOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
): void {
  const index = options.applications;
  const follow = (request.query as { follow?: string }).follow !== 'false';
  const lastId = request.headers['last-event-id'];
  const visible = (change: Change) =>
    change.kind === 'application'
      ? authorize(caller.principal, 'applications.read', change.application.project, options.projects).allowed
      : authorize(caller.principal, 'promotions.read', change.project, options.projects).allowed;
  const send = (text: string) => reply.raw.write(text);
  const event = (change: Change) => {
    if (!visible(change)) return;
    const [name, data] =
      change.kind === 'application'
        ? [change.type, change.application]
        : change.kind === 'environment'
          ? ['environment', { type: change.type, environment: change.data }]
          : ['promotion', change.data];
    send(`id: ${change.id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  openEventStream(request, reply);
  // What the client missed, or a reset; then every change from now on.
  const missed = typeof lastId === 'string' ? index.changesSince(lastId) : [];
  if (missed === 'gone')
    send(
      `id: ${index.currentId()}\nevent: reset\ndata: {"reason":"the changes since Last-Event-ID are no longer kept: list again"}\n\n`,
    );
  else for (const change of missed) event(change);
  if (!follow) {
    reply.raw.end();
    return;
  }
  send(`retry: 2000\n: connected at ${index.currentId()}\n\n`);
  const unsubscribe = index.subscribe(event);
  const heartbeat = setInterval(() => send(': keep-alive\n\n'), options.heartbeatMs ?? 15_000);
  heartbeat.unref();
  request.raw.on('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
  });
}
