// Follows one promotion through the server's events (GET /api/v1/promotions/{id}/events,
// docs/promotions.md) until it ends: each record as it changes, then the final one. A stream that
// breaks is opened again with Last-Event-ID (the server sends the record only if it changed since).
import type { PromotionView } from '../contracts/promotion-api.ts';
import { CapstanError } from '../core/errors.ts';
import { parseEvent } from './pipeline-client.ts';
import { answer, send, type ServerClient } from './server-client.ts';

/** Streams that may break in a row (no event between) before following gives up. */
const FOLLOW_RETRIES = 5;
const FINAL: ReadonlySet<string> = new Set(['Verified', 'Failed', 'Rejected']);

/** Calls `onChange` with the promotion at once and at each change; answers it once it is final. */
export async function followPromotion(
  client: ServerClient,
  id: string,
  onChange: (promotion: PromotionView) => void,
): Promise<PromotionView> {
  const path = `/api/v1/promotions/${encodeURIComponent(id)}/events`;
  let last: string | undefined;
  let latest: PromotionView | undefined;
  let failures = 0;
  for (;;) {
    const headers = { ...client.headers('GET'), ...(last === undefined ? {} : { 'last-event-id': last }) };
    const response = await send(client.login.server, 'GET', path, { headers });
    if (!response.ok) await answer(response, `GET ${path}`, 'PROMOTION_NOT_FOUND');
    const ended = await readEvents(response, (eventId, promotion) => {
      if (eventId !== undefined) last = eventId;
      latest = promotion;
      failures = 0;
      onChange(promotion);
    }).catch(() => false);
    if (ended && latest !== undefined && FINAL.has(latest.state)) return latest;
    failures += 1;
    if (failures > FOLLOW_RETRIES)
      throw new CapstanError(
        'SERVER_UNREACHABLE',
        `the events of promotion ${id} broke ${String(FOLLOW_RETRIES)} times in a row: run capstan promotion get ${id} --watch again`,
        { retryable: true },
      );
  }
}

/** Reads `promotion` events until `end` (true) or the stream breaks first (false). */
async function readEvents(
  response: Response,
  onPromotion: (id: string | undefined, promotion: PromotionView) => void,
): Promise<boolean> {
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (reader === undefined) return false;
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return false;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      const eventId = /^id: ?(.*)$/m.exec(block)?.[1];
      if (event.type === 'promotion') onPromotion(eventId, JSON.parse(event.data) as PromotionView);
      if (event.type === 'end') {
        await reader.cancel();
        return true;
      }
      end = buffer.indexOf('\n\n');
    }
  }
}
