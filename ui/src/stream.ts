// The server's event stream (GET /api/v1/stream), one EventSource for the whole app. The browser
// reconnects by itself and sends Last-Event-ID, so the server replays what was missed; `reset` means
// that is gone and lists must be read again. Applications' changes go to useStream's listeners,
// Environments' and promotions' to usePromotionStream's (docs/promotions.md).
import { useEffect, useRef } from 'react';
import { API } from './api.ts';
import type { ApplicationSummary, EnvironmentInfo, PromotionView } from './types.ts';

export type StreamEvent =
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly application: ApplicationSummary }
  | { readonly type: 'reset' };

export type PromotionStreamEvent =
  | {
      readonly type: 'environment';
      readonly change: 'added' | 'modified' | 'deleted';
      readonly environment: EnvironmentInfo;
    }
  | { readonly type: 'promotion'; readonly promotion: PromotionView }
  | { readonly type: 'reset' };

type Listener = (event: StreamEvent) => void;
type PromotionListener = (event: PromotionStreamEvent) => void;
const listeners = new Set<Listener>();
const promotionListeners = new Set<PromotionListener>();
let source: EventSource | undefined;

function open(): void {
  if (source) return;
  source = new EventSource(`${API}/stream`, { withCredentials: true });
  for (const type of ['added', 'modified', 'deleted'] as const)
    source.addEventListener(type, (message: MessageEvent<string>) => {
      const application = JSON.parse(message.data) as ApplicationSummary;
      for (const listener of listeners) listener({ type, application });
    });
  source.addEventListener('environment', (message: MessageEvent<string>) => {
    const data = JSON.parse(message.data) as {
      type: 'added' | 'modified' | 'deleted';
      environment: EnvironmentInfo;
    };
    for (const listener of promotionListeners)
      listener({ type: 'environment', change: data.type, environment: data.environment });
  });
  source.addEventListener('promotion', (message: MessageEvent<string>) => {
    const promotion = JSON.parse(message.data) as PromotionView;
    for (const listener of promotionListeners) listener({ type: 'promotion', promotion });
  });
  source.addEventListener('reset', () => {
    for (const listener of listeners) listener({ type: 'reset' });
    for (const listener of promotionListeners) listener({ type: 'reset' });
  });
}

function close(): void {
  source?.close();
  source = undefined;
}

/** Keeps `listener` in `set` while the component is mounted (its latest version called), the stream open. */
function useListener<E>(set: Set<(event: E) => void>, listener: (event: E) => void): void {
  const current = useRef(listener);
  current.current = listener;
  useEffect(() => {
    const forward = (event: E) => {
      current.current(event);
    };
    set.add(forward);
    open();
    return () => {
      set.delete(forward);
      if (listeners.size === 0 && promotionListeners.size === 0) close();
    };
  }, [set]);
}

/** Calls `listener` for every change of an Application while the component is mounted. */
export function useStream(listener: Listener): void {
  useListener(listeners, listener);
}

/** Calls `listener` for every change of an Environment or a promotion while the component is mounted. */
export function usePromotionStream(listener: PromotionListener): void {
  useListener(promotionListeners, listener);
}
