// A response taken over for server-sent events: the headers every stream of the API sends, and a
// signal for when the client goes.
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Hijacks `reply` and writes the event stream's head: no caching or transforming on the way, and no
 * buffering by a proxy in front (`x-accel-buffering`), so each event reaches the client as written.
 * The signal is aborted when the client closes the connection.
 */
export function openEventStream(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const gone = new AbortController();
  request.raw.on('close', () => {
    gone.abort();
  });
  return gone.signal;
}
